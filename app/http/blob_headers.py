"""The headers of a blob's answer, for the Flask views and the node's overlay (pure Python).

A content address names exactly one sequence of bytes, so a blob's answer is the same
whichever loop sends it: ``blob_headers`` spells it once for ``app.http.blobs`` (Flask)
and ``app.node.overlay`` (the connection loop). Requests that carry one of the
conditional fields are the Flask views' (206, 304, 416 and If-Range live there).
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

# Cache it for a year, never revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"

# The fields of a conditional or ranged GET: as WSGI names them, and as the overlay
# sees them (lower-cased bytes).
CONDITIONAL_HEADERS = (
    "HTTP_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_RANGE",
)
CONDITIONAL_FIELDS = tuple(
    key.removeprefix("HTTP_").lower().replace("_", "-").encode() for key in CONDITIONAL_HEADERS
)


def blob_headers(
    digest: str,
    name: str,
    *,
    mimetype: str | None = None,
    length: int | None = None,
    cache_control: str = IMMUTABLE,
    disposition: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> list[tuple[str, str]]:
    """The headers of blob (or file) ``digest`` served under ``name``; Content-Type and
    Content-Length when given (a 304 has neither); ``inline`` unless ``disposition``
    says otherwise; then ``extra``.

    A blob's type is the one guessed from the name, without a charset: stored bytes are
    served as they are, and nothing says which encoding a text file was written in.
    (A user's file is served as ``app.http.user_content`` decides.)
    """
    headers = []
    if mimetype is not None:
        headers.append(("Content-Type", mimetype))
    if length is not None:
        headers.append(("Content-Length", str(length)))
    headers += [
        ("ETag", f'"{digest}"'),
        ("Cache-Control", cache_control),
        ("Accept-Ranges", "bytes"),
        ("Content-Disposition", disposition or inline_disposition(name)),
        *extra,
    ]
    return headers


def mimetype_of(name: str) -> str:
    """The Content-Type a blob or file is served with: the one its name suggests."""
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def inline_disposition(name: str) -> str:
    """Content-Disposition ``inline`` with ``name``: an ASCII fallback and the UTF-8 name."""
    return _disposition("inline", name)


def attachment_disposition(name: str) -> str:
    """Content-Disposition ``attachment`` (save, do not show) with ``name``."""
    return _disposition("attachment", name)


def _disposition(kind: str, name: str) -> str:
    fallback = name.encode("ascii", "replace").decode().replace("\\", "_").replace('"', "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
