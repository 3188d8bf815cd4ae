"""The one JSON decoder of request bodies, and each endpoint's body limit (pure Python).

Flask's views (``app.http.bodies.json_body``) and the master's fast path (``/nodes/register``)
both decode through ``decode_object``, so that the same bytes get the same answer on
either path. Python's ``json`` alone accepts what our API must not: it recurses once per
nesting level (``"[" * 100000`` is a RecursionError, a 500), reads integers of any
length and ``NaN``/``Infinity`` (which then reach SQL or arithmetic, or are echoed
back as ``Infinity``, which is not JSON), and decodes ``"\\ud800"`` to a lone surrogate
that no database driver can encode. Each of these is a 400 ``invalid_json`` here, whose
message says what was wrong.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from app.errors import BadRequest

KIB = 1024
MIB = 1024 * KIB
# Signed 64-bit: what a BIGINT column (SQLite's INTEGER, PostgreSQL's BIGINT) holds.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The deepest body we define is 3 levels ({"copies": [{...}]}); json recurses once per
# level, and well before Python's recursion limit is the place to stop.
MAX_DEPTH = 32
# Arrays and objects in one body, at most: an empty one costs 56 to 64 bytes of memory
# for 2 or 3 bytes of JSON. The largest batches we define hold 10,000 objects.
MAX_CONTAINERS = 20_000
# 20 characters hold every signed 64-bit integer ("-9223372036854775808"): longer ones
# are refused before int() spends time on them (CPython takes quadratic time past that).
_MAX_INT_CHARS = 20

# Bodies are refused with 413 past these (before a byte is read when Content-Length
# says so), by Flask endpoint name: a decoded body takes 10 to 30 times its size in
# memory, so no request may make a worker hold much more than its limit.
SMALL_BODY = 16 * KIB  # accounts, folders, shares: a password of 1024 escaped chars fits
DEFAULT_BODY_LIMIT = SMALL_BODY
BODY_LIMITS: dict[str, int] = {
    # The reference's FileInfo: a name of up to 1024 characters and a list of replicas.
    "master.register": 64 * KIB,
    # A node's group commit sends up to 256 copies (the fast path reads bodies up to this).
    "master.register_copies": 1 * MIB,
    # INVENTORY_BATCH (1000) copies with names of 255 characters, \\u-escaped, are 3.2 MB.
    "master.inventory": 4 * MIB,
    # A heartbeat acknowledges up to 10,000 deletions (MAX_BATCH) of keys up to 128 chars.
    "master.heartbeat": 2 * MIB,
    # A node reports up to 10,000 copies it lacks as well (it sends 1000 at a time).
    "master.bad_copy": 2 * MIB,
    # 100,000 block hashes (MAX_BLOCKS of app/master/validation.py) are 6.7 MB of JSON.
    "master.begin_upload": 7 * MIB,
    # As many block hashes, for /api/delta (app/userfiles/delta.py MAX_BLOCKS).
    "feed.missing_blocks": 7 * MIB,
}

_ESCAPE = re.compile(r"\\.", re.DOTALL)
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# bytes.translate deletes these: every byte but the brackets and the quote.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in (*_BRACKET_STEP, ord('"')))
# A \u escape of a surrogate (or a text that only looks like one, such as "\\ud800"):
# only then can the decoded strings hold a lone surrogate, and need to be looked at.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def invalid_json(message: str) -> BadRequest:
    """The 400 of a body that is not the JSON object asked for."""
    return BadRequest(message, code="invalid_json")


def body_limit(endpoint: str | None) -> int:
    """The largest JSON body ``endpoint`` (a Flask endpoint name) reads, in bytes."""
    return BODY_LIMITS.get(endpoint or "", DEFAULT_BODY_LIMIT)


def check_json_type(content_type: str | None) -> None:
    """Refuse (400 invalid_json) a body not sent as ``application/json`` (or ``+json``)."""
    mimetype = (content_type or "").partition(";")[0].strip().lower()
    if mimetype != "application/json" and not (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        raise invalid_json("send a JSON object with Content-Type: application/json")


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a UTF-8 JSON object; 400 invalid_json for anything our API cannot hold.

    Refused: bytes that are not UTF-8, nesting deeper than MAX_DEPTH (found by a scan
    of the brackets, before anything is built), integers outside signed 64 bits,
    NaN, Infinity and floats that overflow to them, lone surrogates in any string or
    key, and any JSON value other than an object.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_json(f"the body is not UTF-8 (byte {exc.start})") from None
    depth, containers = _shape(text)
    if depth > MAX_DEPTH:
        raise invalid_json(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    if containers > MAX_CONTAINERS:
        raise invalid_json(f"the JSON holds more than {MAX_CONTAINERS} arrays and objects")
    try:
        payload = json.loads(
            text, parse_int=_int, parse_float=_float, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as exc:
        raise invalid_json(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise invalid_json("send a JSON object ({...}), not another JSON value")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(payload):
        raise invalid_json("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return payload


def _shape(text: str) -> tuple[int, int]:
    """(How deep arrays and objects nest, how many there are), from the brackets outside
    strings, before json builds anything.

    Without its escapes (``\\"`` among them) every quote of a JSON text opens or closes
    a string, so what lies between the second and third, fourth and fifth, ... is
    outside them. Exact for valid JSON; on invalid JSON it can only count too many, and
    json.loads refuses such text anyway. Every step runs in C, over as few bytes as it
    can: refusing 7 MB of "[]," takes about 16 MB and 0.2 s.
    """
    openers = text.count("[") + text.count("{")
    if openers <= MAX_DEPTH:
        return openers, openers  # no more than it has brackets, strings' included
    if "\\" in text:
        text = _ESCAPE.sub("", text)
    structure = text.encode().translate(None, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2])
    depth = max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)
    return depth, brackets.count(b"[") + brackets.count(b"{")


def _int(text: str) -> int:
    value = int(text) if len(text) <= _MAX_INT_CHARS else None
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
        raise invalid_json(f"the integer {shown} does not fit in 64 bits")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise invalid_json(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _refuse_constant(name: str) -> Any:
    raise invalid_json(f"{name} is not a JSON number")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string or key in the decoded structure holds a surrogate code point.

    json pairs a high and a low surrogate escape into one character, so any left is
    lone. Iterative: the depth is bounded already, but a stack costs nothing more.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
