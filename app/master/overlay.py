"""The master's overlay: hot calls answered on the connection, below gunicorn and Flask.

A weed-style writer asks ``POST /assign`` before every write, and every node's uploads
end in ``POST /nodes/register``: profiled under that load, gunicorn's parser, the WSGI
layer, Flask's hooks and Flask-Limiter's per-request check took about half of a master
worker's time. Both calls need only the master service. In secured mode they are taken
here with the cluster header only, checked by ``authorize_call`` as the Flask hook checks
it; admin tokens, missing credentials and anything unusual go to Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.http.jsonbody import body_limit, check_json_type, decode_object
from app.master.access import authorize_call
from app.master.validation import parse_assign_count, parse_registration
from app.security import CLUSTER_FIELD
from app.server.connection import FastPath, FastRequest, FastResponse
from app.server.overlay import Overlay, OverlayRoute, header_text, json_answer, query_args

if TYPE_CHECKING:  # the wiring builds the overlay: no import cycle at run time
    from app.master.service import MasterService

# The Flask view's limit: a longer body is handed over, and refused there with 413.
REGISTRATION_LIMIT = body_limit("master.register_copies")


class MasterRoutes:
    """What the master's overlay routes share: the service and the cluster secret."""

    def __init__(self, service: MasterService, *, secret: str) -> None:
        self.service = service
        self.secret = secret

    def admit(
        self, request: FastRequest, raw_query: bytes
    ) -> tuple[str | None, dict[str, str]] | None:
        """(The cluster header, the query) of a call the overlay may take; None hands it
        to Flask."""
        presented = header_text(request, CLUSTER_FIELD)
        if self.secret and presented is None:
            return None  # Flask says what is missing, or checks an admin token
        args = query_args(raw_query)
        if args is None:
            return None  # Flask refuses a query that is not UTF-8
        return presented, args

    def authorize(self, endpoint: str, presented: str | None) -> None:
        """The Flask hook's check of a call that brought the cluster header (or none, in
        open mode): no bearer token is looked at."""
        authorize_call(self.secret, endpoint, presented=presented, bearer=None, is_admin_token=None)


def assign(master: MasterRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """``POST /assign``: the nodes to write to, as the Flask view answers."""
    taken = master.admit(request, raw_query)
    if taken is None or request.body:
        return None
    presented, args = taken

    def answer() -> dict[str, Any]:
        master.authorize("master.assign", presented)
        return master.service.writes.assign(parse_assign_count(args.get("count")))

    return json_answer(answer, "POST /assign")


def register_copies(
    master: MasterRoutes, request: FastRequest, raw_query: bytes
) -> FastResponse | None:
    """``POST /nodes/register``: a node's new copies, as the Flask view answers."""
    taken = master.admit(request, raw_query)
    if taken is None or raw_query:
        return None
    presented = taken[0]

    def answer() -> dict[str, Any]:
        # In the order of the Flask view: credentials, then the body (app.http.bodies.json_body).
        master.authorize("master.register_copies", presented)
        check_json_type(header_text(request, b"content-type"))
        return master.service.register_copies(parse_registration(decode_object(request.body)))

    return json_answer(answer, "POST /nodes/register")


OVERLAY: tuple[OverlayRoute[MasterRoutes], ...] = (
    OverlayRoute("POST", "/assign", "master.assign", assign),
    OverlayRoute(
        "POST", "/nodes/register", "master.register_copies", register_copies, reads_body=True
    ),
)


def master_fast_path(
    service: MasterService, *, secret: str, read_timeout: float, write_timeout: float
) -> FastPath:
    """The master's overlay, for its worker's connection loop."""
    return Overlay(OVERLAY, MasterRoutes(service, secret=secret)).fast_path(
        body_limit=REGISTRATION_LIMIT, read_timeout=read_timeout, write_timeout=write_timeout
    )
