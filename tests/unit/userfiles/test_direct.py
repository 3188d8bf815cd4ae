"""The rules of account uploads sent to the nodes (``DirectUploads``) on a real SQLite
namespace, with the master's side a fake that records what it is asked: only a receipt
for this upload or a block held at that path counts, the quota holds at the start and at
the commit, folders stay folders, and the file lands as a new version (#21)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from app.errors import AppError, UploadNotFound
from app.metadata.accounts import UserStore
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.namespace import NamespaceStore
from app.metadata.records import Block, FileRecord
from app.metadata.uploads import Upload
from app.userfiles.delta import DeltaWrites
from app.userfiles.direct import DirectUploads
from app.userfiles.interface import User

BLOCK = 8


class FakeBlocks:
    """The master's side: uploads in a dict, receipts "ok:<upload>:<hash>"."""

    def __init__(self, content) -> None:
        self.content = content
        self.open: dict[str, Upload] = {}
        self.committed: list[str] = []

    def begin(self, user_id, path, size, file_hash, blocks):
        upload = Upload(
            f"u{len(self.open)}",
            path,
            size,
            file_hash,
            BLOCK,
            time.time() + 60,
            tuple(blocks),
            f"user:{user_id}",
        )
        self.open[upload.id] = upload
        return upload

    def get(self, user_id, upload_id):
        upload = self.open.get(upload_id)
        if upload is None or upload.owner != f"user:{user_id}":
            raise UploadNotFound("no such upload")
        return upload

    def targets(self, upload):
        return lambda block_hash: {"url": f"http://node/upload?hash={block_hash}", "method": "PUT"}

    def is_receipt(self, upload, block_hash, size, receipt):
        return receipt == f"ok:{upload.id}:{block_hash}"

    def commit(self, upload, name):
        del self.open[upload.id]
        self.committed.append(upload.id)
        blocks, offset = [], 0
        for block_hash, size in upload.blocks:
            blocks.append(Block(block_hash, size, offset, ()))
            offset += size
        record = FileRecord(upload.hash, name, upload.size, (), tuple(blocks), BLOCK, public=False)
        self.content.records[upload.hash] = record
        return record

    def abort(self, upload):
        del self.open[upload.id]


class Content:
    """What DeltaWrites asks of the content: the records committed so far."""

    def __init__(self) -> None:
        self.records: dict[str, FileRecord] = {}

    def find(self, file_hash):
        return self.records.get(file_hash)


@pytest.fixture
def world(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "meta.db"))
    namespace = NamespaceStore(engine)
    content = Content()
    blocks = FakeBlocks(content)
    direct = DirectUploads(namespace, blocks, DeltaWrites(namespace, content, block_size=BLOCK))
    yield namespace, blocks, direct
    engine.dispose()


def user(user_id: int, quota: int = 0) -> User:
    return User(user_id, f"u{user_id}", False, False, quota)


def plan(path: str, data: bytes) -> dict:
    cut = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]
    return {
        "path": path,
        "size": len(data),
        "hash": hashlib.sha256(data).hexdigest(),
        "blocks": [hashlib.sha256(b).hexdigest() for b in cut],
    }


def receipts_for(state: dict) -> dict[str, str]:
    return {m["hash"]: f"ok:{state['upload_id']}:{m['hash']}" for m in state["missing"]}


def code(call) -> str:
    with pytest.raises(AppError) as raised:
        call()
    return raised.value.code


def make_users(namespace: NamespaceStore, *ids: int) -> None:
    users = UserStore(namespace.engine)
    for user_id in ids:
        assert users.add(f"u{user_id}", "x", admin=False, quota=0).id == user_id


def test_only_receipts_for_this_upload_count_then_the_file_is_a_new_version(world):
    namespace, blocks, direct = world
    make_users(namespace, 1, 2)
    alice = user(1)
    data = os.urandom(3 * BLOCK + 3)
    state = direct.begin(alice, plan("/a/f.bin", data))
    assert [m["indexes"] for m in state["missing"]] == [[0], [1], [2], [3]]
    assert code(lambda: direct.commit(alice, state["upload_id"], {})) == "blocks_missing"
    other = direct.begin(alice, plan("/b.bin", data))
    # Receipts of another upload of the same bytes prove nothing for this one.
    assert (
        code(lambda: direct.commit(alice, state["upload_id"], receipts_for(other)))
        == "blocks_missing"
    )
    assert (
        code(lambda: direct.commit(user(2), state["upload_id"], receipts_for(state)))
        == "upload_not_found"
    )
    entry = direct.commit(alice, state["upload_id"], receipts_for(state))
    assert (entry.path, entry.size, entry.version) == ("/a/f.bin", len(data), 1)
    assert namespace.get(1, "/a/f.bin").hash == hashlib.sha256(data).hexdigest()


def test_blocks_of_the_file_kept_at_that_path_are_not_asked_for(world):
    namespace, blocks, direct = world
    make_users(namespace, 1, 2)
    alice, bob = user(1), user(2)
    data = bytearray(os.urandom(3 * BLOCK))
    first = direct.begin(alice, plan("/f.bin", bytes(data)))
    direct.commit(alice, first["upload_id"], receipts_for(first))
    data[BLOCK] ^= 1
    second = direct.begin(alice, plan("/f.bin", bytes(data)))
    assert [m["indexes"] for m in second["missing"]] == [[1]]
    assert direct.commit(alice, second["upload_id"], receipts_for(second)).version == 2
    # Bob holds none of them, wherever he puts the same bytes.
    theirs = direct.begin(bob, plan("/f.bin", bytes(data)))
    assert len(theirs["missing"]) == 3


def test_the_quota_is_checked_at_the_start_and_at_the_commit(world):
    namespace, blocks, direct = world
    make_users(namespace, 1)
    data = os.urandom(2 * BLOCK)
    assert (
        code(lambda: direct.begin(user(1, quota=len(data) - 1), plan("/q.bin", data)))
        == "quota_exceeded"
    )
    state = direct.begin(user(1, quota=len(data)), plan("/q.bin", data))
    namespace.put_file(1, "/other.bin", "ab" * 32, 1, 0)
    assert (
        code(
            lambda: direct.commit(user(1, quota=len(data)), state["upload_id"], receipts_for(state))
        )
        == "quota_exceeded"
    )
    assert blocks.committed == []


def test_a_folder_stays_a_folder_and_the_plan_is_the_file_cut_in_blocks(world):
    namespace, blocks, direct = world
    make_users(namespace, 1)
    alice = user(1)
    namespace.mkdir(1, "/docs")
    data = os.urandom(2 * BLOCK)
    assert code(lambda: direct.begin(alice, plan("/docs", data))) == "is_a_directory"
    assert code(lambda: direct.begin(alice, plan("/", data))) == "invalid_path"
    short = {**plan("/x.bin", data), "blocks": plan("/x.bin", data)["blocks"][:1]}
    assert code(lambda: direct.begin(alice, short)) == "invalid_field"
    state = direct.begin(alice, plan("/later", data))
    namespace.mkdir(1, "/later")  # made meanwhile
    assert (
        code(lambda: direct.commit(alice, state["upload_id"], receipts_for(state)))
        == "is_a_directory"
    )
