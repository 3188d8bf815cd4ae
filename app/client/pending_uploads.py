"""Where ``mdbx put`` keeps the tus uploads it has begun, so that running the same command
after Ctrl+C (or a lost connection) goes on from the master's offset.

One record per (master, remote path, local file as it was: path, size, mtime), in the
user's config dir beside the tokens, 0600 and replaced atomically. A file changed since
starts a new upload: its record no longer matches.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.client.private_files import config_file, read_strings, write_strings

FILE_NAME = "uploads.json"
# Records kept at most: the oldest go first (their uploads expire on the master anyway).
MAX_RECORDS = 256


def pending_file() -> Path:
    return config_file(FILE_NAME)


def upload_key(master_url: str, remote: str, local: Path) -> str:
    """What must be the same for an upload to go on: the target and the local file."""
    info = local.stat()
    return json.dumps([master_url, remote, str(local.resolve()), info.st_size, info.st_mtime_ns])


def find_pending(key: str) -> str | None:
    """The upload's location on the master, if this file's upload was begun."""
    return _read().get(key)


def remember_pending(key: str, location: str) -> None:
    records = _read()
    records.pop(key, None)
    records[key] = location
    _write(dict(list(records.items())[-MAX_RECORDS:]))


def forget_pending(key: str) -> None:
    records = _read()
    if records.pop(key, None) is not None:
        _write(records)


def _read() -> dict[str, str]:
    return read_strings(pending_file())


def _write(records: dict[str, str]) -> None:
    write_strings(pending_file(), records)
