"""Check reference images and generation parameters before any quota is spent.

Limits come from ``shared/reference/seedream-api.md`` §4-§5; the per-family tables
live in ``app.seedream.models``. Images are sniffed by content with Pillow: a
filename or a Content-Type says nothing about the bytes.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from app.errors import InvalidField
from app.seedream.models import FORMATS_4X, MAX_GROUP_TOTAL, ModelRules, rules_for

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 15  # "width and height > 14 px"
MAX_IMAGE_PIXELS = 6000 * 6000  # "total pixels <= 6000x6000"
SEED_RANGE = (-1, 2**31 - 1)
GUIDANCE_RANGE = (1.0, 10.0)

# Pillow format id -> data-URI subtype. MPO is how Pillow names the multi-picture JPEGs
# that phones and cameras write; on the wire they are plain JPEG.
_PIL_FORMATS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tiff",
    "GIF": "gif",
}
# Only these plugins ever parse untrusted bytes: fewer decoders, less attack surface.
# (MPO has no opener of its own: the JPEG plugin returns it.)
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
assert {_PIL_FORMATS[pil] for pil in _OPEN_FORMATS} == FORMATS_4X
_ACCEPTED_NAMES = "JPEG, PNG, WebP, BMP, TIFF or GIF"
_TIER = re.compile(r"\d+K")
_PIXELS = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True)
class ReferenceImage:
    """A validated reference image, ready to send as ``image``."""

    data_uri: str = field(repr=False)  # never in logs or reprs: it is the whole image
    format: str  # lowercase data-URI subtype: "jpeg", "png", ...
    width: int
    height: int


def sniff_image(data: bytes) -> tuple[str, int, int] | None:
    """Return ``(format, width, height)`` read from the header, or ``None`` if unknown."""
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
            return _PIL_FORMATS[im.format or ""], im.width, im.height
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None


def validate_reference_image(
    data: bytes, field: str, *, model: str | None = None
) -> ReferenceImage:
    """Check one reference image against the API limits and build its data URI.

    ``model`` narrows the checks to its family (SeedEdit takes only JPEG and PNG with a
    ratio within 1/3..3); without it the Seedream 4.x limits apply. Raises
    ``InvalidField`` naming ``field``.
    """
    rules = rules_for(model or "")
    if model is not None and rules.max_images == 0:
        raise InvalidField(
            field, f"model '{model}' takes no reference images", code="images_not_supported"
        )
    if not data:
        raise InvalidField(field, "the image is empty", code="invalid_image")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidField(
            field,
            f"the image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} (10 MB)",
            code="image_too_large",
        )
    fmt, width, height = _open_checked(data, field)
    if fmt not in rules.image_formats:
        accepted = ", ".join(sorted(rules.image_formats))
        raise InvalidField(
            field,
            f"{fmt} images are not accepted by {rules.family}; use one of: {accepted}",
            code="unsupported_image_format",
        )
    _check_dimensions(width, height, rules, field)
    uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
    return ReferenceImage(data_uri=uri, format=fmt, width=width, height=height)


def _open_checked(data: bytes, field: str) -> tuple[str, int, int]:
    """Sniff the format and size from the header, then run Pillow's integrity check.

    No full decode: it would cost up to ~150 MB and a CPU burst that stalls a gevent
    worker, and the upstream rejects corrupt pixel data itself (InvalidImageURL).
    """
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
            fmt, width, height = _PIL_FORMATS[im.format or ""], im.width, im.height
            if width * height <= MAX_IMAGE_PIXELS:
                im.verify()  # checks chunk CRCs for PNG; cheap for the other formats
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses (or, with warnings as errors, warns about) > 89M pixels.
        raise InvalidField(
            field, f"the image has too many pixels ({exc})", code="image_dimensions"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidField(
            field, f"the data is not a {_ACCEPTED_NAMES} image", code="invalid_image"
        ) from exc
    except Exception as exc:  # Pillow's parsers raise assorted types on corrupt input
        raise InvalidField(field, "the image data is corrupt", code="invalid_image") from exc
    return fmt, width, height


def _check_dimensions(width: int, height: int, rules: ModelRules, field: str) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InvalidField(
            field,
            f"the image is {width}x{height}; each side must be over 14 px",
            code="image_dimensions",
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidField(
            field,
            f"the image is {width}x{height}; at most 6000x6000 pixels in total",
            code="image_dimensions",
        )
    low, high = rules.image_aspect
    if not low <= width / height <= high:
        raise InvalidField(
            field,
            f"the image is {width}x{height}; its aspect ratio must be within "
            f"{_ratio(low)}..{_ratio(high)} for {rules.family}",
            code="image_dimensions",
        )


def validate_generation_params(
    model: str,
    *,
    size: str | None = None,
    seed: int | None = None,
    guidance_scale: float | None = None,
    watermark: bool | None = None,
    max_images: int | None = None,
    image_count: int = 0,
    stream: bool = False,
) -> None:
    """Check the parameters the chosen model accepts; ``None`` means "not sent".

    Raises ``InvalidField`` naming the first offending field.
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidField("model", "model must be a non-empty string")
    rules = rules_for(model)
    if not rules.min_images <= image_count <= rules.max_images:
        wanted = (
            f"exactly {rules.min_images}"
            if rules.min_images == rules.max_images
            else f"{rules.min_images} to {rules.max_images}"
        )
        raise InvalidField(
            "image",
            f"{rules.family} takes {wanted} reference images, not {image_count}",
            code="image_count",
        )
    if size is not None:
        _check_size(size, rules)
    if seed is not None:
        _require(rules.takes_seed, "seed", rules)
        if not _is_int(seed) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise InvalidField("seed", "seed must be an integer in [-1, 2147483647]")
    if guidance_scale is not None:
        _require(rules.takes_seed, "guidance_scale", rules)
        is_number = _is_int(guidance_scale) or isinstance(guidance_scale, float)
        # Written so that NaN fails too: every comparison with NaN is False.
        if not is_number or not GUIDANCE_RANGE[0] <= guidance_scale <= GUIDANCE_RANGE[1]:
            raise InvalidField("guidance_scale", "guidance_scale must be a number in [1, 10]")
    if watermark is not None and not isinstance(watermark, bool):
        raise InvalidField("watermark", "watermark must be true or false")
    if max_images is not None:
        _require(rules.takes_group, "max_images", rules)
        if not _is_int(max_images) or not 1 <= max_images <= MAX_GROUP_TOTAL:
            raise InvalidField("max_images", "max_images must be an integer in [1, 15]")
        if max_images + image_count > MAX_GROUP_TOTAL:
            raise InvalidField(
                "max_images",
                f"reference images + max_images must be at most 15; with {image_count} "
                f"reference images, max_images can be at most {MAX_GROUP_TOTAL - image_count}",
            )
    if stream:
        _require(rules.takes_group, "stream", rules)


def _check_size(size: str, rules: ModelRules) -> None:
    allowed = sorted(rules.size_words | rules.size_tiers)
    if rules.size_pixels is not None:
        allowed.append("WxH")
    if not isinstance(size, str):
        raise InvalidField("size", "size must be a string")
    if size in rules.size_words or size in rules.size_tiers:
        return
    pixels = _PIXELS.fullmatch(size)
    if _TIER.fullmatch(size) or pixels is None or rules.size_pixels is None:
        raise InvalidField(
            "size", f"size '{size}' is not valid for {rules.family}; use {' or '.join(allowed)}"
        )
    width, height = int(pixels[1]), int(pixels[2])
    low, high = rules.size_pixels
    if not low <= width * height <= high:
        raise InvalidField(
            "size",
            f"size {size} has {width * height} pixels; {rules.family} needs {low} to {high}",
        )
    if rules.size_aspect is not None:
        a_low, a_high = rules.size_aspect
        if not a_low <= width / height <= a_high:
            raise InvalidField(
                "size",
                f"size {size} has an aspect ratio outside {_ratio(a_low)}..{_ratio(a_high)}",
            )


def _require(supported: bool, name: str, rules: ModelRules) -> None:
    if not supported:
        raise InvalidField(name, f"{name} is not supported by {rules.family}")


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True is not a seed.
    return isinstance(value, int) and not isinstance(value, bool)


def _ratio(value: float) -> str:
    return f"1/{round(1 / value)}" if value < 1 else f"{math.floor(value)}"
