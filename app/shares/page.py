"""What the recipient's page of a share link shows: the file and its preview, or why the
link does not open (its password form among those)."""

from __future__ import annotations

from typing import Any

from app.errors import AppError
from app.http.blob_headers import mimetype_of
from app.userfiles.interface import Download

# The first part of a text file shown on the page: enough to recognise it, little to read.
TEXT_EXCERPT = 16_384
# Raster images the thumbnailer reads (never SVG: it is a document that may run script).
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)
TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-sh"}
)
PASSWORD_CODES = frozenset({"missing_credentials", "wrong_password"})
TITLES = {
    404: "This link does not work",
    410: "This link has expired",
    403: "This link is not available",
    429: "Too many attempts",
}
UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def format_bytes(count: int) -> str:
    """As the web app's pages write sizes (js/format.js): powers of 1000."""
    value, unit = float(count), 0
    while value >= 1000 and unit < len(UNITS) - 1:
        value /= 1000
        unit += 1
    digits = 0 if unit == 0 or value >= 100 else 1
    return f"{value:.{digits}f} {UNITS[unit]}"


def page_of(token: str, download: Download) -> dict[str, Any]:
    """The page of an open link: name, size, the kind of preview and its source."""
    mimetype = mimetype_of(download.name)
    link = f"/s/{token}"
    values: dict[str, Any] = {
        "state": "file",
        "name": download.name,
        "size": format_bytes(download.size),
        "mimetype": mimetype,
        "download_url": f"{link}?download=1",
        "preview": None,
        "title": download.name,
    }
    if mimetype in IMAGE_TYPES:
        values.update(preview="image", preview_url=f"{link}/thumbnail?size=1024")
    elif mimetype.startswith(("audio/", "video/")):
        values.update(preview=mimetype.split("/")[0], preview_url=f"{link}?download=1&inline=1")
    elif mimetype == "application/pdf":
        values.update(preview="pdf", preview_url=f"{link}?download=1&inline=1")
    elif mimetype.startswith("text/") or mimetype in TEXT_TYPES:
        excerpt = _text_excerpt(download)
        if excerpt is not None:
            values.update(preview="text", excerpt=excerpt, cut=download.size > TEXT_EXCERPT)
    return values


def refusal_of(token: str, error: AppError) -> dict[str, Any]:
    """The page of a link that does not open: its password form (asked for, or given
    wrong), or what went wrong."""
    if error.code in PASSWORD_CODES:
        wrong = error.code == "wrong_password"
        return {
            "state": "password",
            "action": f"/s/{token}",
            "error": "That password is not right. Try again." if wrong else None,
            "title": "Password needed",
        }
    return {
        "state": "refused",
        "title": TITLES.get(error.status, "This link does not open"),
        "message": error.message,
        "status": error.status,
    }


def _text_excerpt(download: Download) -> str | None:
    """The start of a text file as text (undecodable bytes replaced), or None for bytes
    that are no text (a NUL among them)."""
    chunks = download.read(0, min(download.size, TEXT_EXCERPT))
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if b"\x00" in data:
        return None
    return data.decode("utf-8", errors="replace")
