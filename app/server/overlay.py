"""The overlay: a role's declared table of requests answered below Flask, and its dispatch.

A role that wants hot requests answered on the connection (``app.server.connection``)
declares them in one table of ``OverlayRoute``: a method and an exact path, the function
that answers them, and the Flask endpoint it shadows (tests/api/test_overlay.py checks
that endpoint exists with that method and path, and that its view says it is overlaid).
``Overlay`` dispatches by the table; a request it does not list, or one its function
declines (returns None), goes to gunicorn and the Flask view as if there were no
overlay. A function that takes a request answers it as the view would, with the same
authorize function of its role and the same error renderer (``json_answer``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

from app.errors import AppError
from app.http.json_answers import INTERNAL_ERROR, error_answer
from app.metrics.families import observe_request
from app.server.connection import FastPath, FastRequest, FastResponse

log = logging.getLogger(__name__)

Context = TypeVar("Context")
# (what the role's routes share, the request, its raw query): an answer, or None to decline.
Answer = Callable[[Context, FastRequest, bytes], FastResponse | None]


@dataclass(frozen=True)
class OverlayRoute(Generic[Context]):
    """``method path`` answered by ``answer`` below Flask, in place of view ``endpoint``."""

    method: str
    path: str
    endpoint: str  # the Flask endpoint this shadows, e.g. "node.retrieve"
    answer: Answer[Context]
    reads_body: bool = False  # read a body (up to the role's limit) for ``answer``


class Overlay(Generic[Context]):
    """A role's overlay table bound to what its routes share: the connection loop's handler."""

    def __init__(self, routes: Sequence[OverlayRoute[Context]], context: Context) -> None:
        self.routes = tuple(routes)
        self.context = context
        self._routes = {(route.method.encode(), route.path.encode()): route for route in routes}
        self._bodies = frozenset(
            (route.method.encode(), route.path.encode()) for route in routes if route.reads_body
        )

    def __call__(self, request: FastRequest) -> FastResponse | None:
        path, _, raw_query = request.target.partition(b"?")
        route = self._routes.get((request.method, path))
        if route is None:
            return None
        response = route.answer(self.context, request, raw_query)
        if response is not None:
            response.endpoint = route.endpoint
        return response

    def wants_body(self, request: FastRequest) -> bool:
        """Whether a route of the table reads this request's body."""
        return (request.method, request.target.partition(b"?")[0]) in self._bodies

    def fast_path(self, *, body_limit: int, read_timeout: float, write_timeout: float) -> FastPath:
        """What the role's app offers its worker (``app.extensions[FAST_PATH]``)."""
        return FastPath(
            self,
            write_timeout=write_timeout,
            read_timeout=read_timeout,
            body_limit=body_limit,
            wants_body=self.wants_body,
            observe=count_answer,
        )


def count_answer(response: FastResponse, seconds: float, bytes_in: int) -> None:
    """Count an overlay answer in the same families as the Flask views' answers."""
    observe_request(response.endpoint, response.status, seconds, bytes_in, response.size)


def query_args(raw_query: bytes) -> dict[str, str] | None:
    """A query's first value per name, blank ones kept (as Flask's ``request.args``);
    None when it is not UTF-8 once percent-decoded (hand it to Flask, which says so)."""
    try:
        parsed = parse_qs(raw_query.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeError:
        return None
    return {name: values[0] for name, values in parsed.items()}


def header_text(request: FastRequest, field: bytes) -> str | None:
    """A request field as the Flask views read it (latin-1 text), or None if absent."""
    value = request.headers.get(field)
    return None if value is None else value.decode("latin-1")


def json_answer(compute: Callable[[], Any], what: str) -> FastResponse:
    """``compute()``'s result as JSON, or its error rendered as the Flask handlers do."""
    try:
        return FastResponse.json(compute())
    except AppError as exc:
        return FastResponse.error(error_answer(exc))
    except Exception:
        log.exception("unhandled error on %s", what)
        return FastResponse.error(INTERNAL_ERROR)
