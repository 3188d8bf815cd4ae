"""The building blocks of every role's OpenAPI document: the error body, the shapes that
several front ends answer, the security schemes, and the few functions that spell an
operation, its parameters and its responses (data only: the names of headers and
cookies come from the modules that read them).

Schemas say what the code answers today (``app.api.answers``, the views, the README);
a response's ``required`` lists are the keys every answer has, so that a key the code
stops sending fails the schemathesis run (tests/e2e/test_openapi_fuzz.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.http.jsonbody import INT64_MAX
from app.http.session_cookie import COOKIE_NAME
from app.master.validation import FILE_KEY_RE, NODE_ID_RE
from app.security import CLUSTER_HEADER
from app.userfiles.validation import MAX_PASSWORD

Schema = dict[str, Any]
Operation = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
HASH: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
NULLABLE_HASH: Schema = {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}
TIMESTAMP: Schema = {"type": "number", "description": "seconds since the epoch"}
# What a request may send (the parsers lower-case a digest; a 'path' gets its leading '/').
DIGEST: Schema = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
FILE_KEY: Schema = {"type": "string", "pattern": f"^{FILE_KEY_RE.pattern}$"}
NODE_ID: Schema = {"type": "string", "pattern": f"^{NODE_ID_RE.pattern}$"}
COUNT: Schema = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
_SEGMENT = "[A-Za-z0-9_ -][A-Za-z0-9._ -]{0,40}"
USER_PATH: Schema = {"type": "string", "pattern": f"^(/{_SEGMENT}){{1,4}}$"}
# The same as a URL's path parameter, below /api/files/ (which gives it its '/').
USER_PATH_PARAM: Schema = {"type": "string", "pattern": f"^{_SEGMENT}(/{_SEGMENT}){{0,3}}$"}
# A node's base URL, as nodes announce it and /replicate's source names it.
NODE_URL: Schema = {"type": "string", "pattern": "^https?://[a-z0-9.-]{1,40}(:[1-9][0-9]{0,4})?$"}
USERNAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
PASSWORD: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """A JSON object with these keys always present (and these sometimes)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


ERROR_BODY: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            # Some errors add a detail, e.g. ``field`` or the ``missing`` blocks.
            "properties": {"code": STRING, "message": STRING},
        }
    },
}

# A user's file or folder, as stat, list, mkdir, move, copy and restore show it.
ENTRY: Schema = obj(
    {
        "name": STRING,
        "path": STRING,
        "size": INTEGER,
        "mtime": NUMBER,
        "hash": NULLABLE_HASH,
        "is_dir": BOOLEAN,
    },
    {"version": INTEGER},
)

# A file of the global catalogue (``FileRecord.to_dict``): its key is a SHA-256, or any
# FILE_KEY that ``POST /register`` took (the reference registers keys such as "test123").
FILE_RECORD: Schema = obj(
    {"hash": FILE_KEY, "name": STRING, "size": INTEGER, "replicas": array(STRING)}
)

# The reference's upload answer, as the master and the nodes give it.
UPLOADED: Schema = obj(
    {"success": BOOLEAN, "message": STRING, "hash": HASH, "name": STRING, "size": INTEGER},
    {"replicas": array(STRING), "copies": INTEGER, "replication": INTEGER, "quorum": INTEGER},
)

READINESS: Schema = obj({"status": {"enum": ["ready", "not ready"]}, "role": STRING})

SECURITY_SCHEMES: Schema = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "a token of POST /api/login"},
    "cluster": {"type": "apiKey", "in": "header", "name": CLUSTER_HEADER},
    "session": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},
}

# Who may call: [] for anyone; these lists for the rest (the empty object: open mode).
Security = list[dict[str, list[str]]]
OPEN: Security = []
USER: Security = [{"bearer": []}, {"session": []}]
ADMIN: Security = [{}, {"cluster": []}, {"bearer": []}, {"session": []}]
CLUSTER: Security = [{}, {"cluster": []}]

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    507: "Insufficient Storage",
}


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def answer(
    status: int, schema: Schema | None = None, media: Mapping[str, Schema] | None = None
) -> dict[str, Schema]:
    """One documented response: JSON ``schema``, other media types, or no body."""
    response: Schema = {"description": REASONS[status]}
    content = {**(json_content(schema) if schema is not None else {}), **(media or {})}
    if content:
        response["content"] = content
    return {str(status): response}


def errors(statuses: Iterable[int]) -> dict[str, Schema]:
    """The JSON error body under each of ``statuses``."""
    body = json_content({"$ref": "#/components/schemas/Error"})
    return {str(status): {"description": REASONS[status], "content": body} for status in statuses}


def param(where: str, name: str, schema: Schema = STRING, *, required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def operation(
    operation_id: str,
    summary: str,
    responses: Mapping[str, Schema],
    fails: Iterable[int] = (),
    *,
    security: Security = OPEN,
    parameters: Iterable[Schema] = (),
    body: Schema | None = None,
    **extra: Any,
) -> Operation:
    """An operation; ``fails`` are the statuses it answers with the JSON error body, and
    every operation may answer HEAD_REFUSALS."""
    spelled: Operation = {
        "operationId": operation_id,
        "summary": summary,
        "security": security,
        "responses": {**responses, **errors(sorted({*fails, *HEAD_REFUSALS}))},
    }
    parameters = list(parameters)
    if parameters:
        spelled["parameters"] = parameters
    if body is not None:
        spelled["requestBody"] = body
    spelled.update({key.replace("_", "-"): value for key, value in extra.items()})
    return spelled


def json_request(schema: Schema, *, required: bool = True) -> Schema:
    return {"required": required, "content": json_content(schema)}


def bytes_request(media_type: str = "application/octet-stream") -> Schema:
    return {"required": False, "content": {media_type: {"schema": {"format": "binary"}}}}


BINARY: Schema = {"schema": {"format": "binary"}}
# The request's failures that any view may answer: an undecodable URL, a stalled body.
CLIENT = (400, 408)
# What the server answers, before any view, to a request line or header fields beyond
# its limits (``app.server.limits.HeadLimits``): any operation may get them.
HEAD_REFUSALS = (414, 431)
# What a JSON body may be refused for (malformed, too long).
JSON_BODY = (400, 408, 413)
