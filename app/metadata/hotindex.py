"""A lock-protected, bounded dict of file records in front of the durable store.

The dict is a cache, never the only copy: every write goes to the database first, and
the whole dict is dropped whenever files or replicas changed (in this process or another
gunicorn worker: every such write bumps one version row), so a worker never answers from a
stale entry, while node heartbeats, which write too, leave it warm.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from app.metadata.catalogue_version import VERSION_QUERY
from app.metadata.engine import ChangeMarker
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord
from app.primitives.lru import LRUCache


class HotIndex:
    """Read-through cache of ``FileCatalogue.get``; writes go to the store directly."""

    def __init__(self, store: FileCatalogue, capacity: int) -> None:
        self.store = store
        self._records: LRUCache[str, FileRecord] = LRUCache(capacity)
        self._lock = threading.RLock()
        self._marker = ChangeMarker(store.engine, VERSION_QUERY)
        self._version = self._marker.current()

    def get(self, file_hash: str) -> FileRecord | None:
        """Return the record of ``file_hash``, from memory when the store has not changed."""
        with self._lock:
            if self._is_current():
                record = self._records.get(file_hash)
                if record is not None:
                    return record
        record = self.store.get(file_hash)
        if record is not None and self._version is not None:
            self._records.put(file_hash, record)
        return record

    def get_many(self, file_hashes: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``file_hashes`` that are registered, by hash: one look
        at the version, then the store for those not in memory, in one go."""
        found: dict[str, FileRecord] = {}
        with self._lock:
            if self._is_current():
                for file_hash in file_hashes:
                    record = self._records.get(file_hash)
                    if record is not None:
                        found[file_hash] = record
        missing = [file_hash for file_hash in file_hashes if file_hash not in found]
        if missing:
            read = self.store.get_many(missing)
            if self._version is not None:
                for file_hash, record in read.items():
                    self._records.put(file_hash, record)
            found.update(read)
        return found

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        self._marker.close()

    def _is_current(self) -> bool:
        """Drop every entry if the database changed since the last look; tell if it had not."""
        version = self._marker.current()
        if version is None or version != self._version:
            self._records.clear()
            self._version = version
            return False
        return True
