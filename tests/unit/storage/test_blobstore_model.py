"""The blob store against a model (#20): random batches written whole or streamed,
deletes, wrong expected hashes, a crash's leftovers (sealed files whole or torn), rot
found by verify and quarantined, and reopens (a restarted node, which recovers sealed
files first); after every step the blobs on disk are exactly the model's, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from app.errors import HashMismatch
from app.storage.blobstore import SEALED_PREFIX, FileBlobStore

PAYLOADS = [b"", b"x", b"hello\n", os.urandom(3000), os.urandom(70_000), b"\0" * 5000]


# Indices into PAYLOADS: short in hypothesis' reports.
payloads = st.integers(0, len(PAYLOADS) - 1)


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStoreMachine(RuleBasedStateMachine):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        # fsync off: this checks what is stored, not what survives power loss (the
        # durability tests kill real nodes for that).
        self.store = FileBlobStore(root, fsync=False)
        self.model: dict[str, bytes] = {}
        self.rotten: set[str] = set()

    @rule(batch=st.lists(payloads, min_size=1, max_size=3))
    def put_batch(self, batch):
        batch = [PAYLOADS[i] for i in batch]
        stored = self.store.persist([self.store.seal_bytes(data) for data in batch])
        assert [s.digest for s in stored] == [digest_of(d) for d in batch]
        for data in batch:
            self.model[digest_of(data)] = data  # known bytes again: a no-op, rot and all

    @rule(which=payloads, piece=st.integers(1, 40_000))
    def put_streamed(self, which, piece):
        data = PAYLOADS[which]
        writer = self.store.open_writer()
        for start in range(0, len(data), piece):
            writer.write(data[start : start + piece])
        stored = self.store.commit(writer)
        assert stored.digest == digest_of(data)
        assert stored.created == (digest_of(data) not in self.model)
        self.model[digest_of(data)] = data

    @rule(which=payloads)
    def put_with_a_wrong_hash(self, which):
        data = PAYLOADS[which]
        with pytest.raises(HashMismatch):
            self.store.seal_bytes(data, expected_digest=digest_of(data + b"!"))

    @rule(which=payloads)
    def delete(self, which):
        data = PAYLOADS[which]
        digest = digest_of(data)
        assert self.store.delete(digest) == (digest in self.model)
        self.model.pop(digest, None)
        self.rotten.discard(digest)
        # A sealed file left behind goes with it: a restart must not bring it back.
        getattr(self, "pending", {}).pop(digest, None)

    @rule(which=payloads, whole=st.booleans())
    def leave_a_sealed_file(self, which, whole):
        """What a worker killed between its batch's sync and its moves leaves (whole),
        or a machine down before the sync (torn bytes)."""
        data = PAYLOADS[which]
        digest = digest_of(data)
        body = data if whole else data[: len(data) // 2] + b"torn"
        name = f"{SEALED_PREFIX}{digest}-upload-1-{os.urandom(4).hex()}.tmp"
        (self.store.tmp_dir / name).write_bytes(body)
        if whole:
            self.pending = getattr(self, "pending", {})
            self.pending[digest] = data

    @rule()
    def reopen(self):
        """A restarted node: a new store on the same directory, sealed files recovered."""
        self.store = FileBlobStore(self.root, fsync=False)
        self.store.recover_sealed()
        for digest, data in getattr(self, "pending", {}).items():
            self.model[digest] = data  # moved into place, over a rotten copy too
            self.rotten.discard(digest)
        self.pending = {}
        assert not any(p.name.startswith(SEALED_PREFIX) for p in self.store.tmp_dir.iterdir())

    @rule(which=payloads)
    def rot(self, which):
        data = PAYLOADS[which]
        digest = digest_of(data)
        if digest not in self.model or digest in self.rotten or not data:
            return
        path = self.store.locate(digest)
        rotten = bytearray(path.read_bytes())
        rotten[len(rotten) // 2] ^= 0xFF
        path.write_bytes(bytes(rotten))
        self.rotten.add(digest)

    @rule()
    def scrub(self):
        for digest in list(self.model):
            if self.store.verify(digest) is False:
                assert digest in self.rotten
                assert self.store.quarantine(digest) is not None
                del self.model[digest]
                self.rotten.discard(digest)
        assert not self.rotten

    @invariant()
    def the_blobs_are_the_models(self):
        on_disk = dict(self.store.iter_blobs())
        assert on_disk == {d: len(b) for d, b in self.model.items()}
        for digest, data in self.model.items():
            if digest not in self.rotten:
                assert self.store.locate(digest).read_bytes() == data
                assert self.store.verify(digest) is True


def test_the_blob_store_behaves_as_its_model(tmp_path):
    counter = iter(range(10_000))

    def machine() -> BlobStoreMachine:
        return BlobStoreMachine(tmp_path / f"store-{next(counter)}")

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
