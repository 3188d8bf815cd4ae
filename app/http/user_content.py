"""How a user's file (or a shared one) is served, so that the app's origin never runs it
(pure Python).

Anyone may upload anything, and ``/api/files/...`` and ``/s/<token>`` answer on the same
origin as the web app: an HTML or SVG file shown there would run its scripts with the
app's cookies. So every answer carries ``X-Content-Type-Options: nosniff`` and a
sandboxing Content-Security-Policy, and is an attachment (saved, not shown) unless the
caller asks ``?inline=1`` and the type is one a browser shows without running anything:
raster images, audio, video, PDF, and text, which is served as ``text/plain`` whatever
its subtype. HTML, SVG, XML, JavaScript and types the name does not tell stay
attachments, served as ``application/octet-stream`` so that no page can load them as a
script, a style or a document either.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.http.blob_headers import attachment_disposition, inline_disposition, mimetype_of

NOSNIFF = ("X-Content-Type-Options", "nosniff")
# A sandboxed document has a unique origin, runs no script and no plugin, submits no
# form; it may still show its own pixels and media, and the web app (and only it) may
# frame it for a preview.
SANDBOX_POLICY = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'self'"
)
# Browsers show a PDF with a viewer of their own that a sandboxed document may not load
# (Chrome then shows "blocked"), so a PDF shown inline loses only ``sandbox``: the
# viewer runs the document's scripts, if at all, in its own sandbox, not in the page.
PDF_POLICY = "default-src 'none'; object-src 'self'; frame-ancestors 'self'"
# Cached by the browser but checked every time (an ETag match is a 304): the same path
# may hold other content tomorrow, a link may be revoked, and no shared cache may keep
# one user's bytes.
USER_CACHE_CONTROL = "private, no-cache"

RASTER_IMAGES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/avif",
        "image/apng",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)
PDF = "application/pdf"
PLAIN_TEXT = "text/plain; charset=utf-8"
# text/* types that a browser would run or style, not show.
_ACTIVE_TEXT = frozenset(
    {"text/html", "text/xml", "text/xsl", "text/javascript", "text/ecmascript", "text/x-sgml"}
)
UNSAFE_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Presentation:
    """The headers of a user file's answer that depend on its name and on ``inline``."""

    mimetype: str
    disposition: str
    headers: tuple[tuple[str, str], ...]


def is_safe_to_show(mimetype: str) -> bool:
    """Whether a browser shows this type without running anything of it."""
    return (
        mimetype in RASTER_IMAGES
        or mimetype == PDF
        or mimetype.startswith(("audio/", "video/"))
        or (mimetype.startswith("text/") and mimetype not in _ACTIVE_TEXT)
    )


def present(name: str, *, inline: bool) -> Presentation:
    """How the file ``name`` is served: shown only if asked and safe, else saved."""
    guessed = mimetype_of(name)
    safe = is_safe_to_show(guessed)
    mimetype = guessed if safe else UNSAFE_TYPE
    if mimetype.startswith("text/"):
        # Nothing records a text file's encoding; UTF-8 is what most are, and an
        # explicit charset stops a browser from guessing one (UTF-7 tricks).
        mimetype = PLAIN_TEXT
    show = inline and safe
    policy = PDF_POLICY if show and guessed == PDF else SANDBOX_POLICY
    return Presentation(
        mimetype,
        inline_disposition(name) if show else attachment_disposition(name),
        (NOSNIFF, ("Content-Security-Policy", policy)),
    )
