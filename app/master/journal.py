"""The journal of changes of user trees, accounts and share links since the last
snapshot, as private blobs on the nodes (kind "journal"): written before a change is
answered, read back and replayed by a rebuilt master. The rows are
``app.metadata.journal``'s, the replay ``app.metadata.journal_replay``'s, the records'
format ``app.metadata.journal_records``'."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient
from app.errors import AppError
from app.master.writer import ReplicatedWriter
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import REPLAY_MARGIN, journaling, note_record, records_after
from app.metadata.journal_records import (
    JournalRecord,
    encode_records,
    journal_name,
    parse_records,
)
from app.metadata.journal_replay import replay
from app.metadata.records import NodeRecord
from app.primitives.group_commit import GroupCommit

log = logging.getLogger(__name__)

# Records of concurrent changes written in one blob at most: a blob stays small (a few
# KiB; a batch's files record is the largest), the wait for one write short.
MAX_GROUP = 64


class TreeJournal:
    """Writes a record of each change of a user's tree, account or share links, and
    replays them."""

    def __init__(
        self,
        store: FileCatalogue,
        writer: ReplicatedWriter,
        nodes: NodeClient,
        live_nodes: Callable[[], list[NodeRecord]],
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.writer = writer
        self.nodes = nodes
        self.live_nodes = live_nodes
        self._group: GroupCommit[JournalRecord, None] = GroupCommit(self._write, MAX_GROUP)

    def record(self, record: JournalRecord) -> None:
        """Journal a change just committed, on R nodes (the write quorum), before it is
        answered: 503 below the quorum, as a written file's own blob would be. Nothing
        while there is no snapshot to replay over. Concurrent changes share one blob
        (a group commit): one replicated write, two commits, for all of them."""
        if record.is_empty() or not journaling(self.engine):
            return
        self._group.submit(record)

    def _write(self, records: Sequence[JournalRecord]) -> list[None]:
        data = encode_records(records)
        digest = hashlib.sha256(data).hexdigest()
        # Named after the latest: a blob is replayed while any of its records is newer
        # than the snapshot restored, and kept until all are older than every snapshot.
        written_at = max(record.written_at for record in records)
        note_record(self.engine, digest, written_at, len(data))
        result = self.writer.write(
            self.live_nodes(),
            lambda: data,
            digest,
            journal_name(written_at),
            kind="journal",
            private=True,
        )
        self.store.register_blob(digest, len(data), result.stored_on, private=True)
        return [None] * len(records)

    def replay_after(
        self, taken_at: float, heads: Mapping[int, int] | None = None
    ) -> dict[str, int]:
        """Replay over a restored snapshot (its time ``taken_at``, its feed ``heads``)
        the records a live node serves written from REPLAY_MARGIN before it: how many
        records were read (``records``; a blob may hold several), blobs ``unreadable``,
        and the changes made of each kind (``app.metadata.journal_replay.replay``, which
        tells those the snapshot holds)."""
        wanted = records_after(self.engine, taken_at - REPLAY_MARGIN)
        holders = self.store.blob_copies([digest for digest, _size in wanted])
        records: list[JournalRecord] = []
        unreadable = 0
        for digest, size in wanted:
            data = self._read(digest, size, set(holders.get(digest, ())))
            try:
                if data is None:
                    raise ValueError("no live node serves it")
                records.extend(parse_records(data))
            except (AppError, ValueError) as exc:
                unreadable += 1
                log.warning("journal record %s unusable: %s", digest[:12], exc)
        made = replay(self.engine, records, taken_at, heads)
        return {"records": len(records), "unreadable": unreadable, **made}

    def _read(self, digest: str, size: int, holders: set[str]) -> bytes | None:
        for node in self.live_nodes():
            if node.id not in holders:
                continue
            try:
                data = self.nodes.fetch_blob(node.url, digest, size, signed=True)
            except (CorruptCopy, MissingCopy) as exc:
                log.warning("journal record %s on %s unusable: %s", digest[:12], node.id, exc)
                continue
            if data is not None:
                return data
        return None
