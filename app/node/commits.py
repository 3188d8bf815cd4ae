"""A node's new copies made durable together: the bytes synced, the master told, the
catalogue written, once for every upload in flight (``NodeService`` decides what to keep
and where it goes next; this is how it is committed).

At R > 1 a batch's small uploads are copied to their peers while the node syncs its own
(bench/PROFILE-22.md): one ``POST /blobs`` per peer, answered once the peer made them
durable, to the peers the master named in its answer to the previous batch (its
placement, made when it is told of the copies, one batch late); then one registration
tells the master of both copies. A write so waits for two syncs side by side and one
master commit, where it waited for four in a row (its sync, its registration, the
peer's sync and the peer's registration). What the peers did not take (the first batch,
a peer down) the master still names in ``replicate_to``, and ``NodeService`` forwards
it after, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.cluster.master_client import MasterClient, MasterUnavailable, NewCopy
from app.cluster.node_client import NodeClient, NodeUnavailable
from app.metadata.node_catalogue import BlobEntry, NodeCatalogue
from app.primitives.context_pool import ContextThreadPool
from app.primitives.group_commit import GroupCommit
from app.storage.blobstore import FileBlobStore
from app.storage.writer import SealedBlob, StoredBlob

log = logging.getLogger(__name__)

# Uploads made durable, catalogued and registered together, at most.
STORE_BATCH = 256
# Batches of POST /blobs (up to 1,000 blobs each) made durable together, at most.
BLOB_BATCHES = 8
# Bytes of blobs per POST /blobs copied ahead to a peer: its body stays under the limit
# of what a node's fast path reads (app.node.overlay FAST_UPLOAD_LIMIT, 1 MiB).
AHEAD_BYTES = 512 * 1024
# Peers copied to at once (R - 1 of them for a batch).
AHEAD_THREADS = 4

# A peer as the master names it: {"id", "url"}.
Peer = dict[str, Any]


@dataclass(frozen=True)
class PendingCopy:
    """A sealed blob to keep: its name and kind, and what the master is to hear of it."""

    sealed: SealedBlob
    name: str
    kind: str
    register: bool  # False: the writing master registers the copy
    want_peers: bool  # ask the master which peers should get copies
    private: bool = False  # served only through signed URLs (app.metadata.visibility)


@dataclass(frozen=True)
class KeptCopy:
    """A copy made durable: where it is, its catalogue row, whether the master knows it."""

    stored: StoredBlob
    entry: BlobEntry
    registered: bool
    answer: dict[str, Any]  # the master's, with ``replicate_to`` when peers were wanted
    copied: tuple[Peer, ...] = ()  # peers that hold it durably too, registered with it


class CopyCommitter:
    """Keeps new copies in group commits: one for single uploads, one for the batches of
    ``POST /blobs``."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        master: MasterClient,
        *,
        peers: NodeClient | None = None,
        group_commit_delay: float = 0.0,
    ) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self.master = master
        self.peers = peers
        # Where the master would place this node's next new copies (its last answer).
        self._placement: list[Peer] = []
        self._ahead = ContextThreadPool(max_workers=AHEAD_THREADS, thread_name_prefix="mdbx-ahead")
        # Concurrent uploads share their syncs, catalogue transaction and master
        # registration: each of these serialises (a journal commit, SQLite's write lock
        # across the node's worker processes, the master's commit).
        self._stores = GroupCommit(
            self._store_batch, max_batch=STORE_BATCH, delay=group_commit_delay
        )
        # The batches of ``POST /blobs`` that arrive together share one sync too.
        self._batches = GroupCommit(self._store_batches, max_batch=BLOB_BATCHES)

    def keep(self, copy: PendingCopy) -> KeptCopy:
        """Keep one copy, in the next batch of every upload in flight."""
        return self._stores.submit(copy)

    def keep_batch(self, copies: Sequence[PendingCopy]) -> list[KeptCopy]:
        """Keep the copies of one ``POST /blobs``, with the batches that arrived with it."""
        return self._batches.submit(copies)

    def _store_batches(self, groups: Sequence[Sequence[PendingCopy]]) -> list[list[KeptCopy]]:
        """Batches of ``POST /blobs`` that arrived together, made durable as one."""
        kept = self._store_batch([upload for group in groups for upload in group])
        answers: list[list[KeptCopy]] = []
        start = 0
        for group in groups:
            answers.append(kept[start : start + len(group)])
            start += len(group)
        return answers

    def _store_batch(self, uploads: Sequence[PendingCopy]) -> list[KeptCopy]:
        """Make a batch durable, register it with the master, and catalogue it.

        One stage, not a pipeline of two: under load every upload in flight joins the
        next batch, so its fixed costs (two filesystem syncs, one master call and its
        commit, one catalogue transaction) are shared as widely as they can be.
        """
        copying = self._copy_ahead(uploads)
        try:
            stored = self.blobs.persist([upload.sealed for upload in uploads])
        finally:
            copied = copying()  # a failed sync still waits for its copies to end
        answers = self._register_batch(stored, uploads, copied)
        # Catalogued after the master's answer, so that the registration state is
        # written once, and right: should this process die in between, the copy is on
        # disk and known to the master, and the next full sync catalogues it. For the
        # same reason a catalogue the disk has no room for does not fail the upload
        # (#17): its bytes are durable, registered and readable, so the answer is
        # success, and the rows wait in memory for the next batch. A 507 would have to
        # undo a copy the master already lists, and may not delete a blob an earlier
        # upload stored too.
        entries = self.catalog.record_durable(
            [
                (blob.digest, upload.name, blob.size, upload.kind)
                for blob, upload in zip(stored, uploads, strict=True)
            ],
            # A master that writes a copy itself (register=0) registers it.
            registered=[
                blob.digest
                for blob, upload, answer in zip(stored, uploads, answers, strict=True)
                if answer is not None or not upload.register
            ],
            private=[upload.sealed.digest for upload in uploads if upload.private],
        )
        return [
            KeptCopy(blob, entry, answer is not None or not upload.register, answer or {}, peers)
            for blob, entry, upload, answer, peers in zip(
                stored, entries, uploads, answers, copied, strict=True
            )
        ]

    def _copy_ahead(self, uploads: Sequence[PendingCopy]) -> Callable[[], list[tuple[Peer, ...]]]:
        """Start copying the batch's small public uploads that want peers to the peers of
        the master's placement; return what waits for them: per upload, the peers that
        made it durable (none for a peer that failed: the master then names it again)."""
        chosen = [
            upload
            for upload in uploads
            if upload.want_peers
            and upload.register
            and not upload.private
            and upload.sealed.data is not None
        ]
        placement = self._placement
        if not chosen or not placement or self.peers is None:
            return lambda: [()] * len(uploads)
        copies = [(peer, self._ahead.submit(self._copy_to, peer, chosen)) for peer in placement]

        def wait() -> list[tuple[Peer, ...]]:
            taken = [(peer, future.result()) for peer, future in copies]
            return [
                tuple(peer for peer, digests in taken if upload.sealed.digest in digests)
                for upload in uploads
            ]

        return wait

    def _copy_to(self, peer: Peer, uploads: Sequence[PendingCopy]) -> set[str]:
        """Copy uploads to a peer (``POST /blobs``, a kind and AHEAD_BYTES a request);
        the digests it made durable."""
        assert self.peers is not None
        durable: set[str] = set()
        for group in _requests_of(uploads):
            blobs = [(u.sealed.digest, u.name, u.sealed.data or b"") for u in group]
            try:
                results = self.peers.put_blobs(
                    peer["url"], blobs, kind=group[0].kind, node_id=peer["id"]
                )
            except NodeUnavailable as exc:
                log.warning("copies of %d uploads to %s failed: %s", len(blobs), peer, exc.message)
                break
            durable.update(
                digest
                for (digest, _name, _data), result in zip(blobs, results, strict=True)
                if isinstance(result, dict)
                and result.get("hash") == digest
                and "error" not in result
            )
        return durable

    def _register_batch(
        self,
        stored: Sequence[StoredBlob],
        uploads: Sequence[PendingCopy],
        copied: Sequence[tuple[Peer, ...]],
    ) -> list[dict[str, Any] | None]:
        """The master's answer for each copy to register (with the peers that hold it
        too); None where it was not. Keeps the master's placement for the next batch."""
        answers: list[dict[str, Any] | None] = [None] * len(uploads)
        registering = [i for i, upload in enumerate(uploads) if upload.register]
        if not registering:
            return answers
        copies = [
            NewCopy(
                stored[i].digest,
                uploads[i].name,
                stored[i].size,
                uploads[i].kind,
                uploads[i].want_peers,
                uploads[i].private,
                tuple(str(peer["id"]) for peer in copied[i]),
            )
            for i in registering
        ]
        try:
            registered = self.master.register(copies)
        except MasterUnavailable as exc:
            # Catalogued as pending: the background sync registers them later.
            log.warning("registration of %d copies deferred: %s", len(copies), exc.message)
            return answers
        if any(copy.want_peers for copy in copies):
            self._placement = [
                peer
                for peer in registered.peers
                if isinstance(peer, dict)
                and isinstance(peer.get("id"), str)
                and isinstance(peer.get("url"), str)
            ]
        for i, result in zip(registering, registered.results, strict=True):
            answers[i] = result
        return answers


def _requests_of(uploads: Sequence[PendingCopy]) -> list[list[PendingCopy]]:
    """Uploads cut into the ``POST /blobs`` that carry them: one kind, AHEAD_BYTES each
    at most (one larger upload goes alone)."""
    groups: list[list[PendingCopy]] = []
    for kind in dict.fromkeys(upload.kind for upload in uploads):
        group: list[PendingCopy] = []
        size = 0
        for upload in (u for u in uploads if u.kind == kind):
            if group and size + upload.sealed.size > AHEAD_BYTES:
                groups.append(group)
                group, size = [], 0
            group.append(upload)
            size += upload.sealed.size
        groups.append(group)
    return groups
