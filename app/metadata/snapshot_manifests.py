"""The manifest of a snapshot stored as blocks: what lists them, on the nodes.

A snapshot larger than one block (``BLOCK_SIZE``) is cut into blocks, each a private
blob, as a large file is; its manifest, canonical JSON of the snapshot's hash, size,
time and ordered blocks, is the snapshot's blob of kind "snapshot". A master that lost
its database reads it back from the nodes' inventories (``app.master.reports``), as it
reads a large file's manifest (``app.metadata.manifests``), and learns the snapshot and
its blocks from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.metadata.manifests import (
    block_list,
    blocks_add_up,
    canonical_json,
    load_json_object,
    text_field,
)

FORMAT = 1
KIND = "snapshot"
# A manifest larger than this is not one of ours (a 64 GiB snapshot of 64 KiB blocks
# lists a million blocks, ~80 MB: far past SNAPSHOT_MAX_BYTES's bound).
MAX_SNAPSHOT_MANIFEST_BYTES = 16 * 1024 * 1024


class InvalidSnapshotManifest(ValueError):
    """Bytes that are not a snapshot's manifest this code wrote."""


@dataclass(frozen=True)
class SnapshotManifest:
    hash: str
    size: int
    taken_at: float
    block_size: int
    blocks: tuple[tuple[str, int], ...]


def encode_snapshot_manifest(manifest: SnapshotManifest) -> bytes:
    """The canonical bytes of ``manifest``."""
    document = {
        "format": FORMAT,
        "kind": KIND,
        "hash": manifest.hash,
        "size": manifest.size,
        "taken_at": manifest.taken_at,
        "block_size": manifest.block_size,
        "blocks": [[h, s] for h, s in manifest.blocks],
    }
    return canonical_json(document)


def decode_snapshot_manifest(data: bytes) -> SnapshotManifest:
    """Parse a snapshot manifest's bytes; InvalidSnapshotManifest unless its blocks add
    up to its size."""
    document = load_json_object(data, InvalidSnapshotManifest)
    if document.get("format") != FORMAT or document.get("kind") != KIND:
        raise InvalidSnapshotManifest("not a snapshot manifest of this format")
    try:
        manifest = SnapshotManifest(
            hash=text_field(document["hash"]),
            size=int(document["size"]),
            taken_at=float(document["taken_at"]),
            block_size=int(document["block_size"]),
            blocks=block_list(document["blocks"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSnapshotManifest(f"a field is missing or of the wrong type: {exc}") from exc
    if not blocks_add_up(manifest.blocks, manifest.size):
        raise InvalidSnapshotManifest("its blocks do not add up to its size")
    return manifest
