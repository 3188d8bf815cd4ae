"""Large files' manifests on the nodes: written when a file commits, read back by a master
that lost its database (``app.metadata.manifests`` holds the format and the rows)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient
from app.master.writer import ReplicatedWriter
from app.metadata.cluster_blobs import manifest_name
from app.metadata.manifests import (
    MAX_MANIFEST_BYTES,
    InvalidManifest,
    Manifest,
    StoredManifest,
    decode_manifest,
    encode_manifest,
    manifest_address,
)
from app.metadata.records import NodeRecord

log = logging.getLogger(__name__)


class ManifestWriter:
    """The master's ``ManifestSink``: each manifest a private blob on R live nodes."""

    def __init__(
        self, writer: ReplicatedWriter, live_nodes: Callable[[], list[NodeRecord]]
    ) -> None:
        self.writer = writer
        self.live_nodes = live_nodes

    def store(self, manifest: Manifest) -> StoredManifest:
        """Write the manifest to R nodes, or as many as take it: one copy will do (503
        without any, and then the file is not committed), as a commit of blocks with one
        live copy each does; repair brings it to R."""
        data = encode_manifest(manifest)
        digest = manifest_address(data)
        result = self.writer.write(
            self.live_nodes(),
            lambda: data,
            digest,
            manifest_name(manifest.hash),
            kind="manifest",
            private=True,
            quorum=1,
        )
        return StoredManifest(digest, len(data), result.stored_on)


def read_manifests(
    nodes: NodeClient, node_url: str, blob_hashes: Sequence[str]
) -> list[tuple[str, Manifest]]:
    """Fetch and parse manifests a node reports holding; those it cannot serve, or that
    are not manifests, are logged and left out (another node's copy may do)."""
    found = []
    for blob_hash in blob_hashes:
        try:
            data = nodes.fetch_blob(node_url, blob_hash, MAX_MANIFEST_BYTES, signed=True)
            if data is None:
                continue
            found.append((blob_hash, decode_manifest(data)))
        except (CorruptCopy, MissingCopy, InvalidManifest) as exc:
            log.warning("manifest %s on %s unusable: %s", blob_hash, node_url, exc)
    return found
