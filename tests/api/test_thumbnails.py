"""GET /api/thumbnail and /s/<token>/thumbnail through the Flask test client, over a real
node: sizes, entity tags and 304, the cache by content, refusals, share links."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.user_master import error, put_file, token_of, user_master


def jpeg(width: int = 400, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def master(tmp_path, dead_url):
    with user_master(tmp_path, dead_url, LOGIN_RATE_LIMIT="3 per minute") as running:
        yield running


@pytest.fixture
def api(master):
    return master[1]


def test_a_thumbnail_is_a_webp_in_the_box_asked_for(api):
    put_file(api, "/photos/a.jpg", jpeg())
    reply = api.get("/api/thumbnail", query_string={"path": "/photos/a.jpg", "size": "64"})
    assert reply.status_code == 200, reply.json
    assert reply.mimetype == "image/webp"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"].startswith("private, max-age=")
    assert Image.open(io.BytesIO(reply.data)).size == (64, 32)
    default = api.get("/api/thumbnail", query_string={"path": "/photos/a.jpg"})
    assert Image.open(io.BytesIO(default.data)).size == (256, 128)


def test_the_entity_tag_gives_304_and_changes_with_content_and_size(api):
    put_file(api, "/a.jpg", jpeg())
    first = api.get("/api/thumbnail?path=/a.jpg&size=256")
    etag = first.headers["ETag"]
    again = api.get("/api/thumbnail?path=/a.jpg&size=256", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    other_size = api.get("/api/thumbnail?path=/a.jpg&size=64", headers={"If-None-Match": etag})
    assert other_size.status_code == 200 and other_size.headers["ETag"] != etag
    put_file(api, "/a.jpg", jpeg(300, 300))  # new content at the same path
    changed = api.get("/api/thumbnail?path=/a.jpg&size=256", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert Image.open(io.BytesIO(changed.data)).size == (256, 256)


def test_one_content_is_one_cached_thumbnail_for_every_name_and_user(master, tmp_path):
    app, api = master
    stored = put_file(api, "/a.jpg", jpeg())
    put_file(api, "/copy of a.jpg", jpeg())
    bob = {"Authorization": f"Bearer {token_of(api, 'bob')}"}
    assert api.put("/api/files/b.jpg", data=jpeg(), headers=bob).status_code == 200
    answers = [
        api.get("/api/thumbnail?path=/a.jpg&size=64"),
        api.get("/api/thumbnail?path=/copy of a.jpg&size=64"),
        api.get("/api/thumbnail?path=/b.jpg&size=64", headers=bob),
    ]
    assert all(a.status_code == 200 for a in answers)
    assert len({a.data for a in answers}) == 1 and len({a.headers["ETag"] for a in answers}) == 1
    kept = list((tmp_path / "master" / "thumbnails").rglob("*.webp"))
    assert [p.name for p in kept] == [f"{stored['hash']}-64.webp"]
    assert kept[0].parent.name == stored["hash"][:2]


def test_bad_sizes_paths_and_callers_are_refused(api):
    put_file(api, "/a.jpg", jpeg())
    assert error(api.get("/api/thumbnail?path=/a.jpg&size=100")) == (400, "invalid_field")
    assert error(api.get("/api/thumbnail?size=64")) == (400, "missing_field")
    assert error(api.get("/api/thumbnail?path=/nope.jpg")) == (404, "path_not_found")
    api.post("/api/mkdir", json={"path": "/folder"})
    assert error(api.get("/api/thumbnail?path=/folder")) == (400, "is_a_directory")
    anonymous = api.get("/api/thumbnail?path=/a.jpg", headers={"Authorization": ""})
    assert error(anonymous) == (401, "missing_credentials")
    bob = {"Authorization": f"Bearer {token_of(api, 'bob')}"}
    assert error(api.get("/api/thumbnail?path=/a.jpg", headers=bob)) == (404, "path_not_found")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"plain text\n"),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("fake.jpg", b"not really a jpeg"),
        ("no-extension", b"\x00\x01\x02 binary"),
    ],
)
def test_what_is_not_a_raster_image_is_415(api, name, data):
    put_file(api, f"/{name}", data)
    assert error(api.get(f"/api/thumbnail?path=/{name}")) == (415, "not_an_image")


def test_sources_over_the_limits_are_413(tmp_path, dead_url):
    overrides = {"THUMBNAIL_MAX_SOURCE_BYTES": 2000, "THUMBNAIL_MAX_PIXELS": 100_000}
    with user_master(tmp_path, dead_url, **overrides) as (_, api):
        noisy = Image.effect_noise((200, 200), 64).convert("RGB")
        out = io.BytesIO()
        noisy.save(out, "PNG")
        put_file(api, "/big.png", out.getvalue())  # over 2000 bytes
        wide = io.BytesIO()
        Image.new("RGB", (1000, 200), "blue").save(wide, "PNG")  # 200,000 pixels
        assert len(wide.getvalue()) <= 2000
        put_file(api, "/wide.png", wide.getvalue())
        put_file(api, "/ok.jpg", jpeg(100, 100))
        assert error(api.get("/api/thumbnail?path=/big.png")) == (413, "image_too_large")
        assert error(api.get("/api/thumbnail?path=/wide.png")) == (413, "image_too_large")
        assert api.get("/api/thumbnail?path=/ok.jpg").status_code == 200


def share(api, path: str, **options) -> str:
    reply = api.post("/api/shares", json={"path": path, **options})
    assert reply.status_code == 200, reply.json
    return reply.json["url"].split("/s/", 1)[1]


def test_a_share_link_shows_its_thumbnail_without_login(api):
    put_file(api, "/a.jpg", jpeg())
    token = share(api, "/a.jpg")
    reply = api.get(f"/s/{token}/thumbnail?size=64", headers={"Authorization": ""})
    assert reply.status_code == 200 and reply.mimetype == "image/webp"
    assert Image.open(io.BytesIO(reply.data)).size == (64, 32)
    assert error(api.get(f"/s/{token}/thumbnail?size=7")) == (400, "invalid_field")
    assert error(api.get("/s/unknown-token/thumbnail")) == (404, "share_not_found")


def test_share_thumbnails_take_the_password_and_count_its_guesses(api):
    put_file(api, "/a.jpg", jpeg())
    token = share(api, "/a.jpg", password="open sesame")

    def thumb(address: str, **headers: str):
        return api.get(
            f"/s/{token}/thumbnail", headers=headers, environ_base={"REMOTE_ADDR": address}
        )

    assert error(thumb("192.0.2.1")) == (401, "missing_credentials")
    assert thumb("192.0.2.1", **{"X-Share-Password": "open sesame"}).status_code == 200
    assert error(thumb("192.0.2.2", **{"X-Share-Password": "guess"})) == (403, "wrong_password")
    # Three guesses of this link (LOGIN_RATE_LIMIT here): the link itself is limited now,
    # through either view.
    assert error(thumb("192.0.2.3", **{"X-Share-Password": "guess"})) == (403, "wrong_password")
    link = api.get(f"/s/{token}?password=open%20sesame", environ_base={"REMOTE_ADDR": "192.0.2.4"})
    assert link.status_code == 429
    assert thumb("192.0.2.5", **{"X-Share-Password": "open sesame"}).status_code == 429
