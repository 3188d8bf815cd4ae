"""PATCHes answered before their blocks are durable (``app.master.settling``): answered
once received and hashed, made durable behind the answer, and taken back (the next
PATCH 409, HEAD where the database has it) only when their blocks cannot be written.

The block writes to the node are held at a gate here, so that what a client, HEAD and
another master see while a PATCH settles is looked at, not raced."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.api import test_tus as tus
from tests.api.test_tus import BLOCK, MIB, create, error, head, make_master, patch, read_back
from tests.support.apps import make_client

# The fixtures of the tus tests: a master of one copy per blob onto a real node.
node, overrides, master_app, master, alice = (
    tus.node,
    tus.overrides,
    tus.master_app,
    tus.master,
    tus.alice,
)

CHUNK = 8 * MIB
GATE_TIMEOUT = 30


class WriteGate:
    """Holds every block write of a master until opened; ``fail`` makes them fail."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        writer = app.extensions["mdbx.master"].writes.writer
        self.opened = threading.Event()
        self.waiting = 0
        self.fail = False
        put = writer._put

        def gated(*args, **kwargs):
            self.waiting += 1
            assert self.opened.wait(GATE_TIMEOUT), "the gate was never opened"
            return None if self.fail else put(*args, **kwargs)

        monkeypatch.setattr(writer, "_put", gated)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(master_app: Flask, master, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteGate]:
    held = WriteGate(master_app, monkeypatch)
    yield held
    held.open()  # nothing left waiting on it


@pytest.fixture
def other(tmp_path, master) -> Iterator:
    """A second master on the same database: another worker, or another master."""
    app = make_master(tmp_path, {})
    yield make_client(app)
    app.extensions["mdbx.master"].index.close()


def wait_until(condition, timeout: float = GATE_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def stored_offset(client, headers, url: str) -> int:
    return int(head(client, headers, url).headers["Upload-Offset"])


def test_a_block_aligned_patch_is_answered_before_its_blocks_are_durable(
    master, alice, gate, other
):
    data = os.urandom(CHUNK + 100)
    url = create(master, alice, len(data), "/ahead.bin")
    answered = patch(master, alice, url, 0, data[:CHUNK])
    # Answered with every block write still held at the gate.
    assert answered.status_code == 204, answered.data
    assert answered.headers["Upload-Offset"] == str(CHUNK)
    # The answer does not wait for a block write to begin: the first one reaches the
    # gate a moment later, or before (which one came first is a race between threads).
    assert wait_until(lambda: gate.waiting >= 1) and not gate.opened.is_set()
    assert stored_offset(other, alice, url) == 0  # the database says only what is durable
    gate.open()
    # HEAD here waits for what this master answered to be durable.
    assert stored_offset(master, alice, url) == CHUNK
    assert stored_offset(other, alice, url) == CHUNK
    last = patch(master, alice, url, CHUNK, data[CHUNK:])
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(data))
    assert read_back(master, alice, "/ahead.bin") == data


def test_the_next_patch_chains_on_the_answered_offset_and_the_last_waits(master, alice, gate):
    data = os.urandom(2 * CHUNK + 5)
    url = create(master, alice, len(data), "/chain.bin")
    assert patch(master, alice, url, 0, data[:CHUNK]).status_code == 204
    done: dict[str, object] = {}

    def second() -> None:
        done["reply"] = patch(master, alice, url, CHUNK, data[CHUNK : 2 * CHUNK])

    sending = threading.Thread(target=second)
    sending.start()
    # The second PATCH's answer waits for the first to settle, held at the gate.
    sending.join(timeout=1.0)
    assert sending.is_alive()
    gate.open()
    sending.join(timeout=GATE_TIMEOUT)
    reply = done["reply"]
    assert reply.status_code == 204 and reply.headers["Upload-Offset"] == str(2 * CHUNK)
    last = patch(master, alice, url, 2 * CHUNK, data[2 * CHUNK :])
    assert last.status_code == 204
    # The last PATCH was answered with the file in place.
    stat = master.get("/api/stat", query_string={"path": "/chain.bin"}, headers=alice).json
    assert stat["hash"] == hashlib.sha256(data).hexdigest()
    assert read_back(master, alice, "/chain.bin") == data


def test_blocks_that_cannot_be_written_take_the_answer_back(master, alice, gate, node):
    data = os.urandom(CHUNK + 7)
    url = create(master, alice, len(data), "/lost.bin")
    gate.fail = True  # the node refuses every write (as a node dying would)
    answered = patch(master, alice, url, 0, data[:CHUNK])
    assert answered.status_code == 204 and answered.headers["Upload-Offset"] == str(CHUNK)
    gate.open()
    # Not durable: the next PATCH at the answered offset is refused (with the write's
    # error while it chains on it, 409 once the failure is known), and HEAD says 0.
    refused = error(patch(master, alice, url, CHUNK, data[CHUNK:]))
    assert refused in {(503, "insufficient_replicas"), (409, "offset_mismatch")}
    assert error(patch(master, alice, url, CHUNK, data[CHUNK:])) == (409, "offset_mismatch")
    assert stored_offset(master, alice, url) == 0
    gate.fail = False
    # What a tus client does then: resume from HEAD's offset.
    assert patch(master, alice, url, 0, data[:CHUNK]).status_code == 204
    assert patch(master, alice, url, CHUNK, data[CHUNK:]).status_code == 204
    assert read_back(master, alice, "/lost.bin") == data


def test_another_master_waits_for_the_offset_answered_elsewhere(master, alice, gate, other):
    data = os.urandom(CHUNK + 11)
    url = create(master, alice, len(data), "/elsewhere.bin")
    assert patch(master, alice, url, 0, data[:CHUNK]).status_code == 204
    opener = threading.Timer(0.5, gate.open)
    opener.start()
    try:
        started = time.monotonic()
        # The client's next PATCH reaches the other master while the first settles.
        reply = patch(other, alice, url, CHUNK, data[CHUNK:])
        waited = time.monotonic() - started
    finally:
        opener.cancel()
    assert reply.status_code == 204, reply.data
    assert waited >= 0.4
    assert read_back(other, alice, "/elsewhere.bin") == data


def test_an_offset_further_ahead_than_one_chunk_is_refused_at_once(master, alice, other):
    url = create(master, alice, 4 * CHUNK, "/far.bin")
    started = time.monotonic()
    assert error(patch(other, alice, url, CHUNK + BLOCK, b"x")) == (409, "offset_mismatch")
    assert time.monotonic() - started < 2
