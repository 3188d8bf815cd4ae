"""The request and result values exchanged with ``SeedreamClient`` (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResponseFormat = Literal["b64_json", "url"]


@dataclass(frozen=True)
class GenerationRequest:
    """One call to ``POST /images/generations``; ``None`` fields are not sent.

    ``images`` are data URIs built by ``images.validate_reference_image`` (or public
    URLs). Check the fields first with ``images.validate_generation_params``: this
    class sends what it is given.
    """

    prompt: str
    model: str
    images: tuple[str, ...] = field(default=(), repr=False)  # whole images: keep out of logs
    size: str | None = None
    seed: int | None = None
    guidance_scale: float | None = None
    watermark: bool | None = None
    max_images: int | None = None
    response_format: ResponseFormat = "b64_json"

    def to_body(self, *, stream: bool = False) -> dict[str, Any]:
        """Build the JSON body with the API's field names."""
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "response_format": self.response_format,
        }
        if self.images:
            # The API takes a string or an array; SeedEdit documents exactly one string.
            body["image"] = self.images[0] if len(self.images) == 1 else list(self.images)
        optional = {
            "size": self.size,
            "seed": self.seed,
            "guidance_scale": self.guidance_scale,
            "watermark": self.watermark,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        if self.max_images is not None:
            # The only way to ask for several images; the model may return fewer.
            body["sequential_image_generation"] = "auto"
            body["sequential_image_generation_options"] = {"max_images": self.max_images}
        if stream:
            body["stream"] = True
        return body


@dataclass(frozen=True)
class GeneratedImage:
    """One entry of ``data[]``: the image bytes, or the error of a failed group item."""

    index: int
    data: bytes | None = field(default=None, repr=False)
    size: str | None = None  # "WxH" as the API reports it, else read from the bytes
    format: str | None = None  # "jpeg" or "png", sniffed from the bytes
    error: dict[str, str] | None = None  # {"code": ..., "message": ...}

    @property
    def is_ok(self) -> bool:
        """Tell whether the image was generated and its bytes are here."""
        return self.data is not None


@dataclass(frozen=True)
class GenerationResult:
    """A whole non-streaming answer."""

    model: str
    created: int
    usage: dict[str, Any]
    items: list[GeneratedImage]


@dataclass(frozen=True)
class StreamEvent:
    """One streamed event: an image (success or failure), then one ``completed``."""

    kind: Literal["image", "completed"]
    model: str
    created: int
    image: GeneratedImage | None = None  # set when kind == "image"
    usage: dict[str, Any] | None = None  # set when kind == "completed"
