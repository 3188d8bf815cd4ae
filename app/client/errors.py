"""What the Python client raises: every failure is a ``ClientError``.

Errors::

    ClientError             the cluster answered with an error (``status``, ``code``)
    ├── MasterUnreachable   no answer from the master (refused, timed out, unknown host)
    ├── FileNotFound        404: no file under that hash, name or prefix
    ├── AmbiguousName       a name or prefix matches several files (``candidates``)
    ├── NoReplica           no replica could serve the file's bytes
    └── NotLoggedIn         an account command without a valid token (``mdbx login``)
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """The cluster answered with an error, or no replica could serve a file."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        # The error body's other fields (``missing`` of a blocks_missing).
        self.details = details or {}


class MasterUnreachable(ClientError):
    """The master did not answer at all."""


class FileNotFound(ClientError, LookupError):
    """No file is registered under that hash, name or prefix."""


class AmbiguousName(ClientError, LookupError):
    """A name or hash prefix matches more than one file."""

    def __init__(self, ref: str, candidates: list[str]) -> None:
        super().__init__(f"'{ref}' matches {len(candidates)} files: " + ", ".join(candidates))
        self.candidates = candidates


class NoReplica(ClientError):
    """Every replica was down, failed, or sent bytes that do not match the hash."""


class NotLoggedIn(ClientError):
    """No token for this master, or the master no longer takes it (401)."""
