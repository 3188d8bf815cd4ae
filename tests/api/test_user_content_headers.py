"""GET /api/files/<path> and /s/<token> never let the app's origin run a user's file:
nosniff, a sandboxing policy, attachments unless ``?inline=1`` and the type is safe to
show; Range, ETag and 304 still work (a <video> seeks with 206)."""

from __future__ import annotations

import pytest

from app.http.user_content import PDF_POLICY, SANDBOX_POLICY
from tests.support.user_master import put_file, user_master

BODY = bytes(range(256)) * 300  # 76,800 bytes: two blocks of the test master


@pytest.fixture
def api(tmp_path, dead_url):
    with user_master(tmp_path, dead_url) as (_, client):
        yield client


def share(api, path: str) -> str:
    reply = api.post("/api/shares", json={"path": path})
    assert reply.status_code == 200, reply.json
    return reply.json["url"].split("/s/", 1)[1]


def both_urls(api, path: str) -> list[str]:
    """The file's own URL and a share link's: one rule serves both."""
    return [f"/api/files{path}", f"/s/{share(api, path)}"]


# name -> (type served inline, whether ?inline=1 shows it)
TYPES = {
    "photo.jpg": ("image/jpeg", True),
    "icon.png": ("image/png", True),
    "clip.mp4": ("video/mp4", True),
    "song.mp3": ("audio/mpeg", True),
    "paper.pdf": ("application/pdf", True),
    "notes.txt": ("text/plain; charset=utf-8", True),
    "data.csv": ("text/plain; charset=utf-8", True),
    "script.py": ("text/plain; charset=utf-8", True),
    "page.html": ("application/octet-stream", False),
    "page.htm": ("application/octet-stream", False),
    "drawing.svg": ("application/octet-stream", False),
    "feed.xml": ("application/octet-stream", False),
    "app.js": ("application/octet-stream", False),
    "page.xhtml": ("application/octet-stream", False),
    "no-extension": ("application/octet-stream", False),
    "archive.weird-ext": ("application/octet-stream", False),
}


@pytest.mark.parametrize(("name", "expected"), TYPES.items(), ids=TYPES.keys())
def test_headers_per_type(api, name, expected):
    mimetype, shown = expected
    put_file(api, f"/{name}", b"<script>alert(document.cookie)</script>")
    for url in both_urls(api, f"/{name}"):
        saved = api.get(url)
        assert saved.status_code == 200
        assert saved.headers["X-Content-Type-Options"] == "nosniff"
        assert saved.headers["Content-Security-Policy"] == SANDBOX_POLICY
        assert saved.headers["Content-Disposition"].startswith("attachment; filename=")
        assert saved.headers["Content-Type"] == mimetype
        assert saved.headers["Cache-Control"] == "private, no-cache"
        asked = api.get(url, query_string={"inline": "1"})
        assert asked.headers["X-Content-Type-Options"] == "nosniff"
        assert asked.headers["Content-Type"] == mimetype
        disposition = asked.headers["Content-Disposition"]
        assert disposition.startswith("inline;" if shown else "attachment;"), disposition
        policy = PDF_POLICY if name.endswith(".pdf") else SANDBOX_POLICY
        assert asked.headers["Content-Security-Policy"] == policy
        assert "sandbox" in SANDBOX_POLICY and "'none'" in policy


@pytest.mark.parametrize("name", ["evil.html", "evil.svg", "Evil.SVG", "evil.svgz", "x.html.txt"])
def test_html_and_svg_are_never_served_inline(api, name):
    payload = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    put_file(api, f"/{name}", payload)
    for url in both_urls(api, f"/{name}"):
        for inline in ("1", "true", None):
            reply = api.get(url, query_string={"inline": inline} if inline else None)
            assert reply.status_code == 200 and reply.data == payload
            served = reply.headers["Content-Type"]
            assert "html" not in served and "svg" not in served and "xml" not in served
            if name.endswith(".txt") and inline == "1":
                # A text file is shown, as text: the browser renders no markup of it.
                assert served == "text/plain; charset=utf-8"
                assert reply.headers["Content-Disposition"].startswith("inline;")
            else:
                assert reply.headers["Content-Disposition"].startswith("attachment;")
            assert reply.headers["Content-Security-Policy"].startswith("sandbox;")


def test_range_gives_206_with_the_same_safe_headers(api):
    put_file(api, "/clip.mp4", BODY)
    for url in both_urls(api, "/clip.mp4"):
        part = api.get(url, query_string={"inline": "1"}, headers={"Range": "bytes=70000-70099"})
        assert part.status_code == 206
        assert part.data == BODY[70000:70100]
        assert part.headers["Content-Range"] == f"bytes 70000-70099/{len(BODY)}"
        assert part.headers["Content-Type"] == "video/mp4"
        assert part.headers["Content-Disposition"].startswith("inline;")
        assert part.headers["X-Content-Type-Options"] == "nosniff"
        assert part.headers["Accept-Ranges"] == "bytes"
        tail = api.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.data == BODY[-10:]
        outside = api.get(url, headers={"Range": f"bytes={len(BODY)}-"})
        assert outside.status_code == 416


def test_etag_and_304_keep_working(api):
    stored = put_file(api, "/photo.jpg", BODY)
    for url in both_urls(api, "/photo.jpg"):
        whole = api.get(url)
        assert whole.data == BODY and whole.headers["ETag"] == f'"{stored["hash"]}"'
        cached = api.get(url, headers={"If-None-Match": whole.headers["ETag"]})
        assert cached.status_code == 304 and cached.data == b""
        assert cached.headers["X-Content-Type-Options"] == "nosniff"
        assert cached.headers["Cache-Control"] == "private, no-cache"


def test_unicode_names_keep_their_name_in_the_attachment(api):
    put_file(api, "/résumé 100%.pdf", b"%PDF-1.4\n")
    disposition = api.get("/api/files/résumé 100%.pdf").headers["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"r?sum? 100%.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20100%25.pdf"
    )
