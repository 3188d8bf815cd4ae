"""Where `mdbx login` keeps bearer tokens: one per master, in the user's config dir.

The file is created 0600 and replaced atomically, so a token is never readable by other
users, not even for the moment between writing and chmod.
"""

from __future__ import annotations

from pathlib import Path

from app.client.private_files import config_file, read_strings, write_strings

FILE_NAME = "tokens.json"
# The master a command talks to unless told (--master, MDBX_MASTER): here, beside the
# tokens kept per master, so that `mdbx --help` shows it without loading the client.
DEFAULT_MASTER = "http://127.0.0.1:9000"


def token_file() -> Path:
    """``$XDG_CONFIG_HOME/mdbx/tokens.json`` (``~/.config/mdbx`` by default) on Linux."""
    return config_file(FILE_NAME)


def _read() -> dict[str, str]:
    return read_strings(token_file())


def _write(tokens: dict[str, str]) -> Path:
    path = token_file()
    write_strings(path, tokens)
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
