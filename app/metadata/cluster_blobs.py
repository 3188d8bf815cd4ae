"""What the cluster's own blobs are (a large file's manifest, a snapshot, a journal
record) and the name each carries on the nodes: a repair copy gets both, so that a
rebuilt master knows it from any copy's kind and name, as from the first one's."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, or_, select

from app.metadata.journal_records import journal_name
from app.metadata.recovery_schema import journal, manifests, snapshots
from app.metadata.snapshots import snapshot_name


def manifest_name(file_hash: str) -> str:
    """The name of a large file's manifest on the nodes (only a person reads it)."""
    return f"manifest-{file_hash}"


def describe_cluster_blobs(conn: Connection, hashes: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(kind, name) of those of ``hashes`` that are the cluster's own blobs."""
    found: dict[str, tuple[str, str]] = {}
    for blob_hash, file_hash in conn.execute(
        select(manifests.c.blob_hash, manifests.c.file_hash).where(
            manifests.c.blob_hash.in_(hashes)
        )
    ):
        found[blob_hash] = ("manifest", manifest_name(file_hash))
    for snapshot_hash, manifest_hash, taken_at in conn.execute(
        select(snapshots.c.hash, snapshots.c.manifest_hash, snapshots.c.taken_at).where(
            or_(snapshots.c.hash.in_(hashes), snapshots.c.manifest_hash.in_(hashes))
        )
    ):
        # One blob, or a manifest of blocks (whose hash is no blob: never a copy's).
        found[snapshot_hash] = ("snapshot", snapshot_name(taken_at))
        if manifest_hash:
            found[manifest_hash] = ("snapshot", snapshot_name(taken_at, blocks=True))
    for record_hash, written_at in conn.execute(
        select(journal.c.hash, journal.c.written_at).where(journal.c.hash.in_(hashes))
    ):
        found[record_hash] = ("journal", journal_name(written_at))
    return found
