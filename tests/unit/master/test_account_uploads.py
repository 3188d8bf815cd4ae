"""The master's side of account uploads sent to the nodes (``AccountBlockUploads``) on a
real SQLite catalogue, with the nodes' digest and the reader as fakes: where each block
goes, whose upload it is, what a receipt proves, and how the whole-file hash is proven
before a commit (#21)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.cluster.node_client import NodeUnavailable
from app.errors import Conflict, HashMismatch, UploadNotFound
from app.master.account_uploads import AccountBlockUploads
from app.metadata.engine import make_engine, sqlite_url, write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord, NodeRecord
from app.metadata.uploads import UploadStore
from app.security import WRITE, UrlSigner, check_blob_token, upload_receipt

KEY = "k" * 32
BLOCKS = [b"a" * 4, b"b" * 4, b"c" * 2]
HASHES = [hashlib.sha256(b).hexdigest() for b in BLOCKS]
WHOLE = hashlib.sha256(b"".join(BLOCKS)).hexdigest()
PLAN = [(h, len(b)) for h, b in zip(HASHES, BLOCKS, strict=True)]
NODES = [NodeRecord("n1", "http://one", 0, 0), NodeRecord("n2", "http://two", 0, 0)]


class FakeNodes:
    """The nodes' ``POST /blobs/digest``: what it answered, and who asked."""

    def __init__(self, answer: tuple[str, int] | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def digest_blobs(self, node_url: str, blocks: list[str]) -> tuple[str, int]:
        self.asked.append(node_url)
        if self.answer is None:
            raise NodeUnavailable("down")
        return self.answer


class FakeReader:
    def __init__(self) -> None:
        self.reads = 0

    def iter_range(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]:
        self.reads += 1
        yield from BLOCKS


@pytest.fixture
def store(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "meta.db"))
    yield FileCatalogue(engine)
    engine.dispose()


def uploads_over(store, nodes=None, reader=None) -> AccountBlockUploads:
    return AccountBlockUploads(
        UploadStore(store),
        reader or FakeReader(),
        nodes or FakeNodes((WHOLE, 10)),
        lambda: NODES,
        replication=2,
        block_size=4,
        ttl=60,
        signer=UrlSigner(KEY, 60, 60),
    )


def held_everywhere(store) -> None:
    for block_hash, size in PLAN:
        store.register_blob(block_hash, size, ["n1", "n2"])


def test_each_block_goes_down_a_chain_of_the_same_nodes_turn_by_turn(store):
    account = uploads_over(store)
    upload = account.begin(7, "/a/big.bin", 10, WHOLE, PLAN)
    target = account.targets(upload)
    placed = [target(h) for h in HASHES]
    first = placed[0]["nodes"]
    assert sorted(first) == ["n1", "n2"]
    assert [p["nodes"] for p in placed] == [first, first[::-1], first]
    for block_hash, where in zip(HASHES, placed, strict=True):
        url = urlsplit(str(where["url"]))
        query = dict(parse_qsl(url.query))
        assert query["private"] == "1" and query["upload"] == upload.id
        assert query["kind"] == "block" and query["hash"] == block_hash
        assert check_blob_token(KEY, query["token"], WRITE, block_hash, query)
        # The token fixes the upload and the privacy of the copy.
        assert not check_blob_token(
            KEY, query["token"], WRITE, block_hash, {**query, "upload": "x"}
        )
        assert not check_blob_token(
            KEY, query["token"], WRITE, block_hash, {**query, "private": "0"}
        )


def test_an_upload_is_only_its_users(store):
    account = uploads_over(store)
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    assert account.get(7, upload.id).name == "/a.bin"
    with pytest.raises(UploadNotFound):
        account.get(8, upload.id)


def test_a_receipt_is_for_its_upload_block_and_size(store):
    account = uploads_over(store)
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    other = account.begin(7, "/b.bin", 10, WHOLE, PLAN)
    receipt = upload_receipt(KEY, upload.id, HASHES[0], 4)
    assert account.is_receipt(upload, HASHES[0], 4, receipt)
    assert not account.is_receipt(other, HASHES[0], 4, receipt)
    assert not account.is_receipt(upload, HASHES[1], 4, receipt)
    assert not account.is_receipt(upload, HASHES[0], 4, "0" * 64)


def test_blocks_without_a_live_copy_are_named_and_nothing_commits(store):
    account = uploads_over(store)
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    store.register_blob(HASHES[0], 4, ["n1"])
    store.register_blob(HASHES[2], 2, ["gone"])  # a node no longer live
    with pytest.raises(Conflict) as refused:
        account.commit(upload, "a.bin")
    assert refused.value.code == "blocks_missing" and refused.value.details == {"missing": [1, 2]}
    assert account.get(7, upload.id).id == upload.id  # still open


def test_a_node_holding_every_block_proves_the_whole_hash(store):
    nodes = FakeNodes((WHOLE, 10))
    reader = FakeReader()
    account = uploads_over(store, nodes, reader)
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    held_everywhere(store)
    record = account.commit(upload, "a.bin")
    assert record.hash == WHOLE and not record.public and record.name == "a.bin"
    assert [(b.hash, b.size) for b in record.blocks] == PLAN
    assert len(nodes.asked) == 1 and reader.reads == 0
    with pytest.raises(UploadNotFound):
        account.get(7, upload.id)


def test_blocks_that_hash_to_another_file_close_the_upload(store):
    account = uploads_over(store, FakeNodes(("ee" * 32, 10)))
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    held_everywhere(store)
    with pytest.raises(HashMismatch):
        account.commit(upload, "a.bin")
    with pytest.raises(UploadNotFound):
        account.get(7, upload.id)
    assert store.get(WHOLE) is None


def test_with_no_node_to_hash_them_the_blocks_are_read_back(store):
    reader = FakeReader()
    nodes = FakeNodes(None)
    account = uploads_over(store, nodes, reader)
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    held_everywhere(store)
    assert account.commit(upload, "a.bin").hash == WHOLE
    assert nodes.asked == ["http://one", "http://two"] and reader.reads == 1


def test_the_same_manifest_catalogued_proves_it_without_reading(store):
    nodes = FakeNodes(None)
    reader = FakeReader()
    account = uploads_over(store, nodes, reader)
    held_everywhere(store)
    record = FileRecord(WHOLE, "old.bin", 10, block_size=4, public=False)
    with write_transaction(store.engine) as conn:
        store.add_manifest(conn, record, PLAN, time.time())
    upload = account.begin(7, "/a.bin", 10, WHOLE, PLAN)
    assert account.commit(upload, "a.bin").hash == WHOLE
    assert nodes.asked == [] and reader.reads == 0


def test_one_block_is_the_file_itself(store):
    account = uploads_over(store)
    upload = account.begin(7, "/s.bin", 4, HASHES[0], PLAN[:1])
    store.register_blob(HASHES[0], 4, ["n1"])
    record = account.commit(upload, "s.bin")
    assert record.hash == HASHES[0] and record.blocks == () and not record.public
    liar = account.begin(7, "/s.bin", 4, WHOLE, PLAN[:1])
    with pytest.raises(HashMismatch):
        account.commit(liar, "s.bin")
