"""A 300 MiB zip download through a real cluster: the master streams it with bounded
memory (its resident set is sampled while the archive flows), and the archive checks
with Python's zipfile and ``unzip -t``, bytes and names as stored."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
import zipfile

from tests.e2e.test_accounts import add_user
from tests.e2e.test_blocks import tree_rss
from tests.support.cli import MIB

TIMEOUT = 120
# Files of the selection: name -> MiB, each a repeated 1 MiB pattern of its own.
FILES = {"big one.bin": 200, "ünïcode/smaller.bin": 100}
# The archive is 300 MiB; the master may hold a few blocks in flight, not the archive.
RSS_GROWTH_LIMIT = 100 * MIB


def upload(user, path: str, pattern: bytes, mib: int) -> str:
    digest = hashlib.sha256()

    def body():
        for _ in range(mib):
            digest.update(pattern)
            yield pattern

    reply = user.http.put(f"{user.master}/api/files{path}", data=body(), timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    assert reply.json()["hash"] == digest.hexdigest()
    return digest.hexdigest()


def test_a_300_mib_zip_streams_with_bounded_master_memory(cluster, tmp_path):
    user = add_user(cluster.master.url, f"zipper{os.getpid()}")
    expected = {}
    for name, mib in FILES.items():
        expected[f"media/{name}"] = upload(user, f"/media/{name}", os.urandom(MIB), mib)
    user.call("POST", "/api/mkdir", json={"path": "/media/empty folder"})

    baseline = tree_rss(cluster.master)
    peak = {"rss": baseline}
    done = threading.Event()

    def sample() -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done.is_set() and time.monotonic() < deadline:
            peak["rss"] = max(peak["rss"], tree_rss(cluster.master))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    archive_path = tmp_path / "media.zip"
    try:
        with user.http.get(
            f"{user.master}/api/zip", params={"path": "/media"}, stream=True, timeout=TIMEOUT
        ) as reply:
            assert reply.status_code == 200, reply.text
            assert 'filename="media.zip"' in reply.headers["Content-Disposition"]
            length = int(reply.headers["Content-Length"])
            with archive_path.open("wb") as out:
                for chunk in reply.iter_content(MIB):
                    out.write(chunk)
                    assert time.monotonic() - started < TIMEOUT
    finally:
        done.set()
        sampler.join(timeout=10)
    seconds = time.monotonic() - started
    assert archive_path.stat().st_size == length
    growth = peak["rss"] - baseline
    print(
        f"zip of {sum(FILES.values())} MiB in {seconds:.1f} s "
        f"({sum(FILES.values()) / seconds:.0f} MiB/s); master RSS {baseline / MIB:.0f} MiB, "
        f"peak +{growth / MIB:.1f} MiB"
    )
    assert growth < RSS_GROWTH_LIMIT, (baseline, peak)

    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        assert names == {"media/", "media/empty folder/", "media/ünïcode/", *expected}
        for name, digest in expected.items():
            with archive.open(name) as member:
                assert hashlib.file_digest(member, "sha256").hexdigest() == digest
    if shutil.which("unzip"):
        tested = subprocess.run(
            ["unzip", "-t", str(archive_path)], capture_output=True, text=True, timeout=TIMEOUT
        )
        assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout
