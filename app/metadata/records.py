"""What the master's stores hand out (plain values, no SQL): files and their blocks, the
copies nodes report holding, the blobs the catalogue purged, and the nodes of the cluster
with the state of each blob's copies.

A file is either one blob stored under the file's own hash (every small file, and every
file of the reference API), or a manifest: the ordered blocks of a large file, each a
blob.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Block:
    """One blob of a file, where it starts in the file, and the nodes holding it."""

    hash: str
    size: int
    offset: int
    replicas: tuple[str, ...] = ()
    # Those of ``replicas`` whose copy is private (``replicas.private``).
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRecord:
    hash: str
    name: str
    size: int
    # Nodes holding the file's blob, or, for a manifest, any of its blocks.
    replicas: tuple[str, ...] = field(default=())
    # A manifest's blocks in order; empty for a file stored as one blob.
    blocks: tuple[Block, ...] = field(default=())
    block_size: int = 0
    # In the global catalogue (see the schema); False for content of the user API only.
    public: bool = True
    # Those of ``replicas`` whose copy of the file's own blob is private.
    hidden: tuple[str, ...] = ()

    @property
    def parts(self) -> tuple[Block, ...]:
        """The blobs to read, in order: the blocks, or the file's own blob."""
        return self.blocks or (Block(self.hash, self.size, 0, self.replicas, self.hidden),)

    def public_view(self) -> FileRecord:
        """The record without its private copies: what the global catalogue shows and
        reads. A private copy is there for the per-user API; through a public record (one
        ``/register`` made, say) it would tell who holds what, and serve it."""
        if not self.hidden and not any(block.hidden for block in self.blocks):
            return self
        blocks = tuple(
            replace(b, replicas=tuple(n for n in b.replicas if n not in b.hidden), hidden=())
            for b in self.blocks
        )
        if blocks:
            replicas = tuple(sorted({node for block in blocks for node in block.replicas}))
        else:
            replicas = tuple(node for node in self.replicas if node not in self.hidden)
        return replace(self, replicas=replicas, blocks=blocks, hidden=())

    def to_dict(self) -> dict[str, Any]:
        """Render the reference's FileInfo shape (plus the block count of a manifest)."""
        info: dict[str, Any] = {
            "hash": self.hash,
            "name": self.name,
            "size": self.size,
            "replicas": list(self.replicas),
        }
        if self.blocks:
            info["blocks"] = len(self.blocks)
            info["block_size"] = self.block_size
        return info


# What a blob is to the cluster: a whole "file", a "block" of a large one, a large file's
# "manifest", a "snapshot" of the master's user trees or a "journal" record of files
# written into them since (the last three written by masters only: what a master that
# lost its database is rebuilt from).
BLOB_KINDS = ("file", "block", "manifest", "snapshot", "journal")
CLUSTER_KINDS = frozenset({"manifest", "snapshot", "journal"})


@dataclass(frozen=True)
class HeldCopy:
    """One blob a node reports holding, as its inventory describes it."""

    hash: str
    name: str
    size: int
    kind: str = "file"
    private: bool = False  # the node serves it only through a signed URL


@dataclass(frozen=True)
class PurgedBlob:
    """A blob forgotten by the catalogue, and the nodes that still hold a copy of it."""

    hash: str
    replicas: tuple[str, ...]


@dataclass(frozen=True)
class NodeStats:
    capacity_bytes: int = 0
    free_bytes: int = 0
    used_bytes: int = 0
    files: int = 0


@dataclass(frozen=True)
class ScrubFigures:
    """A node's scrubbing as its last heartbeat told it (times are Unix seconds, 0: never)."""

    started_at: float = 0.0  # the start of the pass under way, or of the last one
    finished_at: float = 0.0  # the end of the last complete or interrupted pass
    seconds: float = 0.0  # how long that pass took
    checked: int = 0  # blobs it re-hashed
    corrupt: int = 0  # blobs it found rotten (quarantined, repaired from a replica)
    missing: int = 0  # catalogue rows whose blob file had gone

    @property
    def running(self) -> bool:
        return self.started_at > self.finished_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "started_at": self.started_at or None,
            "finished_at": self.finished_at or None,
            "seconds": self.seconds,
            "checked": self.checked,
            "corrupt": self.corrupt,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class NodeRecord:
    id: str
    url: str
    first_seen: float
    last_seen: float
    stats: NodeStats = NodeStats()
    unresponsive_since: float = 0.0  # 0: it answers
    scrub: ScrubFigures = ScrubFigures()
    down_since: float = 0.0  # 0: not known down (its stream broke and it did not answer)

    def is_up(self, now: float, timeout: float) -> bool:
        """Whether the node was alive within ``timeout`` seconds: it beat, and answered.

        A node that beats but stopped answering, or that is known down, counts from the
        moment it stopped, so that its copies are rebuilt after the repair grace as if
        its beats had stopped then.
        """
        alive = self.last_seen
        for since in (self.unresponsive_since, self.down_since):
            if since:
                alive = min(alive, since)
        return now - alive <= timeout

    def is_serving(self, now: float, timeout: float) -> bool:
        """Up and answering: a node that writes and reads may be sent to."""
        return not self.unresponsive_since and not self.down_since and self.is_up(now, timeout)

    def state(self, now: float, timeout: float) -> str:
        """``up``, ``unresponsive`` (it beats, or did lately, and does not answer) or
        ``down`` (no beat within ``timeout``, or known down since its stream broke)."""
        if self.down_since or now - self.last_seen > timeout:
            return "down"
        return "unresponsive" if self.unresponsive_since else "up"

    def to_dict(self, now: float, timeout: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "state": self.state(now, timeout),
            "last_beat": self.last_seen,
            "seconds_since_beat": round(now - self.last_seen, 3),
            "first_seen": self.first_seen,
            "capacity_bytes": self.stats.capacity_bytes,
            "free_bytes": self.stats.free_bytes,
            "used_bytes": self.stats.used_bytes,
            "files": self.stats.files,
            "scrub": self.scrub.to_dict(),
        }


@dataclass(frozen=True)
class ReplicationState:
    hash: str
    # The file's name when the blob is a whole file, a cluster blob's own (a manifest, a
    # snapshot, a journal record), else "".
    name: str
    size: int
    counted: int  # copies on nodes up, or down for less than the repair grace
    live: int  # copies on nodes up now
    kind: str = "file"  # one of BLOB_KINDS: a whole file, a block, a manifest, a snapshot

    @property
    def is_file(self) -> bool:
        return self.kind == "file"
