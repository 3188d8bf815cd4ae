"""Resumable uploads end to end: ``tuspy`` (a tus client nobody here wrote) against real
gunicorn masters and nodes: interrupted uploads resumed by a new client, a connection
dropped in the middle of a chunk, and a master restarted between chunks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests
from tusclient.client import TusClient

from localcluster.launcher import Cluster, wait_until
from tests.support.api import new_account

MIB = 1024 * 1024
CHUNK = 4 * MIB
TIMEOUT = 60


def uploader(master: str, auth: dict[str, str], source: IO[bytes], path: str, url=None):
    """A new tuspy client (no state shared with an earlier one but the upload's URL)."""
    source.seek(0)
    client = TusClient(f"{master}/api/tus/", headers=dict(auth))
    return client.uploader(file_stream=source, chunk_size=CHUNK, metadata={"path": path}, url=url)


def offset_of(url: str, auth: dict[str, str]) -> int:
    reply = requests.head(url, headers={**auth, "Tus-Resumable": "1.0.0"}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.status_code
    return int(reply.headers["Upload-Offset"])


def download(master: str, auth: dict[str, str], path: str) -> bytes:
    reply = requests.get(f"{master}/api/files{path}", headers=auth, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.content


def drop_mid_chunk(url: str, auth: dict[str, str], offset: int, sent: bytes, said: int) -> None:
    """A PATCH announcing ``said`` bytes whose connection closes after ``sent``."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    target = "/" + url.split("//", 1)[1].split("/", 1)[1]
    head = (
        f"PATCH {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {auth['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {said}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(head.encode() + sent)
        time.sleep(0.5)  # the bytes reach the master before the connection ends


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as files:
        yield files


def test_an_interrupted_upload_resumes_from_the_head_offset(cluster: Cluster, tmp_path, stack):
    master = cluster.master.url
    auth = new_account(master, "tus-alice")
    data = os.urandom(30 * MIB)
    (tmp_path / "video.bin").write_bytes(data)
    source = stack.enter_context((tmp_path / "video.bin").open("rb"))

    first = uploader(master, auth, source, "/Movies/video.bin")
    first.upload(stop_at=3 * CHUNK)  # then the tab closed
    url = first.url
    assert url.startswith(f"{master}/api/tus/")
    # HEAD says what is durable: the last chunk answered may still be settling on the
    # worker that took it (app.master.settling), for a moment.
    wait_until(lambda: offset_of(url, auth) == 3 * CHUNK, 10)

    # A connection lost in the middle of the fourth chunk keeps what arrived.
    drop_mid_chunk(url, auth, 3 * CHUNK, data[3 * CHUNK : 3 * CHUNK + MIB], CHUNK)
    wait_until(lambda: offset_of(url, auth) != 3 * CHUNK, 20)
    assert offset_of(url, auth) == 3 * CHUNK + MIB

    second = uploader(master, auth, source, "/Movies/video.bin", url=url)
    assert second.offset == 3 * CHUNK + MIB  # from its HEAD
    second.upload()
    assert second.offset == len(data)
    assert download(master, auth, "/Movies/video.bin") == data
    listed = requests.get(
        f"{master}/api/stat", params={"path": "/Movies/video.bin"}, headers=auth, timeout=TIMEOUT
    ).json()
    assert listed["hash"] == hashlib.sha256(data).hexdigest()


def test_a_master_restarted_between_chunks(spawn, tmp_path: Path, stack):
    cluster = spawn(nodes=2)
    master = cluster.master.url
    auth = new_account(master, "tus-bob")
    data = os.urandom(14 * MIB + 4321)
    (tmp_path / "backup.tar").write_bytes(data)
    source = stack.enter_context((tmp_path / "backup.tar").open("rb"))

    first = uploader(master, auth, source, "/backup.tar")
    first.chunk_size = 3 * MIB  # not block-aligned: the last block stays short
    first.upload(stop_at=6 * MIB)
    url = first.url
    cluster.master.stop()
    cluster.master.start()
    cluster.wait_nodes_up()

    # The restarted master has no running hash and reads the short block back.
    second = uploader(master, auth, source, "/backup.tar", url=url)
    assert second.offset == 6 * MIB
    second.upload()
    assert download(master, auth, "/backup.tar") == data
