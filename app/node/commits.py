"""A node's new copies made durable together: the bytes synced, the master told, the
catalogue written, once for every upload in flight (``NodeService`` decides what to keep
and where it goes next; this is how it is committed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.cluster.master_client import MasterClient, MasterUnavailable, NewCopy
from app.metadata.node_catalogue import BlobEntry, NodeCatalogue
from app.primitives.group_commit import GroupCommit
from app.storage.blobstore import FileBlobStore
from app.storage.writer import SealedBlob, StoredBlob

log = logging.getLogger(__name__)

# Uploads made durable, catalogued and registered together, at most.
STORE_BATCH = 256
# Batches of POST /blobs (up to 1,000 blobs each) made durable together, at most.
BLOB_BATCHES = 8


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


class CopyCommitter:
    """Keeps new copies in group commits: one for single uploads, one for the batches of
    ``POST /blobs``."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        master: MasterClient,
        *,
        group_commit_delay: float = 0.0,
    ) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self.master = master
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
        stored = self.blobs.persist([upload.sealed for upload in uploads])
        answers = self._register_batch(stored, uploads)
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
            KeptCopy(blob, entry, answer is not None or not upload.register, answer or {})
            for blob, entry, upload, answer in zip(stored, entries, uploads, answers, strict=True)
        ]

    def _register_batch(
        self, stored: Sequence[StoredBlob], uploads: Sequence[PendingCopy]
    ) -> list[dict[str, Any] | None]:
        """The master's answer for each copy to register; None where it was not."""
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
            )
            for i in registering
        ]
        try:
            results = self.master.register_copies(copies)
        except MasterUnavailable as exc:
            # Catalogued as pending: the background sync registers them later.
            log.warning("registration of %d copies deferred: %s", len(copies), exc.message)
            return answers
        for i, result in zip(registering, results, strict=True):
            answers[i] = result
        return answers
