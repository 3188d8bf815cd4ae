"""The web app's login: the session cookie, CSRF on every state-changing request made
with it, the pages' security headers, and the account's sessions."""

from __future__ import annotations

import re

import pytest

from app.factory import create_app
from tests.support.apps import make_client


@pytest.fixture
def web(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False},
    )
    client = make_client(app)
    for name, admin in (("alice", False), ("root", True)):
        added = client.post(
            "/api/admin/users", json={"username": name, "password": f"pw-{name}", "admin": admin}
        )
        assert added.status_code == 200, added.json
    yield client
    app.extensions["mdbx.master"].index.close()


def log_in(client, name="alice", **kwargs):
    return client.post(
        "/login", data={"username": name, "password": f"pw-{name}", "next": "/"}, **kwargs
    )


def csrf_of(page_html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page_html)
    assert found, page_html[:500]
    return found.group(1)


def test_pages_send_the_visitor_to_log_in_first(web):
    reply = web.get("/trash")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/login?next=/trash"
    form = web.get("/login")
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert '<label for="username">Username</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Log in</button>" in html
    policy = form.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_logging_in_sets_a_hardened_cookie(web):
    reply = log_in(web)
    assert reply.status_code == 303 and reply.headers["Location"] == "/"
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("mdbx_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=1209600" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    page = web.get("/")
    assert page.status_code == 200
    assert 'data-view="files"' in page.get_data(as_text=True)


def test_the_cookie_is_secure_under_tls(web):
    reply = log_in(web, base_url="https://localhost")
    assert "Secure" in reply.headers["Set-Cookie"]


def test_a_wrong_password_gets_a_readable_page(web):
    reply = web.post("/login", data={"username": "alice", "password": "nope"})
    assert reply.status_code == 401
    html = reply.get_data(as_text=True)
    assert 'role="alert">wrong username or password<' in html
    assert "Set-Cookie" not in reply.headers
    assert web.get("/").status_code == 303


def test_a_login_posted_from_another_site_is_refused(web):
    reply = log_in(web, headers={"Origin": "https://evil.example"})
    assert reply.status_code == 403
    assert "Set-Cookie" not in reply.headers


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_the_page_after_login_is_always_on_this_site(web, target):
    reply = web.post("/login", data={"username": "alice", "password": "pw-alice", "next": target})
    assert reply.headers["Location"] == "/"


def test_state_changes_with_the_cookie_need_the_csrf_token(web):
    log_in(web)
    token = csrf_of(web.get("/").get_data(as_text=True))
    assert web.get("/api/list").status_code == 200  # reads need no token
    refused = web.post("/api/mkdir", json={"path": "/a"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "csrf_failed"
    forged = web.post("/api/mkdir", json={"path": "/a"}, headers={"X-CSRF-Token": "0" * 64})
    assert forged.json["error"]["code"] == "csrf_failed"
    made = web.post("/api/mkdir", json={"path": "/a"}, headers={"X-CSRF-Token": token})
    assert made.status_code == 200, made.json
    assert [e["name"] for e in web.get("/api/list").json["entries"]] == ["a"]


def test_a_bearer_token_needs_no_csrf_token(web):
    token = web.post("/api/login", json={"username": "alice", "password": "pw-alice"}).json["token"]
    fresh = make_client(web.application)
    made = fresh.post(
        "/api/mkdir", json={"path": "/b"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 200


def test_logging_out_ends_the_session(web):
    log_in(web)
    token = csrf_of(web.get("/").get_data(as_text=True))
    assert web.post("/logout").status_code == 403  # no token: another site's form
    assert web.get("/api/list").status_code == 200
    out = web.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert "mdbx_session=;" in out.headers["Set-Cookie"]
    assert web.get("/api/list").status_code == 401


def test_admin_pages_are_for_administrators(web):
    log_in(web)
    refused = web.get("/admin")
    assert refused.status_code == 403
    assert "for administrators" in refused.get_data(as_text=True)
    assert 'href="/admin"' not in web.get("/").get_data(as_text=True)
    admin = make_client(web.application)
    log_in(admin, "root")
    assert admin.get("/admin").status_code == 200
    assert 'href="/admin/users"' in admin.get("/").get_data(as_text=True)


def test_sessions_are_listed_and_revoked(web):
    log_in(web, headers={"User-Agent": "Browser One"})
    token = csrf_of(web.get("/").get_data(as_text=True))
    other = web.post("/api/login", json={"username": "alice", "password": "pw-alice"}).json["token"]
    listed = web.get("/api/account/sessions").json["sessions"]
    assert [(s["kind"], s["current"]) for s in listed] == [("api", False), ("web", True)]
    assert listed[1]["label"] == "Browser One" and listed[1]["expires_at"] > 0
    bearer = {"Authorization": f"Bearer {other}"}
    revoked = web.delete(
        f"/api/account/sessions/{listed[0]['id']}", headers={"X-CSRF-Token": token}
    )
    assert revoked.status_code == 200
    assert make_client(web.application).get("/api/list", headers=bearer).status_code == 401
    again = web.delete(f"/api/account/sessions/{listed[0]['id']}", headers={"X-CSRF-Token": token})
    assert again.status_code == 404 and again.json["error"]["code"] == "session_not_found"
    bad = web.delete("/api/account/sessions/zz", headers={"X-CSRF-Token": token})
    assert bad.status_code == 400


def test_changing_the_password_ends_every_other_login(web):
    log_in(web)
    token = csrf_of(web.get("/").get_data(as_text=True))
    other = web.post("/api/login", json={"username": "alice", "password": "pw-alice"}).json["token"]
    headers = {"X-CSRF-Token": token}
    wrong = web.post("/api/account/password", json={"old": "x", "new": "y"}, headers=headers)
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "wrong_password"
    changed = web.post(
        "/api/account/password", json={"old": "pw-alice", "new": "new-pw"}, headers=headers
    )
    assert changed.status_code == 200
    assert web.get("/api/list").status_code == 200  # this session stays
    bearer = {"Authorization": f"Bearer {other}"}
    assert make_client(web.application).get("/api/list", headers=bearer).status_code == 401
    fresh = make_client(web.application)
    assert fresh.post("/login", data={"username": "alice", "password": "new-pw"}).status_code == 303


def test_listing_pages_sorts_and_search(web):
    token = web.post("/api/login", json={"username": "alice", "password": "pw-alice"}).json["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for name in ("b", "A", "c_d", "100%"):
        assert web.post("/api/mkdir", json={"path": f"/{name}"}, headers=bearer).status_code == 200
    first = web.get("/api/list?limit=2", headers=bearer).json
    assert [e["name"] for e in first["entries"]] == ["100%", "A"]
    assert (first["total"], first["offset"]) == (4, 0)
    rest = web.get("/api/list?limit=2&offset=2", headers=bearer).json
    assert [e["name"] for e in rest["entries"]] == ["b", "c_d"]
    backwards = web.get("/api/list?order=desc", headers=bearer).json
    assert [e["name"] for e in backwards["entries"]] == ["c_d", "b", "A", "100%"]
    for bad in ("limit=0x1", "limit=5000", "offset=-1", "sort=colour", "order=up"):
        reply = web.get(f"/api/list?{bad}", headers=bearer)
        assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_field", bad
    web.post("/api/mkdir", json={"path": "/b/Abc"}, headers=bearer)
    found = web.get("/api/search?q=a", headers=bearer).json
    assert [e["path"] for e in found["entries"]] == ["/A", "/b/Abc"]
    wildcard = web.get("/api/search?q=%25", headers=bearer).json  # "%" is a character
    assert [e["path"] for e in wildcard["entries"]] == ["/100%"]
    underscore = web.get("/api/search?q=_", headers=bearer).json
    assert [e["path"] for e in underscore["entries"]] == ["/c_d"]
    assert web.get("/api/search?q=", headers=bearer).status_code == 400
