"""SeedreamClient against the fake Seedream server over loopback (no mocks)."""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from app.errors import (
    BadRequest,
    TooManyRequests,
    UnprocessableEntity,
    UpstreamError,
    UpstreamTimeout,
)
from app.seedream.client import GenerationRequest, SeedreamClient
from app.seedream.images import validate_reference_image
from tests.support.fake_seedream import FakeSeedream

KEY = "sk-test-0123456789abcdef"
V40 = "seedream-4-0-250828"
T2I = "seedream-3-0-t2i-250415"
EDIT = "seededit-3-0-i2i-250628"


@pytest.fixture
def fake():
    with FakeSeedream(api_key=KEY) as server:
        yield server


def make_client(fake, **options):
    settings = {"timeout": 5.0, "retries": 2, "backoff": 0.01, "max_backoff": 0.05}
    return SeedreamClient(KEY, fake.base_url, **(settings | options))


@pytest.fixture
def client(fake):
    with make_client(fake) as seedream:
        yield seedream


def reference(color=(10, 120, 200), size=(64, 48)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return validate_reference_image(out.getvalue(), "image1").data_uri


def decoded(item):
    with Image.open(io.BytesIO(item.data)) as im:
        return im.format, im.size


# -- happy paths ----------------------------------------------------------------------


def test_text_only_generation_returns_decoded_image(fake, client):
    result = client.generate(GenerationRequest(prompt="a red fox", model=V40, size="2K"))

    assert result.model == V40 and result.created > 0
    assert result.usage == {"generated_images": 1, "output_tokens": 16384, "total_tokens": 16384}
    [item] = result.items
    assert item.is_ok and item.error is None
    assert (item.size, item.format) == ("2048x2048", "jpeg")
    assert decoded(item) == ("JPEG", (64, 48))
    [sent] = fake.requests
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": V40,
        "prompt": "a red fox",
        "response_format": "b64_json",
        "size": "2K",
    }


def test_one_reference_image_is_sent_as_a_string(fake, client):
    uri = reference()
    result = client.generate(GenerationRequest(prompt="make it blue", model=V40, images=(uri,)))

    assert [item.is_ok for item in result.items] == [True]
    assert fake.requests[0].json["image"] == uri


def test_two_reference_images_are_sent_as_a_list(fake, client):
    uris = (reference((255, 0, 0)), reference((0, 255, 0)))
    result = client.generate(GenerationRequest(prompt="merge them", model=V40, images=uris))

    assert len(result.items) == 1 and result.items[0].is_ok
    assert fake.requests[0].json["image"] == list(uris)


def test_url_results_are_downloaded_without_the_api_key(fake, client):
    result = client.generate(GenerationRequest(prompt="x", model=V40, response_format="url"))

    [item] = result.items
    assert decoded(item) == ("JPEG", (64, 48))
    [download] = fake.downloads
    assert "Authorization" not in download.headers
    assert download.query["X-Tos-Expires"] == "86400"


def test_oversized_download_becomes_an_item_error(fake):
    with make_client(fake, max_download_bytes=100) as small:
        result = small.generate(GenerationRequest(prompt="x", model=V40, response_format="url"))
    assert result.items[0].error["code"] == "download_failed"
    assert result.items[0].data is None


def test_group_generation_keeps_failed_items_in_place(fake, client):
    fake.fail_item(1)
    request = GenerationRequest(prompt="four seasons", model=V40, max_images=3)

    result = client.generate(request)

    assert fake.requests[0].json["sequential_image_generation"] == "auto"
    assert fake.requests[0].json["sequential_image_generation_options"] == {"max_images": 3}
    assert [item.index for item in result.items] == [0, 1, 2]
    assert [item.is_ok for item in result.items] == [True, False, True]
    assert result.items[1].error["code"] == "OutputImageSensitiveContentDetected"
    assert result.items[0].data != result.items[2].data
    assert result.usage["generated_images"] == 2


def test_internal_error_in_a_group_stops_it(fake, client):
    fake.fail_item(1, code="InternalServiceError", message="boom")
    result = client.generate(GenerationRequest(prompt="x", model=V40, max_images=4))
    assert [item.is_ok for item in result.items] == [True, False]


def test_seedream_3_takes_seed_and_reports_size_from_bytes(fake, client):
    request = GenerationRequest(
        prompt="x", model=T2I, size="1024x1024", seed=7, guidance_scale=2.5, watermark=False
    )
    first, again = client.generate(request), client.generate(request)

    sent = fake.requests[0].json
    assert (sent["seed"], sent["guidance_scale"], sent["watermark"]) == (7, 2.5, False)
    assert first.items[0].size == "64x48"  # 3.0 sends no size: it is read from the image
    assert first.items[0].data == again.items[0].data  # same seed, same fake image


def test_seededit_sends_its_single_image_as_a_string(fake, client):
    uri = reference()
    request = GenerationRequest(prompt="x", model=EDIT, images=(uri,), size="adaptive", seed=3)
    assert client.generate(request).items[0].is_ok
    assert fake.requests[0].json["image"] == uri


def test_slow_generations_run_concurrently(fake, client):
    fake.delay = 0.5
    results = []

    def generate():
        results.append(client.generate(GenerationRequest(prompt="slow", model=V40)))

    threads = [threading.Thread(target=generate) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert time.monotonic() - started < 2.0  # 8 x 0.5 s in series would be 4 s


# -- streaming ------------------------------------------------------------------------


def test_stream_yields_each_image_as_it_is_ready(fake, client):
    fake.delay = 0.3
    fake.fail_item(1)
    request = GenerationRequest(prompt="x", model=V40, max_images=3, response_format="url")
    started = time.monotonic()

    events = client.generate_stream(request)
    first = next(events)
    first_after = time.monotonic() - started
    rest = list(events)

    assert first_after < 0.6  # the other images were still being "generated"
    assert fake.requests[0].json["stream"] is True
    kinds = [(event.kind, event.image.is_ok if event.image else None) for event in [first, *rest]]
    assert kinds == [("image", True), ("image", False), ("image", True), ("completed", None)]
    assert decoded(first.image) == ("JPEG", (64, 48))
    assert rest[-1].usage["generated_images"] == 2


def test_stream_answered_as_plain_json_still_yields_events(fake, client):
    fake.ignore_stream = True
    events = list(client.generate_stream(GenerationRequest(prompt="x", model=V40, max_images=2)))
    assert [event.kind for event in events] == ["image", "image", "completed"]
    assert all(decoded(event.image) == ("JPEG", (64, 48)) for event in events[:2])
    assert events[-1].usage["generated_images"] == 2


def test_stream_refused_upfront_raises_before_iteration(fake, client):
    # 3.0 does not stream: the fake answers 400 like the API, raised by the call itself.
    with pytest.raises(BadRequest) as info:
        client.generate_stream(GenerationRequest(prompt="x", model=T2I))
    assert info.value.code == "InvalidParameter"


# -- upstream errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error", "expected"),
    [
        (400, "InvalidParameter", BadRequest, "InvalidParameter"),
        (400, "MissingParameter", BadRequest, "MissingParameter"),
        (400, "InvalidImageURL.InvalidFormat", BadRequest, "InvalidImageURL.InvalidFormat"),
        (400, "InputTextSensitiveContentDetected", UnprocessableEntity, "content_rejected"),
        (400, "OutputImageSensitiveContentDetected", UnprocessableEntity, "content_rejected"),
        (401, "AuthenticationError", UpstreamError, "upstream_auth_failed"),
        (403, "AccountOverdueError", UpstreamError, "upstream_auth_failed"),
        (404, "ModelNotOpen", UpstreamError, "upstream_model_unavailable"),
    ],
)
def test_upstream_errors_are_mapped(fake, client, status, code, error, expected):
    fake.fail_next(status, code=code, message=f"Injected {code}.")
    with pytest.raises(error) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert info.value.code == expected
    assert len(fake.requests) == 1  # not retried


def test_upstream_400_keeps_message_and_field(fake, client):
    request = GenerationRequest(prompt="x", model=V40, size="800x800")  # unchecked on purpose
    with pytest.raises(BadRequest) as info:
        client.generate(request)
    assert info.value.code == "InvalidParameter"
    assert "image size must be at least 921600 pixels" in info.value.message
    assert info.value.details == {"field": "size"}


def test_unknown_model_is_upstream_model_unavailable(client):
    with pytest.raises(UpstreamError) as info:
        client.generate(GenerationRequest(prompt="x", model="seedream-9-9-999999"))
    assert (info.value.status, info.value.code) == (502, "upstream_model_unavailable")


def test_wrong_key_is_auth_failure_and_never_echoed(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(401, message=f"key {KEY} is invalid")  # an upstream that echoes the key
    with make_client(fake) as seedream, pytest.raises(UpstreamError) as info:
        seedream.generate(GenerationRequest(prompt="x", model=V40))
    assert (info.value.status, info.value.code) == (502, "upstream_auth_failed")
    assert KEY not in info.value.message and KEY not in str(info.value.to_dict())
    assert "key [redacted] is invalid" in info.value.message
    assert KEY not in caplog.text

    with SeedreamClient("sk-wrong", fake.base_url) as wrong, pytest.raises(UpstreamError) as info:
        wrong.generate(GenerationRequest(prompt="x", model=V40))
    assert info.value.code == "upstream_auth_failed" and "sk-wrong" not in info.value.message


def test_logs_hold_neither_key_nor_image_data(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    uri = reference()
    fake.fail_next(500)
    result = client.generate(GenerationRequest(prompt="x", model=V40, images=(uri,)))
    fake.fail_next(400, code="InvalidParameter")
    with pytest.raises(BadRequest):
        client.generate(GenerationRequest(prompt="x", model=V40, images=(uri,)))

    assert "retry 1/2" in caplog.text  # the logs did capture this client's records
    payload = uri.split(",", 1)[1]
    assert KEY not in caplog.text and payload[:40] not in caplog.text
    assert base64.b64encode(result.items[0].data)[:40].decode() not in caplog.text


def test_429_is_retried_then_succeeds(fake, client):
    fake.fail_next(429)
    result = client.generate(GenerationRequest(prompt="x", model=V40))
    assert result.items[0].is_ok and len(fake.requests) == 2


def test_429_retry_after_is_honoured(fake):
    fake.fail_next(429, retry_after=1)
    started = time.monotonic()
    with make_client(fake, max_backoff=2.0) as seedream:
        assert seedream.generate(GenerationRequest(prompt="x", model=V40)).items[0].is_ok
    assert time.monotonic() - started >= 1.0


def test_429_exhausted_raises_too_many_requests_with_retry_after(fake, client):
    fake.fail_next(429, times=3)
    with pytest.raises(TooManyRequests) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert info.value.status == 429
    assert int(info.value.headers["Retry-After"]) >= 1
    assert len(fake.requests) == 3  # 1 try + 2 retries


def test_429_with_long_retry_after_fails_fast(fake, client):
    fake.fail_next(429, retry_after=30)
    started = time.monotonic()
    with pytest.raises(TooManyRequests) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert info.value.headers == {"Retry-After": "30"}
    assert len(fake.requests) == 1 and time.monotonic() - started < 1.0


def test_429_retry_after_as_http_date_is_understood(fake, client):
    when = datetime.now(UTC) + timedelta(seconds=60)
    fake.fail_next(429, retry_after=email.utils.format_datetime(when, usegmt=True))
    with pytest.raises(TooManyRequests) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert 55 <= int(info.value.headers["Retry-After"]) <= 61
    assert len(fake.requests) == 1


def test_500_is_retried_then_succeeds(fake, client):
    fake.fail_next(500, times=2)
    assert client.generate(GenerationRequest(prompt="x", model=V40)).items[0].is_ok
    assert len(fake.requests) == 3


def test_500_exhausted_is_upstream_error(fake, client):
    fake.fail_next(500, times=3)
    with pytest.raises(UpstreamError) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert (info.value.status, info.value.code) == (502, "upstream_error")
    assert "InternalServiceError" in info.value.message


def test_connection_reset_is_retried_then_upstream_error(fake, client):
    fake.reset_next()
    assert client.generate(GenerationRequest(prompt="x", model=V40)).items[0].is_ok
    fake.reset_next(times=3)
    with pytest.raises(UpstreamError) as info:
        client.generate(GenerationRequest(prompt="x", model=V40))
    assert info.value.code == "upstream_error"


def test_timeout_is_retried_then_upstream_timeout(fake):
    with make_client(fake, timeout=0.3) as seedream:
        fake.hang_next()
        assert seedream.generate(GenerationRequest(prompt="x", model=V40)).items[0].is_ok
        fake.hang_next(times=3)
        with pytest.raises(UpstreamTimeout) as info:
            seedream.generate(GenerationRequest(prompt="x", model=V40))
    assert (info.value.status, info.value.code) == (504, "upstream_timeout")
    assert len(fake.requests) == 5


def test_request_repr_leaves_out_images():
    request = GenerationRequest(prompt="x", model=V40, images=("data:image/png;base64,QUJD",))
    assert "QUJD" not in repr(request)
