"""Thumbnails through real gunicorn gevent workers: decoding runs on the hub's thread
pool, several at once, and the answer is the same as the cache's afterwards."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from tests.e2e.test_accounts import add_user

TIMEOUT = 60


def test_concurrent_thumbnails_from_a_gevent_worker(cluster):
    user = add_user(cluster.master.url, f"pictures{os.getpid()}")
    photo = io.BytesIO()
    Image.effect_noise((2000, 1500), 40).convert("RGB").save(photo, "JPEG", quality=90)
    user.put("/photo.jpg", photo.getvalue())

    def thumbnail(size: int):
        return user.http.get(
            f"{user.master}/api/thumbnail",
            params={"path": "/photo.jpg", "size": size},
            timeout=TIMEOUT,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(thumbnail, [64, 256, 1024] * 2))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    sizes = [Image.open(io.BytesIO(a.content)).size for a in answers]
    assert sizes == [(64, 48), (256, 192), (1024, 768)] * 2
    again = thumbnail(256)
    assert again.content == answers[1].content  # from the cache now
    cached = user.http.get(
        f"{user.master}/api/thumbnail",
        params={"path": "/photo.jpg", "size": 256},
        headers={"If-None-Match": again.headers["ETag"]},
        timeout=TIMEOUT,
    )
    assert cached.status_code == 304
