"""Parse and check what nodes and clients send the master; 400 errors name the field."""

from __future__ import annotations

import re
from typing import Any

from app.errors import InvalidField, InvalidHash, MissingField
from app.metadata.cluster import NodeStats
from app.metadata.repository import FileRecord

# Keys are SHA-256 digests in practice, but the reference registers "test123": any short
# token of safe characters is accepted, nothing that could become a path or markup.
FILE_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
NODE_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_NAME_LENGTH = 1024
MAX_BATCH = 10_000


def parse_file_key(value: Any, field: str = "hash") -> str:
    """Return a valid file key; 400 missing_field or invalid_hash otherwise."""
    if value is None or value == "":
        raise MissingField(field)
    if not isinstance(value, str) or not FILE_KEY_RE.fullmatch(value):
        raise InvalidHash(f"'{field}' must be 1-128 letters, digits, '-' or '_'")
    return value


def parse_record(payload: dict[str, Any], replicas_field: bool = True) -> FileRecord:
    """Check a file description in the reference's FileInfo shape."""
    file_hash = parse_file_key(payload.get("hash"))
    name = payload.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidField("name", f"'name' must be a string of at most {MAX_NAME_LENGTH} chars")
    size = payload.get("size")
    if size is None:
        raise MissingField("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidField("size", "'size' must be a non-negative integer (bytes)")
    replicas: list[str] = []
    if replicas_field:
        raw = payload.get("replicas", [])
        if not isinstance(raw, list) or not all(
            isinstance(r, str) and NODE_ID_RE.fullmatch(r) for r in raw
        ):
            raise InvalidField("replicas", "'replicas' must be a list of node ids such as \"8001\"")
        replicas = raw
    return FileRecord(file_hash, name, size, tuple(replicas))


def parse_node(payload: dict[str, Any]) -> tuple[str, str]:
    """Return (node id, node URL) of a node's report."""
    node_id = payload.get("node")
    if not isinstance(node_id, str) or not NODE_ID_RE.fullmatch(node_id):
        raise InvalidField("node", "'node' must be a node id")
    url = payload.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidField("url", "'url' must be the node's http(s) URL")
    return node_id, url.rstrip("/")


def parse_stats(payload: dict[str, Any]) -> NodeStats:
    """Return the disk figures of a heartbeat (missing ones count as 0)."""
    values = {}
    for key in ("capacity_bytes", "free_bytes", "used_bytes", "files"):
        value = payload.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidField(key, f"'{key}' must be a non-negative integer")
        values[key] = value
    return NodeStats(**values)


def parse_hash_list(payload: dict[str, Any], field: str) -> list[str]:
    """Return a bounded list of file keys."""
    raw = payload.get(field, [])
    if not isinstance(raw, list) or len(raw) > MAX_BATCH:
        raise InvalidField(field, f"'{field}' must be a list of at most {MAX_BATCH} hashes")
    return [parse_file_key(item, field) for item in raw]


def parse_inventory(payload: dict[str, Any]) -> tuple[list[FileRecord], float | None, bool]:
    """Return (files, sync start, complete) of an inventory report."""
    items = payload.get("files", [])
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise InvalidField("files", f"'files' must be a list of at most {MAX_BATCH}")
    if not all(isinstance(item, dict) for item in items):
        raise InvalidField("files", "each entry of 'files' must be an object")
    records = [parse_record(item, replicas_field=False) for item in items]
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
