"""The master's hot calls, answered on the connection (``app.server.connection`` does the HTTP).

A weed-style writer asks ``POST /assign`` before every write, and every node's uploads
end in ``POST /nodes/register``: profiled under that load, gunicorn's parser, the WSGI
layer, Flask's hooks and Flask-Limiter's per-request check took about half of a master
worker's time. Both calls need only the master service. In secured mode they are taken
here with the cluster header only (a wrong one is refused as the Flask hook refuses it);
admin tokens, missing credentials and anything unusual go to Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.http.jsonbody import body_limit, check_json_type, decode_object
from app.security import CLUSTER_FIELD, require_cluster_secret
from app.server.connection import FastRequest, FastResponse, json_answer, query_args

if TYPE_CHECKING:
    from app.master.service import MasterService

# The Flask view's limit: a longer body is handed over, and refused there with 413.
REGISTRATION_LIMIT = body_limit("master.register_copies")


class MasterFastHandler:
    def __init__(self, service: MasterService, *, secret: str) -> None:
        self.service = service
        self.secret = secret

    def wants_body(self, request: FastRequest) -> bool:
        return request.method == b"POST" and request.target == b"/nodes/register"

    def __call__(self, request: FastRequest) -> FastResponse | None:
        if request.method != b"POST":
            return None
        path, _, raw_query = request.target.partition(b"?")
        presented = request.headers.get(CLUSTER_FIELD)
        if self.secret and presented is None:
            return None  # Flask says what is missing, or checks an admin token
        args = query_args(raw_query)
        if args is None:
            return None  # Flask refuses a query that is not UTF-8
        if path == b"/assign" and not request.body:
            return json_answer(lambda: self._assign(args, presented), "POST /assign")
        if path == b"/nodes/register" and not raw_query:
            return json_answer(lambda: self._register(request, presented), "POST /nodes/register")
        return None

    def _check(self, presented: bytes | None) -> None:
        if self.secret:
            require_cluster_secret(self.secret, (presented or b"").decode("latin-1"))

    def _assign(self, args: dict[str, str], presented: bytes | None) -> dict[str, Any]:
        self._check(presented)
        return self.service.writes.assign(args.get("count"))

    def _register(self, request: FastRequest, presented: bytes | None) -> dict[str, Any]:
        # In the order of the Flask view: credentials, then the body (app.http.bodies.json_body).
        self._check(presented)
        check_json_type(request.headers.get(b"content-type", b"").decode("latin-1"))
        return self.service.register_copies(decode_object(request.body))
