"""The rules of what a user or an administrator gives the service: names, passwords,
byte counts and durations, version numbers (paths: ``app.userfiles.paths``).

Each check takes whatever it is given (a JSON value may be of any type) and returns the
typed value, or raises the 400 that names the field. Front ends parse with them, so that
a bad value gets the same answer from each; the service checks again what it is given,
as it trusts no front end to have done so (the checks of a valid value are no-ops).
"""

from __future__ import annotations

from app.errors import InvalidField, MissingField
from app.http.jsonbody import INT64_MAX

NAME_PATTERN = "letters, digits, '.', '_' or '-', 1 to 64 characters"
MAX_PASSWORD = 1024


def valid_username(value: object) -> str:
    """A user's name: ASCII letters, digits, '.', '_' or '-', 1 to 64 of them."""
    if value is None or value == "":
        raise MissingField("username")
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 64
        or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in value)
    ):
        raise InvalidField("username", f"'username' must be {NAME_PATTERN}")
    return value


def valid_password(value: object, field: str = "password") -> str:
    """A password (of an account or a share link): any text up to MAX_PASSWORD chars."""
    if value is None or value == "":
        raise MissingField(field)
    if not isinstance(value, str) or len(value) > MAX_PASSWORD:
        raise InvalidField(field, f"'{field}' must be a string of at most {MAX_PASSWORD} chars")
    return value


def valid_quota(value: object) -> int | None:
    """A quota in bytes (0: no limit), or None when not given; a fraction is cut off."""
    count = _count(value, "quota_bytes")
    return None if count is None else int(count)


def valid_lifetime(value: object) -> float | None:
    """How long a share link lasts, in seconds, or None when it does not expire."""
    return _count(value, "expires_in")


def _count(value: object, field: str) -> float | None:
    """A number from 0 to INT64_MAX, or None: it goes to a BIGINT column, or is added
    to a time."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= INT64_MAX:
        raise InvalidField(field, f"'{field}' must be a number from 0 to {INT64_MAX}")
    return value


def valid_version(value: object) -> int:
    """A file's version number (as /api/versions lists them)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField("version", "'version' must be a version number from /api/versions")
    return value


def valid_trash_id(value: object) -> str:
    """A trash entry's id (as /api/trash lists them)."""
    if not isinstance(value, str):
        raise InvalidField("trash_id", "'trash_id' must be a string from GET /api/trash")
    return value
