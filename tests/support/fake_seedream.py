"""A fake Seedream API: a real threaded HTTP server on 127.0.0.1 for the tests.

It checks each request the way ``shared/reference/seedream-api.md`` describes the real
API (§10), with the rules in ``fake_seedream_rules``, and answers in its shapes, with
real tiny JPEG/PNG images served by the fake itself for ``response_format=url``.

    with FakeSeedream(api_key="test-key") as fake:
        client = SeedreamClient("test-key", fake.base_url)
        fake.fail_next(429, retry_after=1)
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.support.fake_seedream_rules import (
    ERROR_TYPES,
    ApiError,
    check_fields,
    check_model,
    nominal_size,
)

_DEFAULT_CODES = {
    400: "InvalidParameter",
    401: "AuthenticationError",
    403: "AccessDenied",
    404: "InvalidEndpointOrModel.NotFound",
    429: "ModelAccountIpmRateLimitExceeded",
    500: "InternalServiceError",
    503: "ServerOverloaded",
}


@dataclass
class _Failure:
    mode: str  # "error", "hang" or "reset"
    status: int = 500
    code: str = ""
    message: str = ""
    retry_after: str | None = None
    param: str = ""


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    query: dict[str, str] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log in test output
        pass


class FakeSeedream:
    """The fake server; ``start()``/``close()`` or use it as a context manager."""

    def __init__(self, api_key: str = "test-key", *, hang_seconds: float = 30.0) -> None:
        self.api_key = api_key
        self.delay = 0.0  # seconds before answering (per image when streaming)
        self.hang_seconds = hang_seconds
        self.ignore_stream = False  # answer ``stream: true`` with plain JSON, as a proxy might
        self.requests: list[Recorded] = []  # generation calls, in arrival order
        self.downloads: list[Recorded] = []  # GETs of the result URLs
        self._failures: deque[_Failure] = deque()
        self._item_errors: dict[int, tuple[str, str]] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._serial = itertools.count()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeSeedream:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes delayed and hanging requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSeedream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v3"

    # -- injected behaviour -----------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        times: int = 1,
        retry_after: int | str | None = None,
        param: str = "",
    ) -> None:
        """Answer the next ``times`` generation calls with this API error."""
        code = code or _DEFAULT_CODES.get(status, "InternalServiceError")
        message = message or f"Injected {code} failure."
        after = None if retry_after is None else str(retry_after)
        for _ in range(times):
            self._failures.append(_Failure("error", status, code, message, after, param))

    def hang_next(self, times: int = 1) -> None:
        """Never answer the next ``times`` generation calls (until ``hang_seconds``)."""
        self._failures.extend(_Failure("hang") for _ in range(times))

    def reset_next(self, times: int = 1) -> None:
        """Drop the connection of the next ``times`` generation calls without answering."""
        self._failures.extend(_Failure("reset") for _ in range(times))

    def fail_item(
        self,
        index: int,
        code: str = "OutputImageSensitiveContentDetected",
        message: str | None = None,
    ) -> None:
        """Make image ``index`` of every group fail (InternalServiceError stops the group)."""
        text = (
            message
            or "The request failed because the output image may contain sensitive information."
        )
        self._item_errors[index] = (code, text)

    # -- HTTP -------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        headers = dict(request.headers)
        if request.path.startswith("/tos/") and request.method == "GET":
            with self._lock:
                self.downloads.append(
                    Recorded("GET", request.path, headers, None, dict(request.args))
                )
                found = self._files.get(f"{request.path}?{request.args.get('X-Tos-Signature')}")
            if found is None:
                return Response(
                    b"<Error><Code>AccessDenied</Code></Error>", 403, mimetype="application/xml"
                )
            return Response(found[0], mimetype=f"image/{found[1]}")
        if request.path != "/api/v3/images/generations":
            return _error_response(ApiError(404, "NotFound", f"Path {request.path} not found."))
        if request.method != "POST":
            return _error_response(ApiError(405, "MethodNotAllowed", "Use POST."))
        body = request.get_json(silent=True)
        with self._lock:
            self.requests.append(Recorded("POST", request.path, headers, body))
            failure = self._failures.popleft() if self._failures else None
        try:
            if failure is not None:
                return self._inject(failure, request)
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise ApiError(
                    401,
                    "AuthenticationError",
                    "The API key or AK/SK in the request is missing or invalid.",
                )
            if not isinstance(body, dict):
                raise ApiError(400, "InvalidParameter", "The request body is not valid JSON.")
            return self._generate(body)
        except ApiError as exc:
            return _error_response(exc)

    def _inject(self, failure: _Failure, request: Request) -> Response:
        if failure.mode == "hang":
            self._closing.wait(self.hang_seconds)
            return Response(b"", 504)
        if failure.mode == "reset":
            sock: socket.socket = request.environ["werkzeug.socket"]
            # Linger 0: the close that follows sends a RST instead of a FIN handshake.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
            return Response(b"", 500)
        error = ApiError(failure.status, failure.code, failure.message, failure.param)
        response = _error_response(error)
        if failure.retry_after is not None:
            response.headers["Retry-After"] = failure.retry_after
        return response

    # -- the API ----------------------------------------------------------------------

    def _generate(self, body: dict[str, Any]) -> Response:
        model, family = check_model(body)
        images = check_fields(body, family)
        auto = body.get("sequential_image_generation") == "auto"
        wanted = (body.get("sequential_image_generation_options") or {}).get("max_images", 15)
        count = min(wanted, 15 - len(images)) if auto else 1
        width, height = nominal_size(body.get("size"), family)
        fmt = body.get("output_format", "jpeg")
        as_url = body.get("response_format", "url") == "url"
        serial = next(self._serial)
        request_id = f"{int(time.time())}{uuid.uuid4().hex[:24]}"
        # Seeded requests repeat their bytes; random ones (seed -1 or absent) do not.
        salt = f"{body['prompt']}|{body.get('seed', -1)}|" + (
            "" if body.get("seed", -1) != -1 else str(serial)
        )

        def items() -> Any:
            for index in range(count):
                if index in self._item_errors:
                    code, message = self._item_errors[index]
                    yield {"error": {"code": code, "message": message}}
                    if code == "InternalServiceError":  # a 500 inside a group stops it
                        return
                    continue
                data = _render(fmt, f"{salt}|{index}")
                item = (
                    {"url": self._publish(data, fmt, request_id, index)}
                    if as_url
                    else {"b64_json": base64.b64encode(data).decode("ascii")}
                )
                if family.grouped:  # only 4.x/5.x report a size
                    item["size"] = f"{width}x{height}"
                yield item

        def usage(done: int) -> dict[str, int]:
            tokens = round(width * height * done / 256)
            return {"generated_images": done, "output_tokens": tokens, "total_tokens": tokens}

        created = int(time.time())
        if body.get("stream") and not self.ignore_stream:
            return Response(
                self._stream(model, created, items(), usage), mimetype="text/event-stream"
            )
        self._closing.wait(self.delay)
        data = list(items())
        done = sum("error" not in item for item in data)
        answer = {"model": model, "created": created, "data": data, "usage": usage(done)}
        return Response(json.dumps(answer), mimetype="application/json")

    def _stream(self, model: str, created: int, items: Any, usage: Any) -> Any:
        done = 0
        for index, item in enumerate(items):
            self._closing.wait(self.delay)
            kind = "partial_failed" if "error" in item else "partial_succeeded"
            done += kind == "partial_succeeded"
            event = {
                "type": f"image_generation.{kind}",
                "model": model,
                "created": created,
                "image_index": index,
                **item,
            }
            yield _sse(event["type"], event)
        final = {
            "type": "image_generation.completed",
            "model": model,
            "created": int(time.time()),
            "usage": usage(done),
        }
        yield _sse(final["type"], final)
        yield b"data: [DONE]\n\n"

    def _publish(self, data: bytes, fmt: str, request_id: str, index: int) -> str:
        signature = hashlib.sha256(data + request_id.encode()).hexdigest()
        path = f"/tos/seedream/{request_id}_{index}.{fmt}"
        with self._lock:
            self._files[f"{path}?{signature}"] = (data, fmt)
        return (
            f"{self.origin}{path}?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Expires=86400"
            f"&X-Tos-Signature={signature}"
        )


def _render(fmt: str, salt: str) -> bytes:
    digest = hashlib.sha256(salt.encode()).digest()
    image = Image.new("RGB", (64, 48), (digest[0], digest[1], digest[2]))
    image.putpixel((digest[3] % 64, digest[4] % 48), (255 - digest[0], 0, digest[5]))
    out = io.BytesIO()
    image.save(out, format="PNG" if fmt == "png" else "JPEG")
    return out.getvalue()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _error_response(error: ApiError) -> Response:
    request_id = uuid.uuid4().hex
    body = {
        "error": {
            "code": error.code,
            "message": f"{error.message} Request id: {request_id}",
            "param": error.param,
            "type": ERROR_TYPES.get(error.status, ""),
        }
    }
    return Response(json.dumps(body), error.status, mimetype="application/json")
