"""POST /seedream/generate through real gunicorn processes, against the fake Seedream API.

One master and two nodes, configured by the un-prefixed variables the issue names
(SEEDREAM_API_KEY, SEEDREAM_BASE_URL), are shared by the tests of this module.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from localcluster.launcher import Cluster, wait_until
from tests.support.fake_seedream import FakeSeedream

KEY = "sk-e2e-test-91c4d2e8"
TIMEOUT = 30
T2I = "seedream-3-0-t2i-250415"
# Upstream read timeout of the master under test: above the 2 s of the slow fake.
SEEDREAM_TIMEOUT = 4.0


@pytest.fixture(scope="module")
def fake():
    with FakeSeedream(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def seedream_cluster(tmp_path_factory, fake, request):
    env = {
        "SEEDREAM_API_KEY": KEY,
        "ARK_API_KEY": "",
        "SEEDREAM_BASE_URL": fake.base_url,
        "SEEDREAM_MODEL": "",  # empty: the built-in default model
        "MDBX_SEEDREAM_TIMEOUT": str(SEEDREAM_TIMEOUT),
        "MDBX_SEEDREAM_RETRIES": "1",
    }
    cluster = Cluster(tmp_path_factory.mktemp("seedream"), env=env)
    failed_before = request.session.testsfailed
    try:
        yield cluster.start(nodes=2)
    finally:
        if request.session.testsfailed > failed_before:
            print(cluster.logs())
        cluster.kill()


@pytest.fixture
def fresh_fake(fake):
    """The shared fake, with nothing injected left over from another test."""
    fake.delay = 0.0
    yield fake
    fake.delay = 0.0


def image_bytes(color=(10, 120, 200), size=(64, 48), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def generate(master_url: str, fields: dict, files: dict | None = None, **kwargs):
    parts = {name: (f"{name}.jpg", data) for name, data in (files or {}).items()}
    return requests.post(
        f"{master_url}/seedream/generate",
        data=fields,
        files=parts or None,
        timeout=TIMEOUT,
        **kwargs,
    )


def node_ids(cluster: Cluster) -> list[str]:
    return sorted(node.url.rsplit(":", 1)[1] for node in cluster.nodes)


def check_stored(cluster: Cluster, image: dict) -> bytes:
    """Assert the image is on both nodes and downloads intact; return its bytes."""
    record = requests.get(
        f"{cluster.master.url}/get", params={"hash": image["hash"]}, timeout=TIMEOUT
    ).json()
    assert sorted(record["replicas"]) == node_ids(cluster)
    assert record["name"] == image["name"]
    downloaded = requests.get(image["download_url"], timeout=TIMEOUT)  # follows the redirect
    assert downloaded.status_code == 200
    assert downloaded.history[0].status_code == 302
    assert hashlib.sha256(downloaded.content).hexdigest() == image["hash"]
    for node in cluster.nodes:
        copy = requests.get(f"{node.url}/retrieve", params={"hash": image["hash"]}, timeout=10)
        assert copy.content == downloaded.content
    return downloaded.content


def test_reference_readme_calls_with_0_1_2_images(seedream_cluster, fresh_fake):
    master = seedream_cluster.master.url
    calls = [
        ("Ultra-realistic portrait of a smiling person", {}),
        ("Create a stylized variant of this person", {"image1": image_bytes((200, 0, 0))}),
        (
            "Blend features of two references into one portrait",
            {"image1": image_bytes((200, 0, 0)), "image2": image_bytes((0, 200, 0), fmt="JPEG")},
        ),
    ]
    for prompt, files in calls:
        response = generate(master, {"prompt": prompt}, files)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "seedream-4-0-250828"
        assert body["usage"]["generated_images"] == 1
        [image] = body["images"]
        assert image["download_url"].startswith(f"{master}/download?hash=")
        data = check_stored(seedream_cluster, image)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG"
        sent = fresh_fake.requests[-1].json
        assert sent["prompt"] == prompt and sent["watermark"] is False
        images = sent.get("image", [])
        images = [images] if isinstance(images, str) else images
        assert [uri.split(",", 1)[0] for uri in images] == [
            "data:image/png;base64" if name == "image1" else "data:image/jpeg;base64"
            for name in files
        ]


def test_stored_image_is_byte_identical_to_what_seedream_produced(seedream_cluster, fresh_fake):
    fields = {"prompt": "a lighthouse at dawn", "model": T2I, "seed": "1234"}
    response = generate(seedream_cluster.master.url, fields)
    assert response.status_code == 200, response.text
    [image] = response.json()["images"]
    stored = check_stored(seedream_cluster, image)
    # A seeded request repeats its bytes: ask the fake directly for the same image.
    body = fresh_fake.requests[-1].json
    again = requests.post(
        f"{fresh_fake.base_url}/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=TIMEOUT,
    ).json()
    assert stored == base64.b64decode(again["data"][0]["b64_json"])


def test_reference_by_hash_of_an_uploaded_file(seedream_cluster, fresh_fake):
    reference = image_bytes((1, 2, 3), size=(80, 60))
    uploaded = requests.post(
        f"{seedream_cluster.nodes[0].url}/upload",
        files={"file": ("ref.png", reference)},
        timeout=TIMEOUT,
    ).json()
    assert uploaded["registered"] is True
    response = generate(
        seedream_cluster.master.url,
        {"prompt": "Create a stylized variant of this person", "image1_hash": uploaded["hash"]},
    )
    assert response.status_code == 200, response.text
    assert fresh_fake.requests[-1].json["image"] == (
        "data:image/png;base64," + base64.b64encode(reference).decode()
    )
    check_stored(seedream_cluster, response.json()["images"][0])


def inject_500_then_hang(fake):
    fake.fail_next(500)
    fake.hang_next()


@pytest.mark.parametrize(
    ("inject", "status", "code"),
    [
        (lambda f: f.fail_next(400, param="size"), 400, "InvalidParameter"),
        (lambda f: f.fail_next(400, code="OutputImageSensitiveContentDetected"), 422, None),
        (lambda f: f.fail_next(401), 502, "upstream_auth_failed"),
        (lambda f: f.fail_next(404), 502, "upstream_model_unavailable"),
        (lambda f: f.fail_next(429, retry_after=60), 429, "too_many_requests"),
        (lambda f: f.fail_next(500, times=2), 502, "upstream_error"),
        (inject_500_then_hang, 504, "upstream_timeout"),  # the last attempt times out
        (lambda f: f.reset_next(times=2), 502, "upstream_error"),
    ],
    ids=["400", "sensitive", "401", "404", "429", "500", "timeout", "reset"],
)
def test_upstream_error_mappings(seedream_cluster, fresh_fake, inject, status, code):
    inject(fresh_fake)
    response = generate(seedream_cluster.master.url, {"prompt": "a cat"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == (code or "content_rejected")
    assert KEY not in response.text
    if status == 429:
        assert response.headers["Retry-After"] == "60"


def test_without_a_key_generate_is_503_and_the_rest_works(spawn):
    cluster = spawn(nodes=0, env={"SEEDREAM_API_KEY": "", "ARK_API_KEY": ""})
    response = generate(cluster.master.url, {"prompt": "a cat"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "seedream_not_configured"
    assert "SEEDREAM_API_KEY" in response.json()["error"]["message"]
    health = requests.get(f"{cluster.master.url}/health", timeout=TIMEOUT).json()
    assert health["seedream"] == "not configured"
    assert requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json() == []


def test_stream_relays_each_image_as_it_is_stored(seedream_cluster, fresh_fake):
    fresh_fake.delay = 0.5  # per image: events must arrive spread out, not all at the end
    fields = {"prompt": "three panels", "max_images": "3", "stream": "true"}
    arrivals: list[tuple[str, float]] = []
    with generate(seedream_cluster.master.url, fields, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        started = time.monotonic()
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                arrivals.append((line.removeprefix("event: "), time.monotonic() - started))
            elif line.startswith("data: ") and arrivals[-1][0] == "completed":
                completed = json.loads(line.removeprefix("data: "))
    assert [name for name, _ in arrivals] == ["image", "image", "image", "completed"]
    assert arrivals[0][1] < arrivals[-1][1] - 0.6
    assert completed["usage"]["generated_images"] == 3
    for image in completed["images"]:
        check_stored(seedream_cluster, image)


def test_twenty_slow_generations_do_not_delay_the_master(seedream_cluster, fresh_fake):
    master = seedream_cluster.master.url
    node = seedream_cluster.nodes[1].url
    probes = {
        "health": lambda: requests.get(f"{master}/health", timeout=5),
        "list": lambda: requests.get(f"{master}/list", timeout=5),
        # A node upload registers with the master: it needs a free master worker too.
        "upload": lambda: requests.post(
            f"{node}/upload", files={"file": ("p.bin", os.urandom(1024))}, timeout=5
        ),
    }
    fresh_fake.delay = 2.0
    before = len(fresh_fake.requests)
    latencies: list[tuple[str, int, float]] = []
    with ThreadPoolExecutor(max_workers=20) as pool:
        started = time.monotonic()
        futures = [
            pool.submit(generate, master, {"prompt": f"slow generation {i}"}) for i in range(20)
        ]
        wait_until(lambda: len(fresh_fake.requests) - before >= 20, deadline=5, interval=0.02)
        for _ in range(3):
            for name, probe in probes.items():
                probe_started = time.monotonic()
                status = probe().status_code
                latencies.append((name, status, time.monotonic() - probe_started))
        pending = sum(not future.done() for future in futures)
        responses = [future.result(timeout=TIMEOUT) for future in futures]
        elapsed = time.monotonic() - started
    assert all(status == 200 for _, status, _ in latencies), latencies
    assert max(latency for _, _, latency in latencies) < 0.5, latencies
    assert pending == 20  # every probe ran while all twenty were still generating
    assert [response.status_code for response in responses] == [200] * 20
    hashes = {response.json()["images"][0]["hash"] for response in responses}
    assert len(hashes) == 20
    assert elapsed < 2.0 + 4.0  # in series on 2 workers this would take 20 s
