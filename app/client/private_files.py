"""The client's small private files (tokens, uploads begun) in the user's config dir: a
JSON object of strings, created 0600 and replaced atomically, so that its contents are
never readable by other users, not even between writing and chmod."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click


def config_file(name: str) -> Path:
    """``$XDG_CONFIG_HOME/mdbx/<name>`` (``~/.config/mdbx`` by default) on Linux."""
    return Path(click.get_app_dir("mdbx")) / name


def read_strings(path: Path) -> dict[str, str]:
    """The file's string values by key; empty when it is missing or not such an object."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, str)}


def write_strings(path: Path, values: dict[str, str]) -> None:
    """Replace the file with ``values``, 0600 from its first byte (mkstemp's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(values, out, indent=1)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
