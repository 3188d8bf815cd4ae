"""POST /seedream/generate through the Flask test client, against real loopback servers.

The upstream is the fake Seedream server; the storage node is a real node app served by
werkzeug on loopback, so generated images are really stored, replicated and downloadable.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from pathlib import Path

import pytest
import requests
from PIL import Image
from urllib3 import encode_multipart_formdata

from app.config import ConfigError
from app.factory import create_app
from app.seedream.form import MAX_FORM_BYTES, MAX_PROMPT_CHARS
from tests.support.apps import lone_node_app, make_client, serve_app
from tests.support.fake_seedream import FakeSeedream

KEY = "sk-api-test-5b0e1c9d7a"
NODE_ID = "n1"
T2I = "seedream-3-0-t2i-250415"
EDIT = "seededit-3-0-i2i-250628"


@pytest.fixture
def fake():
    with FakeSeedream(api_key=KEY) as server:
        yield server


@pytest.fixture
def node_url(tmp_path: Path, dead_url: str):
    """A real storage node on loopback (its master is unreachable: copies stay local)."""
    with serve_app(lone_node_app(tmp_path / "node", dead_url, NODE_ID)) as url:
        yield url


def build_master(tmp_path: Path, **config):
    # One node in these tests: one copy is a complete write.
    settings = {
        "DATA_DIR": str(tmp_path / "master"),
        "BACKGROUND_TASKS": False,
        "REPLICATION": 1,
    }
    return create_app("master", settings | config)


def master_config(tmp_path: Path) -> dict:
    """Build a master from the environment and return its resolved config."""
    master = build_master(tmp_path)
    master.extensions["mdbx.master"].index.close()
    return dict(master.config)


@pytest.fixture
def app(tmp_path, fake, node_url):
    master = build_master(
        tmp_path,
        SEEDREAM_API_KEY=KEY,
        SEEDREAM_BASE_URL=fake.base_url,
        SEEDREAM_TIMEOUT=1.0,
        SEEDREAM_RETRIES=1,
    )
    client = make_client(master)
    # The node's heartbeat: the master now counts it as live.
    assert client.post("/nodes/inventory", json={"node": NODE_ID, "url": node_url}).status_code
    yield master
    master.extensions["mdbx.master"].index.close()


@pytest.fixture
def client(app):
    return make_client(app)


def image_bytes(size=(64, 48), fmt="PNG", color=(200, 40, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def generate(client, fields=None, files=None):
    """POST a multipart form encoded as requests/curl would send it.

    Encoded here rather than by the test client, which spools big bodies to a temp file
    that it never closes (a ResourceWarning, hence an error, under filterwarnings).
    """
    parts = list((fields or {}).items())
    parts += [(name, (f"{name}.png", content)) for name, content in (files or {}).items()]
    body, content_type = encode_multipart_formdata(parts)
    return client.post("/seedream/generate", data=body, content_type=content_type)


def error_of(response):
    return response.json["error"]


def download(client, url: str) -> bytes:
    """Follow the master's /download redirect to the node and return the bytes."""
    redirect = client.get(url)
    assert redirect.status_code == 302
    got = requests.get(redirect.headers["Location"], timeout=10)
    assert got.status_code == 200
    return got.content


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- configuration -------------------------------------------------------------------


def test_without_a_key_generate_is_503_and_health_says_not_configured(tmp_path, fake):
    master = build_master(tmp_path, SEEDREAM_BASE_URL=fake.base_url)
    client = make_client(master)
    response = generate(client, {"prompt": "a cat"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "seedream_not_configured"
    assert "SEEDREAM_API_KEY" in error_of(response)["message"]
    assert client.get("/health").json["seedream"] == "not configured"
    assert client.get("/list").status_code == 200  # the rest of the master works
    assert fake.requests == []
    master.extensions["mdbx.master"].index.close()


def test_health_says_configured_with_a_key(client):
    body = client.get("/health").json
    assert body["seedream"] == "configured"
    assert KEY not in json.dumps(body)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"ARK_API_KEY": "ark"}, "ark"),
        ({"ARK_API_KEY": "ark", "SEEDREAM_API_KEY": "seedream"}, "seedream"),
        ({"SEEDREAM_API_KEY": "seedream", "MDBX_SEEDREAM_API_KEY": "mdbx"}, "mdbx"),
        ({"SEEDREAM_API_KEY": "", "ARK_API_KEY": "ark"}, "ark"),
    ],
)
def test_key_precedence_ark_then_seedream_then_mdbx(tmp_path, monkeypatch, environment, expected):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    master = build_master(tmp_path)
    assert master.config["SEEDREAM_API_KEY"] == expected
    assert make_client(master).get("/health").json["seedream"] == "configured"
    master.extensions["mdbx.master"].index.close()


def test_base_url_and_model_from_unprefixed_environment(tmp_path, monkeypatch, fake):
    monkeypatch.setenv("SEEDREAM_BASE_URL", fake.base_url + "/")
    monkeypatch.setenv("SEEDREAM_MODEL", T2I)
    config = master_config(tmp_path)
    assert config["SEEDREAM_BASE_URL"] == fake.base_url
    assert config["SEEDREAM_MODEL"] == T2I
    assert config["SEEDREAM_API_KEY"] == ""


def test_unprefixed_environment_ranks_between_toml_and_mdbx(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "master.toml").write_text('SEEDREAM_MODEL = "from-toml"\nSEEDREAM_RETRIES = 5\n')
    monkeypatch.setenv("MDBX_CONF_DIR", str(conf))
    assert master_config(tmp_path)["SEEDREAM_MODEL"] == "from-toml"
    monkeypatch.setenv("SEEDREAM_MODEL", "from-env")
    assert master_config(tmp_path)["SEEDREAM_MODEL"] == "from-env"
    monkeypatch.setenv("MDBX_SEEDREAM_MODEL", "from-mdbx-env")
    config = master_config(tmp_path)
    assert config["SEEDREAM_MODEL"] == "from-mdbx-env"
    assert config["SEEDREAM_RETRIES"] == 5


def test_invalid_base_url_is_a_startup_error_naming_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDREAM_BASE_URL", "ark.example.com/api/v3")
    with pytest.raises(ConfigError, match="SEEDREAM_BASE_URL.*environment SEEDREAM_BASE_URL"):
        build_master(tmp_path)


# -- the reference calls and what gets stored -----------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_reference_calls_store_each_image_and_answer_download_urls(client, fake, count):
    references = {f"image{i + 1}": image_bytes(color=(i * 90, 30, 60)) for i in range(count)}
    prompt = "Ultra-realistic portrait of a smiling person"
    response = generate(client, {"prompt": prompt}, references)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["model"] == "seedream-4-0-250828"
    assert body["usage"]["generated_images"] == 1
    assert isinstance(body["created"], int)
    [image] = body["images"]
    assert image["name"] == "seedream-ultra-realistic-portrait-of-a-smiling-1.jpeg"
    assert image["size"] == "2048x2048"
    assert image["download_url"] == f"http://localhost/download?hash={image['hash']}"
    data = download(client, image["download_url"])
    assert hashlib.sha256(data).hexdigest() == image["hash"]
    assert len(data) == image["bytes"]
    assert client.get(f"/get?hash={image['hash']}").json["replicas"] == [NODE_ID]

    sent = fake.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.json["response_format"] == "b64_json"
    assert sent.json["watermark"] is False
    assert "stream" not in sent.json
    uris = [] if count == 0 else [sent.json["image"]] if count == 1 else sent.json["image"]
    assert uris == [
        "data:image/png;base64," + base64.b64encode(content).decode()
        for content in references.values()
    ]


def test_optional_fields_reach_the_api(client, fake):
    response = generate(
        client,
        {"prompt": "four seasons", "size": "2560x1440", "watermark": "true", "max_images": "3"},
    )
    assert response.status_code == 200
    assert [image["index"] for image in response.json["images"]] == [0, 1, 2]
    assert len({image["hash"] for image in response.json["images"]}) == 3
    assert {image["size"] for image in response.json["images"]} == {"2560x1440"}
    sent = fake.requests[-1].json
    assert sent["size"] == "2560x1440"
    assert sent["watermark"] is True
    assert sent["sequential_image_generation"] == "auto"
    assert sent["sequential_image_generation_options"] == {"max_images": 3}


def test_seed_and_guidance_scale_for_a_model_that_takes_them(client, fake):
    fields = {"prompt": "a lighthouse", "model": T2I, "seed": "42", "guidance_scale": "2.5"}
    first = generate(client, fields)
    second = generate(client, fields)
    assert first.status_code == second.status_code == 200
    assert first.json["images"][0]["hash"] == second.json["images"][0]["hash"]  # same seed
    sent = fake.requests[-1].json
    assert (sent["model"], sent["seed"], sent["guidance_scale"]) == (T2I, 42, 2.5)
    assert first.json["images"][0]["size"] == "64x48"  # 3.0 reports no size: read from bytes


def test_a_failed_group_item_is_reported_and_the_others_stored(client, fake):
    fake.fail_item(1)
    response = generate(client, {"prompt": "a comic strip", "max_images": "3"})
    assert response.status_code == 200
    first, failed, third = response.json["images"]
    assert failed == {
        "index": 1,
        "error": {
            "code": "OutputImageSensitiveContentDetected",
            "message": "The request failed because the output image may contain "
            "sensitive information.",
        },
    }
    assert first["name"].endswith("-1.jpeg") and third["name"].endswith("-3.jpeg")
    assert response.json["usage"]["generated_images"] == 2


def test_stored_reference_by_hash(client, fake, node_url):
    reference = image_bytes(color=(1, 2, 3))
    uploaded = requests.post(
        f"{node_url}/upload", files={"file": ("ref.png", reference)}, timeout=10
    ).json()
    record = {"hash": uploaded["hash"], "name": "ref.png", "size": len(reference)}
    client.post("/register", json=record | {"replicas": [NODE_ID]})
    response = generate(
        client,
        {"prompt": "Create a stylized variant of this person", "image1_hash": uploaded["hash"]},
        {"image2": image_bytes(color=(9, 9, 9))},
    )
    assert response.status_code == 200, response.json
    first, second = fake.requests[-1].json["image"]
    assert first == "data:image/png;base64," + base64.b64encode(reference).decode()
    assert second.startswith("data:image/png;base64,")


def test_without_live_nodes_nothing_is_generated(tmp_path, fake):
    master = build_master(tmp_path, SEEDREAM_API_KEY=KEY, SEEDREAM_BASE_URL=fake.base_url)
    response = generate(make_client(master), {"prompt": "a cat"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "no_live_nodes"
    assert fake.requests == []
    master.extensions["mdbx.master"].index.close()


# -- validation before any quota is spent ---------------------------------------------


@pytest.mark.parametrize(
    ("fields", "files", "code", "field"),
    [
        ({}, {}, "missing_field", "prompt"),
        ({"prompt": "   "}, {}, "missing_field", "prompt"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, {}, "prompt_too_long", "prompt"),
        ({"prompt": "a", "max_image": "2"}, {}, "unknown_field", "max_image"),
        ({"prompt": "a", "image1": "ref.jpg"}, {}, "invalid_field", "image1"),
        ({"prompt": "a"}, {"image1": b"not an image"}, "invalid_image", "image1"),
        ({"prompt": "a"}, {"image1": image_bytes((10, 10))}, "image_dimensions", "image1"),
        ({"prompt": "a"}, {"image2": image_bytes((1000, 50))}, "image_dimensions", "image2"),
        ({"prompt": "a", "seed": "7"}, {}, "invalid_field", "seed"),
        ({"prompt": "a", "model": T2I, "seed": "seven"}, {}, "invalid_field", "seed"),
        ({"prompt": "a", "guidance_scale": "3"}, {}, "invalid_field", "guidance_scale"),
        ({"prompt": "a", "size": "800x800"}, {}, "invalid_field", "size"),
        ({"prompt": "a", "max_images": "16"}, {}, "invalid_field", "max_images"),
        ({"prompt": "a", "watermark": "maybe"}, {}, "invalid_field", "watermark"),
        ({"prompt": "a", "stream": "sometimes"}, {}, "invalid_field", "stream"),
        ({"prompt": "a", "model": EDIT}, {}, "image_count", "image"),
        ({"prompt": "a", "model": T2I}, {"image1": image_bytes()}, "image_count", "image"),
        (
            {"prompt": "a", "model": EDIT},
            {"image1": image_bytes(fmt="WEBP")},
            "unsupported_image_format",
            "image1",
        ),
        ({"prompt": "a", "image1_hash": "../x"}, {}, "invalid_hash", None),
        ({"prompt": "a", "image1_hash": "ab" * 32}, {}, "reference_not_found", "image1_hash"),
        (
            {"prompt": "a", "image1_hash": "ab" * 32},
            {"image1": image_bytes()},
            "invalid_field",
            "image1_hash",
        ),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_costs_nothing(
    client, fake, fields, files, code, field
):
    response = generate(client, fields, files)
    assert response.status_code == 400, response.json
    assert error_of(response)["code"] == code
    if field is not None:
        assert error_of(response)["field"] == field
    assert fake.requests == []


def test_json_body_is_415(client, fake):
    response = client.post("/seedream/generate", json={"prompt": "a cat"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_oversized_form_is_413(client, fake):
    big = b"\0" * (MAX_FORM_BYTES + 1)
    response = generate(client, {"prompt": "a"}, {"image1": big})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert fake.requests == []


def test_image_over_10_mb_is_refused_by_name(client, fake):
    response = generate(client, {"prompt": "a"}, {"image1": image_bytes() + b"\0" * 10_500_000})
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["field"]) == (
        "image_too_large",
        "image1",
    )


# -- upstream errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inject", "status", "code"),
    [
        (dict(status=400, code="InvalidParameter", param="size"), 400, "InvalidParameter"),
        (dict(status=400, code="InputTextSensitiveContentDetected"), 422, "content_rejected"),
        (dict(status=401), 502, "upstream_auth_failed"),
        (dict(status=403, code="AccessDenied"), 502, "upstream_auth_failed"),
        (dict(status=404), 502, "upstream_model_unavailable"),
        (dict(status=500, times=2), 502, "upstream_error"),
    ],
)
def test_upstream_errors_become_clear_answers(client, fake, inject, status, code):
    fake.fail_next(**inject)
    response = generate(client, {"prompt": "a cat"})
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert KEY not in response.get_data(as_text=True)


def test_upstream_400_keeps_the_upstream_field(client, fake):
    fake.fail_next(400, code="InvalidParameter", param="size", message="size is not valid.")
    error = error_of(generate(client, {"prompt": "a cat"}))
    assert error["field"] == "size"
    assert error["message"].startswith("size is not valid.")


def test_rate_limit_is_retried_then_passed_on_with_retry_after(client, fake):
    fake.fail_next(429)  # retried once with backoff: the second call succeeds
    assert generate(client, {"prompt": "a cat"}).status_code == 200
    assert len(fake.requests) == 2

    fake.fail_next(429, retry_after=30)  # longer than the backoff bound: answered at once
    response = generate(client, {"prompt": "a cat"})
    assert response.status_code == 429
    assert error_of(response)["code"] == "too_many_requests"
    assert response.headers["Retry-After"] == "30"
    assert len(fake.requests) == 3


def test_timeouts_are_504_and_resets_502(client, fake):
    fake.hang_next(times=2)
    response = generate(client, {"prompt": "a cat"})
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    fake.reset_next(times=2)
    response = generate(client, {"prompt": "a cat"})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_error"


def test_logs_hold_neither_the_key_nor_image_bytes(client, fake, caplog):
    caplog.set_level(logging.DEBUG)
    reference = image_bytes()
    fake.fail_next(401, message=f"bad key {KEY}")
    generate(client, {"prompt": "a cat"}, {"image1": reference})
    response = generate(client, {"prompt": "a cat"}, {"image1": reference})
    assert response.status_code == 200
    assert KEY not in caplog.text
    assert base64.b64encode(reference).decode()[:40] not in caplog.text
    assert "base64" not in caplog.text


# -- streaming ------------------------------------------------------------------------


def test_stream_sends_one_event_per_stored_image_then_completed(client, fake):
    fake.fail_item(1)
    response = generate(client, {"prompt": "three panels", "max_images": "3", "stream": "true"})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["image", "image", "image", "completed"]
    first, failed, third = (data for _, data in events[:3])
    assert failed["error"]["code"] == "OutputImageSensitiveContentDetected"
    for image in (first, third):
        data = download(client, image["download_url"])
        assert hashlib.sha256(data).hexdigest() == image["hash"]
    completed = events[-1][1]
    assert completed["usage"]["generated_images"] == 2
    assert completed["images"] == [first, failed, third]
    assert fake.requests[-1].json["stream"] is True


def test_stream_with_a_model_that_cannot_stream_is_still_events(client, fake):
    response = generate(client, {"prompt": "a fox", "model": T2I, "stream": "true"})
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["image", "completed"]
    assert "stream" not in fake.requests[-1].json


def test_stream_refused_upfront_is_a_plain_json_error(client, fake):
    fake.fail_next(401)
    response = generate(client, {"prompt": "a fox", "stream": "true"})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_auth_failed"


def test_stream_from_a_proxy_that_answers_json_is_relayed(client, fake):
    fake.ignore_stream = True
    response = generate(client, {"prompt": "a fox", "max_images": "2", "stream": "true"})
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["image", "image", "completed"]
