"""Parse and check what nodes and clients send the master; 400 errors name the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.config import MIN_BLOCK_SIZE
from app.errors import InvalidField, InvalidHash, MissingField, PayloadTooLarge
from app.metadata.records import BLOB_KINDS, FileRecord, HeldCopy, NodeStats, ScrubFigures
from app.storage.digests import DIGEST_RE

# Keys are SHA-256 digests in practice, but the reference registers "test123": any short
# token of safe characters is accepted, nothing that could become a path or markup.
FILE_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
NODE_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_NAME_LENGTH = 1024
MAX_BATCH = 10_000
# 400 GiB in 4 MiB blocks; the block list travels as one JSON request.
MAX_BLOCKS = 100_000
# Nodes one /assign may name: a chain longer than this is no replication anyone wants.
MAX_ASSIGN_COUNT = 100
# Other nodes one registered copy may name as holding it too (``also``).
MAX_ALSO = 16


def parse_file_key(value: Any, field: str = "hash") -> str:
    """Return a valid file key; 400 missing_field or invalid_hash otherwise.

    A SHA-256 digest is case-insensitive (a node finds ``ABC...`` as ``abc...``), so it
    comes back lower-cased, as ``parse_digest`` gives it; any other key is kept as sent.
    """
    if value is None or value == "":
        raise MissingField(field)
    if not isinstance(value, str) or not FILE_KEY_RE.fullmatch(value):
        raise InvalidHash(f"'{field}' must be 1-128 letters, digits, '-' or '_'")
    lowered = value.lower()
    return lowered if DIGEST_RE.fullmatch(lowered) else value


def parse_assign_count(value: str | None) -> int | None:
    """The ``count`` of ``POST /assign`` as sent in its query: None when absent (R
    targets), else an integer from 1 to MAX_ASSIGN_COUNT; 400 invalid_field otherwise."""
    if value is None:
        return None
    limit = str(MAX_ASSIGN_COUNT)
    # Digits only (no sign, space or exponent), and few of them: int() of thousands of
    # digits is slow, and refused beyond 4300.
    if not (value.isascii() and value.isdigit() and len(value) <= len(limit)) or not (
        1 <= int(value) <= MAX_ASSIGN_COUNT
    ):
        raise InvalidField("count", f"'count' must be an integer from 1 to {limit}")
    return int(value)


def parse_record(payload: dict[str, Any], replicas_field: bool = True) -> FileRecord:
    """Check a file description in the reference's FileInfo shape."""
    file_hash = parse_file_key(payload.get("hash"))
    name = parse_name(payload.get("name"))
    size = parse_count(payload, "size")
    replicas: list[str] = []
    if replicas_field:
        raw = payload.get("replicas", [])
        if not isinstance(raw, list) or not all(
            isinstance(r, str) and NODE_ID_RE.fullmatch(r) for r in raw
        ):
            raise InvalidField("replicas", "'replicas' must be a list of node ids such as \"8001\"")
        replicas = raw
    return FileRecord(file_hash, name, size, tuple(replicas))


def parse_kind(payload: dict[str, Any], kinds: tuple[str, ...] = ("file", "block")) -> str:
    """A blob's kind: a whole "file" (the default) or a "block" of a large file; among
    ``kinds`` (a node's copies may be any of ``BLOB_KINDS``)."""
    kind = payload.get("kind", "file")
    if kind not in kinds:
        raise InvalidField("kind", f"'kind' must be one of {', '.join(kinds)}")
    return str(kind)


def parse_node(payload: dict[str, Any]) -> tuple[str, str]:
    """Return (node id, node URL) of a node's report."""
    node_id = parse_node_id(payload)
    url = payload.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidField("url", "'url' must be the node's http(s) URL")
    return node_id, url.rstrip("/")


def parse_node_id(payload: dict[str, Any]) -> str:
    """Return the id of the node a report comes from."""
    node_id = payload.get("node")
    if not isinstance(node_id, str) or not NODE_ID_RE.fullmatch(node_id):
        raise InvalidField("node", "'node' must be a node id")
    return node_id


def parse_stats(payload: dict[str, Any]) -> NodeStats:
    """Return the disk figures of a heartbeat (missing ones count as 0)."""
    values = {}
    for key in ("capacity_bytes", "free_bytes", "used_bytes", "files"):
        value = payload.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidField(key, f"'{key}' must be a non-negative integer")
        values[key] = value
    return NodeStats(**values)


def parse_scrub(payload: dict[str, Any]) -> ScrubFigures | None:
    """Return the scrubbing figures of a heartbeat (``scrub``), or None when it has none
    (a node of an older version)."""
    raw = payload.get("scrub")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidField("scrub", "'scrub' must be an object")
    values: dict[str, Any] = {}
    for key in ("started_at", "finished_at", "seconds", "checked", "corrupt", "missing"):
        value = raw.get(key, 0)
        kind = (int, float) if key in ("started_at", "finished_at", "seconds") else (int,)
        if isinstance(value, bool) or not isinstance(value, kind) or not 0 <= value < 2**62:
            raise InvalidField("scrub", f"'scrub.{key}' must be a non-negative number")
        values[key] = value
    return ScrubFigures(**values)


def parse_hash_list(payload: dict[str, Any], field: str) -> list[str]:
    """Return a bounded list of file keys."""
    raw = payload.get(field, [])
    if not isinstance(raw, list) or len(raw) > MAX_BATCH:
        raise InvalidField(field, f"'{field}' must be a list of at most {MAX_BATCH} hashes")
    return [parse_file_key(item, field) for item in raw]


@dataclass(frozen=True)
class CopyRegistration:
    """A node's batch of new copies (``POST /nodes/register``), checked."""

    node: str
    url: str
    copies: list[HeldCopy]
    wants_peers: list[bool]  # per copy: name the live peers that should get one
    # Per copy: the other nodes that hold it durably already, as the registering node's
    # peers stored it beside its own copy (app.node.commits); registered with it.
    also: list[tuple[str, ...]]


def parse_registration(payload: dict[str, Any]) -> CopyRegistration:
    """Check the body of ``POST /nodes/register``, for the Flask view and the overlay."""
    node_id, url = parse_node(payload)
    copies, wants = parse_copies(payload)
    also = [_peer_ids(item) for item in payload["copies"]]
    return CopyRegistration(node_id, url, copies, wants, also)


def _peer_ids(item: dict[str, Any]) -> tuple[str, ...]:
    """The ``also`` of one copy of a registration: ids of other nodes holding it."""
    raw = item.get("also", [])
    if (
        not isinstance(raw, list)
        or len(raw) > MAX_ALSO
        or not all(isinstance(i, str) and NODE_ID_RE.fullmatch(i) for i in raw)
    ):
        raise InvalidField("also", f"'also' must list at most {MAX_ALSO} node ids")
    return tuple(raw)


def parse_copies(payload: dict[str, Any]) -> tuple[list[HeldCopy], list[bool]]:
    """Return the copies of a node's registration batch, and which want peers named."""
    items = payload.get("copies")
    if not items:
        raise InvalidField("copies", "'copies' must list at least one copy")
    return _held_copies(items, "copies"), [item.get("want_peers") is True for item in items]


def _held_copies(items: Any, field: str) -> list[HeldCopy]:
    """A bounded list of copies as nodes describe them (hash, name, size, kind, private)."""
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise InvalidField(field, f"'{field}' must be a list of at most {MAX_BATCH}")
    if not all(isinstance(item, dict) for item in items):
        raise InvalidField(field, f"each entry of '{field}' must be an object")
    copies = []
    for item in items:
        record = parse_record(item, replicas_field=False)
        private = item.get("private") is True
        kind = parse_kind(item, BLOB_KINDS)
        copies.append(HeldCopy(record.hash, record.name, record.size, kind, private))
    return copies


def parse_inventory(payload: dict[str, Any]) -> tuple[list[HeldCopy], float | None, bool]:
    """Return (copies, sync start, complete) of an inventory report."""
    records = _held_copies(payload.get("files", []), "files")
    sync_started = payload.get("sync_started")
    if sync_started is not None and (
        isinstance(sync_started, bool) or not isinstance(sync_started, int | float)
    ):
        raise InvalidField("sync_started", "'sync_started' must be a number or null")
    return (
        records,
        (None if sync_started is None else float(sync_started)),
        (payload.get("complete") is True),
    )


@dataclass(frozen=True)
class UploadPlan:
    """What a client announces before sending blocks (POST /uploads)."""

    name: str
    size: int
    hash: str
    block_size: int
    blocks: tuple[tuple[str, int], ...]


def parse_upload_plan(payload: dict[str, Any], max_block_size: int) -> UploadPlan:
    """Check an upload's announcement: name, size, file hash, block size and block hashes.

    Every block but the last has ``block_size`` bytes, so the block sizes follow from
    the file's size; a file of one block is that block (same hash).
    """
    name = parse_name(payload.get("name"))
    size = parse_count(payload, "size")
    file_hash = _digest(payload.get("hash"), "hash")
    block_size = payload.get("block_size")
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, int)
        or not MIN_BLOCK_SIZE <= block_size <= max_block_size
    ):
        raise InvalidField(
            "block_size",
            f"'block_size' must be an integer from {MIN_BLOCK_SIZE} to {max_block_size}",
        )
    hashes = payload.get("blocks")
    expected = max(1, -(-size // block_size))
    # Before the list is looked at: each block becomes a row while the upload is open.
    if expected > MAX_BLOCKS:
        raise PayloadTooLarge(
            f"a file of {size} bytes is {expected} blocks of {block_size} bytes; an upload "
            f"may have at most {MAX_BLOCKS} (announce bigger blocks)",
            code="too_many_blocks",
        )
    if not isinstance(hashes, list) or len(hashes) != expected:
        raise InvalidField(
            "blocks",
            f"'blocks' must list the SHA-256 of each of the file's {expected} blocks, in order",
        )
    digests = [_digest(item, "blocks") for item in hashes]
    if expected == 1 and digests[0] != file_hash:
        raise InvalidField("blocks", "a file of one block has that block's hash")
    sizes = [block_size] * (expected - 1) + [size - block_size * (expected - 1)]
    return UploadPlan(name, size, file_hash, block_size, tuple(zip(digests, sizes, strict=True)))


def parse_name(value: Any) -> str:
    """A file's display name: any text up to 1024 characters, without NUL."""
    name = "" if value is None else value
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidField("name", f"'name' must be a string of at most {MAX_NAME_LENGTH} chars")
    return name


def parse_count(payload: dict[str, Any], field: str) -> int:
    """A required non-negative integer, such as a size in bytes."""
    value = payload.get(field)
    if value is None:
        raise MissingField(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidField(field, f"'{field}' must be a non-negative integer (bytes)")
    return value


def _digest(value: Any, field: str) -> str:
    if not isinstance(value, str) or not DIGEST_RE.fullmatch(value.lower()):
        raise InvalidHash(f"'{field}' must hold SHA-256 digests (64 hexadecimal characters)")
    return value.lower()
