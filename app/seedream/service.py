"""Seedream on the master: check a generation, call the API, store every image it returns.

Everything that can be refused is checked before the upstream call, so a bad request
spends none of the user's quota: the form fields, each reference image (sniffed by
content), the chosen model's parameter rules, and that a storage node is live to keep
the results. Generated images are stored like any upload (content-addressed, replicated)
and answered as ``/download`` URLs of this master.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app

from app.errors import AppError, FileNotFound, InvalidField, ServiceUnavailable, UpstreamError
from app.master.service import MasterService
from app.seedream.client import SeedreamClient
from app.seedream.form import GenerateForm, parse_fields
from app.seedream.images import (
    MAX_IMAGE_BYTES,
    validate_generation_params,
    validate_reference_image,
)
from app.seedream.models import rules_for
from app.seedream.payloads import GeneratedImage, GenerationRequest, GenerationResult, StreamEvent

log = logging.getLogger(__name__)

EXTENSION = "mdbx.seedream"
NOT_CONFIGURED = (
    "Seedream is not configured: set SEEDREAM_API_KEY (or ARK_API_KEY) in the master's "
    "environment and restart it"
)


# Keeps one generated image (its bytes, under a name) and answers what the client is told
# of it beyond its index: the global catalogue's (``catalogue_sink``), or a user's folder.
ImageSink = Callable[[GeneratedImage, str], dict[str, Any]]


@dataclass(frozen=True)
class GenerationJob:
    """A checked generation: what to send, how to answer, how to name the results."""

    request: GenerationRequest
    stream: bool
    stem: str  # stored names are "<stem>-<n>.<format>"


class SeedreamService:
    """Generation requests of the master app; one per app, shared by its greenlets."""

    def __init__(
        self, client: SeedreamClient | None, master: MasterService, *, default_model: str
    ) -> None:
        self._client = client
        self._master = master
        self._default_model = default_model
        # Reads stored reference images from the nodes; Seedream has its own session.

    def check_configured(self) -> SeedreamClient:
        """Return the client; 503 ``seedream_not_configured`` without an API key."""
        if self._client is None:
            raise ServiceUnavailable(NOT_CONFIGURED, code="seedream_not_configured")
        return self._client

    def prepare(self, form: GenerateForm) -> GenerationJob:
        """Check every field, load the reference images and build the upstream request.

        Raises 400 errors naming the field, 503 ``no_live_nodes`` when nothing could
        store the results; nothing is sent to Seedream before this succeeds.
        """
        self.check_configured()
        fields = parse_fields(form)
        model = fields.model or self._default_model
        # stream is not checked per model: models that cannot stream are relayed as events.
        validate_generation_params(
            model,
            size=fields.size,
            seed=fields.seed,
            guidance_scale=fields.guidance_scale,
            watermark=fields.watermark,
            max_images=fields.max_images,
            image_count=len(fields.references),
        )
        if not self._master.directory.live_nodes():
            raise ServiceUnavailable(
                "no storage node is live to keep the generated images; nothing was generated",
                code="no_live_nodes",
            )
        images = tuple(
            validate_reference_image(
                source if isinstance(source, bytes) else self._load_stored(name, source),
                name,
                model=model,
            ).data_uri
            for name, source in fields.references
        )
        request = GenerationRequest(
            prompt=fields.prompt,
            model=model,
            images=images,
            size=fields.size,
            seed=fields.seed,
            guidance_scale=fields.guidance_scale,
            watermark=fields.watermark,
            max_images=fields.max_images,
        )
        return GenerationJob(request, fields.stream, name_stem(fields.prompt))

    def catalogue_sink(self, download_base: str) -> ImageSink:
        """Store images in the global catalogue, answered as ``/download`` URLs."""

        def store(image: GeneratedImage, name: str) -> dict[str, Any]:
            assert image.data is not None
            record = self._master.writes.store_bytes(image.data, name)
            return {
                "hash": record.hash,
                "name": name,
                "size": image.size,
                "bytes": record.size,
                "download_url": f"{download_base}?{urlencode({'hash': record.hash})}",
            }

        return store

    def generate(self, job: GenerationJob, sink: ImageSink) -> dict[str, Any]:
        """Generate, store each image, and answer ``{model, created, usage, images}``."""
        result = self.check_configured().generate(job.request)
        images = [self._store(item, job.stem, sink) for item in result.items]
        return {
            "model": result.model,
            "created": result.created,
            "usage": result.usage,
            "images": images,
        }

    def stream(self, job: GenerationJob, sink: ImageSink) -> Iterator[str]:
        """Start the generation now, then relay it as server-sent events.

        A refused request raises here, before any event, so it gets a plain JSON error.
        Events: ``image`` per image as it is stored, then ``completed`` (the same body
        as the non-streamed answer), or ``error`` if the generation breaks off.
        """
        client = self.check_configured()
        if rules_for(job.request.model).takes_group:
            events = client.generate_stream(job.request)
        else:
            # Seedream 3.0 and SeedEdit cannot stream: their one answer becomes events.
            events = _as_events(client.generate(job.request))
        return self._relay(events, job.stem, sink)

    def _relay(self, events: Iterator[StreamEvent], stem: str, sink: ImageSink) -> Iterator[str]:
        images: list[dict[str, Any]] = []
        try:
            for event in events:
                if event.kind == "image" and event.image is not None:
                    images.append(self._store(event.image, stem, sink))
                    yield _sse("image", images[-1])
                elif event.kind == "completed":
                    body = {"model": event.model, "created": event.created}
                    body |= {"usage": event.usage or {}, "images": images}
                    yield _sse("completed", body)
                    return
            raise UpstreamError("the Seedream stream ended before its completed event")
        except AppError as exc:
            log.warning("Seedream stream ended with %s: %s", exc.code, exc.message)
            yield _sse("error", exc.to_dict())
        except Exception:
            # Headers are sent already: the error can only travel as an event.
            log.exception("Seedream stream relay failed")
            yield _sse("error", {"error": {"code": "internal_error", "message": "internal error"}})
        finally:
            close = getattr(events, "close", None)
            if close is not None:  # gives the upstream connection back to the pool
                close()

    def _store(self, image: GeneratedImage, stem: str, sink: ImageSink) -> dict[str, Any]:
        """Store one generated image; a failure becomes that item's ``error``."""
        if image.data is None:
            error = image.error or {"code": "upstream_error", "message": "no image returned"}
            return {"index": image.index, "error": error}
        name = f"{stem}-{image.index + 1}.{image.format or 'bin'}"
        try:
            stored = sink(image, name)
        except AppError as exc:
            log.warning("generated image %d not stored: %s", image.index, exc.message)
            message = f"generated, but not stored: {exc.message}"
            return {"index": image.index, "error": {"code": exc.code, "message": message}}
        return {"index": image.index, **stored}

    def _load_stored(self, name: str, key: str) -> bytes:
        """Read the file stored under ``key`` from a live replica, for field ``name``."""
        try:
            record = self._master.get_file(key)
        except FileNotFound:
            raise InvalidField(
                name, f"no file is stored under {key}", code="reference_not_found"
            ) from None
        if record.size > MAX_IMAGE_BYTES:
            raise InvalidField(
                name,
                f"the stored file is {record.size} bytes; the limit is {MAX_IMAGE_BYTES} (10 MB)",
                code="image_too_large",
            )
        return self._master.reads.read_bytes(key)


def name_stem(prompt: str) -> str:
    """Return ``seedream-<slug>``: the prompt's first words in ASCII, at most 40 chars."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:  # whole words only, as long as they fit
        if len(slug) + len(word) + 1 > 40:
            break
        slug = f"{slug}-{word}" if slug else word
    return f"seedream-{slug or (words[0][:40] if words else 'image')}"


def _as_events(result: GenerationResult) -> Iterator[StreamEvent]:
    for item in result.items:
        yield StreamEvent("image", result.model, result.created, image=item)
    yield StreamEvent("completed", result.model, result.created, usage=result.usage)


def _sse(event: str, data: Mapping[str, Any]) -> str:
    # json.dumps escapes newlines, so each event's data is one line.
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def seedream_service() -> SeedreamService:
    """Return the SeedreamService of the current app."""
    service: SeedreamService = current_app.extensions[EXTENSION]
    return service
