"""Where `mdbx login` keeps bearer tokens: one per master, in the user's config dir.

The file is created 0600 and replaced atomically, so a token is never readable by other
users, not even for the moment between writing and chmod.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

FILE_NAME = "tokens.json"


def token_file() -> Path:
    """``$XDG_CONFIG_HOME/mdbx/tokens.json`` (``~/.config/mdbx`` by default) on Linux."""
    return Path(click.get_app_dir("mdbx")) / FILE_NAME


def _read() -> dict[str, str]:
    try:
        stored = json.loads(token_file().read_text())
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in stored.items() if isinstance(v, str)} if isinstance(stored, dict) else {}
    )


def _write(tokens: dict[str, str]) -> Path:
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tokens.")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(tokens, out, indent=2)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
    return path


def load_token(master_url: str) -> str | None:
    return _read().get(master_url)


def save_token(master_url: str, token: str) -> Path:
    tokens = _read()
    tokens[master_url] = token
    return _write(tokens)


def forget_token(master_url: str) -> bool:
    tokens = _read()
    if tokens.pop(master_url, None) is None:
        return False
    _write(tokens)
    return True
