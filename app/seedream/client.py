"""HTTP client for the Seedream image-generation API (``POST {base}/images/generations``).

Upstream failures become ``app.errors`` exceptions (``shared/reference/seedream-api.md``
§8): the caller renders them and never sees a ``requests`` exception. The API key is
sent only to the API host, never to image-download hosts, and is scrubbed from every
upstream message this module relays or logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from app.errors import (
    AppError,
    BadRequest,
    TooManyRequests,
    UnprocessableEntity,
    UpstreamError,
    UpstreamTimeout,
)
from app.metrics.families import SEEDREAM_CALLS
from app.seedream.images import sniff_image
from app.seedream.payloads import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    StreamEvent,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "GeneratedImage",
    "GenerationRequest",
    "GenerationResult",
    "SeedreamClient",
    "StreamEvent",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
CONNECT_TIMEOUT = 5.0
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # a 4K PNG is ~30 MB; anything bigger is not an image
_USER_ERROR_PREFIXES = ("InvalidParameter", "MissingParameter", "InvalidImageURL")


class SeedreamClient:
    """A pooled, retrying Seedream client; one per app, safe to share between greenlets."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 120.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        pool_size: int = 100,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        if not api_key:
            raise ValueError("a Seedream API key is required")
        self._api_key = api_key
        self._endpoint = base_url.rstrip("/") + "/images/generations"
        self._timeout = (min(connect_timeout, timeout), timeout)
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_download = max_download_bytes
        self._http = requests.Session()
        # pool_connections counts hosts (API + download hosts); pool_maxsize is per host.
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size)
        self._http.mount("https://", adapter)
        self._http.mount("http://", adapter)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> SeedreamClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate images and return their bytes (URL results are downloaded at once).

        A failed group item comes back as a ``GeneratedImage`` with ``error`` set; a
        failed request raises an ``AppError`` (see the module docstring).
        """
        started = time.monotonic()
        with _counted_call():
            response = self._send("POST", self._endpoint, json=request.to_body(), auth=True)
            body = self._parse_json(response)
        items = [self._read_item(i, item) for i, item in enumerate(body.get("data") or [])]
        log.info(
            "Seedream %s: %d of %d images in %.1fs",
            request.model,
            sum(item.is_ok for item in items),
            len(items),
            time.monotonic() - started,
        )
        return GenerationResult(
            model=str(body.get("model") or request.model),
            created=int(body.get("created") or 0),
            usage=dict(body.get("usage") or {}),
            items=items,
        )

    def generate_stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Start a streamed generation and return its events, one per image then ``completed``.

        The request is sent here, so a refused request raises before any event; errors
        in the middle of the stream raise from the iterator. Close the iterator if you
        stop early, to give its connection back to the pool.
        """
        body = request.to_body(stream=True)
        with _counted_call():
            response = self._send("POST", self._endpoint, json=body, auth=True, stream=True)
            if not response.ok:
                with response:
                    raise self._error_for(response)
        return self._iter_events(response, request.model)

    # -- sending and retrying ---------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        auth: bool = False,
        stream: bool = False,
    ) -> requests.Response:
        """Send with bounded retries; return the first answer that is not retried.

        Retried: 429, 5xx, timeouts and broken connections. A 429 whose Retry-After is
        longer than ``max_backoff`` is returned at once: waiting that long in a user's
        request helps nobody. The last 429/5xx is returned for ``_error_for`` to map.
        """
        # The key goes per request, not on the session, so downloads never carry it.
        headers = {"Authorization": f"Bearer {self._api_key}"} if auth else None
        path = urlsplit(url).path  # download URLs carry signatures in the query: not logged
        for attempt in range(self._retries + 1):
            is_last = attempt == self._retries
            try:
                response = self._http.request(
                    method, url, json=json, headers=headers, timeout=self._timeout, stream=stream
                )
            except requests.Timeout as exc:
                if is_last:
                    raise UpstreamTimeout(
                        f"Seedream did not answer in {self._timeout[1]:g} s "
                        f"({self._retries + 1} attempts)"
                    ) from exc
                self._pause(attempt, None, f"{method} {path}: timeout")
                continue
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                if is_last:
                    raise UpstreamError(
                        f"cannot reach Seedream ({type(exc).__name__}, "
                        f"{self._retries + 1} attempts)"
                    ) from exc
                self._pause(attempt, None, f"{method} {path}: {type(exc).__name__}")
                continue
            except requests.RequestException as exc:  # bad URL or the like: not retried
                raise UpstreamError(f"cannot call Seedream ({type(exc).__name__})") from exc
            status = response.status_code
            if status != 429 and status < 500:
                return response
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if is_last or (retry_after is not None and retry_after > self._max_backoff):
                return response
            response.close()
            self._pause(attempt, retry_after, f"{method} {path}: HTTP {status}")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(self, attempt: int, retry_after: float | None, why: str) -> None:
        """Sleep before retry ``attempt + 1``: exponential backoff with jitter."""
        ceiling = min(self._max_backoff, self._backoff * 2**attempt)
        # Jitter spreads the retries of many concurrent callers hit by one 429 burst.
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning("Seedream %s; retry %d/%d in %.2fs", why, attempt + 1, self._retries, delay)
        time.sleep(delay)

    # -- reading answers --------------------------------------------------------------

    def _parse_json(self, response: requests.Response) -> dict[str, Any]:
        if not response.ok:
            raise self._error_for(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError("Seedream answered with invalid JSON") from exc
        if not isinstance(body, dict):
            raise UpstreamError("Seedream answered with an unexpected JSON shape")
        if body.get("error"):  # documented on the response object for failed requests
            raise self._error_from(response.status_code, body["error"], None)
        return body

    def _error_for(self, response: requests.Response) -> AppError:
        """Map a non-2xx answer to the ``app.errors`` exception the caller should raise."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
            error = None
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        return self._error_from(response.status_code, error, retry_after)

    def _error_from(self, status: int, error: object, retry_after: float | None) -> AppError:
        fields = error if isinstance(error, dict) else {}
        code = str(fields.get("code") or "")
        message = self._redact(str(fields.get("message") or f"HTTP {status}"))
        param = str(fields.get("param") or "")
        log.warning("Seedream refused: HTTP %d %s: %s", status, code or "-", message)
        if "SensitiveContentDetected" in code:
            return UnprocessableEntity(
                f"Seedream rejected the content: {message}",
                code="content_rejected",
                details={"upstream_code": code},
            )
        if status in (401, 403):
            return UpstreamError(
                f"Seedream refused the configured API key ({code or status}): {message}",
                code="upstream_auth_failed",
            )
        if status == 404 or code.startswith("InvalidEndpoint"):
            return UpstreamError(
                f"Seedream model unavailable ({code or status}): {message}",
                code="upstream_model_unavailable",
            )
        if status == 429:
            wait = retry_after if retry_after is not None else self._max_backoff
            return TooManyRequests(
                f"Seedream is rate limiting ({code or status}): {message}",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if status == 400 and code:
            # Upstream codes are kept verbatim: they tell the user which rule was broken.
            details = {"field": param} if param else None
            if not code.startswith(_USER_ERROR_PREFIXES):
                log.warning("unexpected Seedream 400 code %s; passed on as 400", code)
            return BadRequest(message, code=code, details=details)
        return UpstreamError(f"Seedream failed with HTTP {status} ({code or '-'}): {message}")

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]")

    def _read_item(self, index: int, item: object) -> GeneratedImage:
        """Turn one ``data[]`` entry (or streamed image event) into bytes or an error."""
        if not isinstance(item, dict):
            return _item_error(index, "invalid_upstream_item", "not a JSON object")
        error = item.get("error")
        if error:
            fields = error if isinstance(error, dict) else {}
            code = str(fields.get("code") or "upstream_error")
            return _item_error(index, code, self._redact(str(fields.get("message") or code)))
        if isinstance(item.get("b64_json"), str):
            try:
                data = base64.b64decode(item["b64_json"], validate=True)
            except binascii.Error:
                return _item_error(index, "invalid_upstream_image", "b64_json is not base64")
        elif isinstance(item.get("url"), str):
            try:
                data = self._download(item["url"])
            except AppError as exc:
                return _item_error(index, "download_failed", exc.message)
        else:
            return _item_error(index, "invalid_upstream_item", "no b64_json, url or error")
        sniffed = sniff_image(data)
        size = item.get("size")
        if not isinstance(size, str) and sniffed is not None:
            size = f"{sniffed[1]}x{sniffed[2]}"  # 3.0 and SeedEdit do not report a size
        return GeneratedImage(
            index=index,
            data=data,
            size=size if isinstance(size, str) else None,
            format=sniffed[0] if sniffed else None,
        )

    def _download(self, url: str) -> bytes:
        """Fetch a result URL now (they expire after 24 h), refusing oversized bodies."""
        with self._send("GET", url, stream=True) as response:
            if response.status_code != 200:
                raise UpstreamError(f"image download answered HTTP {response.status_code}")
            length = response.headers.get("Content-Length", "")
            declared = int(length) if length.isdigit() else 0
            if declared > self._max_download:
                raise UpstreamError(f"image download is {declared} bytes; too large")
            chunks: list[bytes] = []
            received = 0
            try:
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    received += len(chunk)
                    if received > self._max_download:
                        raise UpstreamError("image download is too large")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise UpstreamError(f"image download broke off ({type(exc).__name__})") from exc
        return b"".join(chunks)

    def _iter_events(self, response: requests.Response, model: str) -> Iterator[StreamEvent]:
        """Parse the SSE stream into events; image URLs are downloaded as they arrive."""
        if response.headers.get("Content-Type", "").startswith("application/json"):
            # Not a stream after all (undocumented, §12): read it as a whole answer.
            with response:
                body = self._parse_json(response)
            created = int(body.get("created") or 0)
            for i, item in enumerate(body.get("data") or []):
                yield StreamEvent("image", model, created, image=self._read_item(i, item))
            yield StreamEvent("completed", model, created, usage=dict(body.get("usage") or {}))
            return
        with response:
            try:
                for name, data in _iter_sse(response):
                    if data.strip() == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError as exc:
                        raise UpstreamError("Seedream streamed invalid JSON") from exc
                    if not isinstance(event, dict):
                        continue
                    kind = str(event.get("type") or name)
                    created = int(event.get("created") or 0)
                    event_model = str(event.get("model") or model)
                    if kind.endswith((".partial_succeeded", ".partial_failed")):
                        index = int(event.get("image_index") or 0)
                        image = self._read_item(index, event)
                        yield StreamEvent("image", event_model, created, image=image)
                    elif kind.endswith(".completed"):
                        usage = dict(event.get("usage") or {})
                        yield StreamEvent("completed", event_model, created, usage=usage)
                    elif event.get("error"):  # whole-request failure inside the stream
                        raise self._error_from(400, event["error"], None)
                    else:  # e.g. partial_image previews from the SDK samples
                        log.debug("ignoring Seedream stream event %s", kind)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise UpstreamError(f"Seedream stream broke off ({type(exc).__name__})") from exc


def _iter_sse(response: requests.Response) -> Iterator[tuple[str, str]]:
    """Yield ``(event, data)`` per server-sent event, per the WHATWG framing."""
    event, buffer = "", b""
    data: list[str] = []
    # chunk_size=None yields chunks as they arrive instead of waiting to fill a size.
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.removesuffix(b"\r").decode("utf-8")  # SSE is always UTF-8
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = "", []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                if name == "event":
                    event = value.removeprefix(" ")
                elif name == "data":
                    data.append(value.removeprefix(" "))
    if data:
        yield event or "message", "\n".join(data)


def _item_error(index: int, code: str, message: str) -> GeneratedImage:
    return GeneratedImage(index=index, error={"code": code, "message": message})


def _parse_retry_after(value: str | None) -> float | None:
    """Read Retry-After as seconds (delta-seconds or an HTTP date); ``None`` if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@contextlib.contextmanager
def _counted_call() -> Iterator[None]:
    """Count a call to Seedream by its outcome: ``ok``, or the error code it raised."""
    try:
        yield
    except AppError as exc:
        SEEDREAM_CALLS.labels(exc.code).inc()
        raise
    SEEDREAM_CALLS.labels("ok").inc()
