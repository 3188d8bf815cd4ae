"""The recipient's page of a share link through the Flask test client: browsers get a
page (the password form when needed, a readable page when the link does not open),
curl and ``?download=1`` get the bytes, and the form's password becomes a grant in a
cookie scoped to the link."""

from __future__ import annotations

import time

import pytest

from app.metadata.accounts import UserStore
from app.metadata.namespace import NamespaceStore
from tests.api.test_shares import EMPTY, GUESSES, make_api, share

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture
def api(tmp_path):
    # Room for the guesses these tests make on purpose (the limit's own test: below).
    app, client = make_api(tmp_path, LOGIN_RATE_LIMIT="50 per minute")
    engine = app.extensions["mdbx.master"].store.engine
    alice = UserStore(engine).get("alice").id
    NamespaceStore(engine).put_file(alice, "/<img src=x onerror=alert(1)>.txt", EMPTY, 0, 0)
    yield client
    app.extensions["mdbx.master"].index.close()


def visit(client, token: str, accept: str = BROWSER, **kwargs):
    return client.get(f"/s/{token}", headers={"Accept": accept}, **kwargs)


def test_a_browser_gets_the_page_and_curl_gets_the_bytes(api):
    token = share(api)
    page = visit(api, token)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "empty.txt" in html and "0 B" in html
    assert f'href="/s/{token}?download=1"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    for accept in ("*/*", "application/octet-stream", "image/webp,*/*;q=0.8"):
        raw = visit(api, token, accept)
        assert (raw.status_code, raw.mimetype, raw.data) == (200, "text/plain", b""), accept
        assert raw.headers["ETag"] == f'"{EMPTY}"'
    no_accept = api.get(f"/s/{token}")
    assert (no_accept.status_code, no_accept.data) == (200, b"")  # no Accept: the bytes
    downloaded = visit(api, token, query_string={"download": "1"})
    assert downloaded.status_code == 200 and downloaded.mimetype == "text/plain"


def test_names_are_escaped_on_the_page(api):
    reply = api.post("/api/shares", json={"path": "/<img src=x onerror=alert(1)>.txt"})
    html = visit(api, reply.json["token"]).get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.txt" in html


def test_the_password_form_gives_a_grant_scoped_to_the_link(api):
    token = share(api, password="open sesame")
    asked = visit(api, token)
    assert asked.status_code == 401
    html = asked.get_data(as_text=True)
    assert 'type="password"' in html and "empty.txt" not in html  # nothing shown before
    wrong = api.post(f"/s/{token}", data={"password": "guess"}, headers={"Accept": BROWSER})
    assert wrong.status_code == 403 and "not right" in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers

    given = api.post(f"/s/{token}", data={"password": "open sesame"})
    assert given.status_code == 303 and given.headers["Location"] == f"/s/{token}"
    cookie = given.headers["Set-Cookie"]
    assert f"Path=/s/{token}" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "open sesame" not in cookie and "open%20sesame" not in cookie
    opened = visit(api, token)
    assert opened.status_code == 200 and "empty.txt" in opened.get_data(as_text=True)
    assert visit(api, token, "*/*").status_code == 200  # the download with the grant
    # The page's preview passes with the grant too (this file is no image: 415, not 401).
    thumbnail = api.get(f"/s/{token}/thumbnail?size=256")
    assert (thumbnail.status_code, thumbnail.json["error"]["code"]) == (415, "not_an_image")
    # Another link is not opened by this one's grant, nor is a forged grant taken.
    other = share(api, password="other")
    grant = api.get_cookie("mdbx_share", path=f"/s/{token}").value
    api.set_cookie("mdbx_share", grant, path=f"/s/{other}")
    assert visit(api, other, "*/*").status_code == 401
    expires = grant.split(".")[0]
    api.set_cookie("mdbx_share", f"{expires}.{'0' * 64}", path=f"/s/{token}")
    assert visit(api, token, "*/*").status_code == 401
    assert api.get(f"/s/{token}/thumbnail?size=256").status_code == 401
    api.set_cookie("mdbx_share", f"{int(time.time()) - 5}.{'0' * 64}", path=f"/s/{token}")
    assert visit(api, token).status_code == 401
    # curl's ways still work.
    assert visit(api, token, "*/*", query_string={"password": "open sesame"}).status_code == 200
    header = api.get(f"/s/{token}", headers={"X-Share-Password": "open sesame"})
    assert header.status_code == 200


def test_guesses_through_the_form_are_limited(tmp_path):
    app, api = make_api(tmp_path)
    token = share(api, password="open sesame")
    for _ in range(GUESSES - 1):
        guessed = api.post(f"/s/{token}", data={"password": "guess"})
        assert guessed.status_code == 403
    for _ in range(GUESSES):  # looking at the form guesses nothing
        assert visit(api, token).status_code == 401
    assert api.post(f"/s/{token}", data={"password": "guess"}).status_code == 403
    limited = api.post(f"/s/{token}", data={"password": "open sesame"})
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limit_exceeded"  # curl keeps JSON
    # A browser gets the page saying so, with the same status and Retry-After.
    for page in (
        api.post(f"/s/{token}", data={"password": "open sesame"}, headers={"Accept": BROWSER}),
        visit(api, token),
    ):
        assert (page.status_code, page.mimetype) == (429, "text/html")
        html = page.get_data(as_text=True)
        assert "Too many attempts" in html and "wait a minute" in html
        assert int(page.headers["Retry-After"]) > 0
        assert page.headers["Referrer-Policy"] == "no-referrer"
    thumbnail = api.get(f"/s/{token}/thumbnail", headers={"Accept": "image/webp,*/*"})
    assert (thumbnail.status_code, thumbnail.mimetype) == (429, "application/json")
    app.extensions["mdbx.master"].index.close()


def test_links_that_do_not_open_are_readable_pages_for_browsers_json_for_others(api):
    expired = share(api, expires_in=0)
    time.sleep(0.01)
    page = visit(api, expired)
    assert page.status_code == 410 and "has expired" in page.get_data(as_text=True)
    raw = visit(api, expired, "*/*")
    assert (raw.status_code, raw.json["error"]["code"]) == (410, "share_expired")
    revoked = share(api)
    assert api.delete(f"/api/shares/{revoked}").status_code == 200
    page = visit(api, revoked)
    assert page.status_code == 404 and "does not work" in page.get_data(as_text=True)
    assert visit(api, revoked, "*/*").json["error"]["code"] == "share_not_found"
