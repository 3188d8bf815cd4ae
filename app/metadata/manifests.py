"""Large files' manifests as blobs of their own (kind "manifest"), and a catalogue rebuilt
from them.

A manifest is canonical JSON (sorted keys, no spaces): the file's hash, name, size, block
size, visibility and ordered blocks. It is content-addressed like any blob, written to R
nodes before the commit that makes its file appear is acknowledged, and kept while the
file lives (``manifests`` rows; ``app.metadata.collection``). A master that lost its
database reads the manifests its nodes report and gets its large files back
(``learn_manifests``); small files are their own blobs, named in the nodes' inventories.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select

from app.metadata.catalogue_schema import blobs, file_blocks, files
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.engine import batches, dialect_insert, write_transaction
from app.metadata.recovery_schema import manifests

FORMAT = 1
# A manifest larger than this is not one of ours (a 1 TiB file of 4 MiB blocks: ~20 MiB).
MAX_MANIFEST_BYTES = 32 * 1024 * 1024


class InvalidManifest(ValueError):
    """Bytes that are not a manifest this code wrote."""


@dataclass(frozen=True)
class Manifest:
    hash: str
    name: str
    size: int
    block_size: int
    blocks: tuple[tuple[str, int], ...]
    public: bool = True


@dataclass(frozen=True)
class StoredManifest:
    """A manifest's blob as written to nodes: its address, size and the nodes holding it."""

    hash: str
    size: int
    nodes: tuple[str, ...]


class ManifestSink(Protocol):
    """Writes a manifest's blob to R nodes (the master's ``ManifestWriter``)."""

    def store(self, manifest: Manifest) -> StoredManifest: ...


def encode_manifest(manifest: Manifest) -> bytes:
    """The canonical bytes of ``manifest``: the same manifest always has the same address."""
    document = {
        "format": FORMAT,
        "hash": manifest.hash,
        "name": manifest.name,
        "size": manifest.size,
        "block_size": manifest.block_size,
        "public": manifest.public,
        "blocks": [[h, s] for h, s in manifest.blocks],
    }
    return canonical_json(document)


def decode_manifest(data: bytes) -> Manifest:
    """Parse a manifest's bytes; InvalidManifest unless its blocks add up to its size."""
    document = load_json_object(data, InvalidManifest)
    if document.get("format") != FORMAT:
        raise InvalidManifest("not a manifest of this format")
    try:
        manifest = Manifest(
            hash=text_field(document["hash"]),
            name=text_field(document["name"]),
            size=int(document["size"]),
            block_size=int(document["block_size"]),
            blocks=block_list(document["blocks"]),
            public=bool(document["public"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidManifest(f"a field is missing or of the wrong type: {exc}") from exc
    if not blocks_add_up(manifest.blocks, manifest.size) or manifest.block_size <= 0:
        raise InvalidManifest("its blocks do not add up to its size")
    return manifest


def manifest_address(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The parts of a manifest's format that a snapshot's manifest
# (``app.metadata.snapshot_manifests``) shares.


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces: the same document always has the same bytes (and address)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def load_json_object(data: bytes, invalid: type[ValueError]) -> dict[str, Any]:
    """The JSON object ``data`` holds; ``invalid`` for anything else."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise invalid("not a JSON object")
    return document


def block_list(raw: Any) -> tuple[tuple[str, int], ...]:
    """The ordered (hash, size) blocks of a document; TypeError or ValueError if not that."""
    return tuple((text_field(h), int(s)) for h, s in raw)


def blocks_add_up(blocks: tuple[tuple[str, int], ...], size: int) -> bool:
    """Whether there is a block, none empty, and together they are ``size`` bytes."""
    sizes = [s for _h, s in blocks]
    return bool(sizes) and min(sizes) > 0 and sum(sizes) == size


def text_field(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def record_manifest(conn: Connection, file_hash: str, blob_hash: str) -> None:
    """Note (in the caller's transaction) which blob is the manifest of ``file_hash``."""
    insert = dialect_insert(conn)(manifests)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[manifests.c.file_hash], set_={"blob_hash": insert.excluded.blob_hash}
        ),
        {"file_hash": file_hash, "blob_hash": blob_hash},
    )


def unknown_manifests(engine: Engine, blob_hashes: Sequence[str]) -> list[str]:
    """Those of ``blob_hashes`` that are the manifest of no file the catalogue has."""
    if not blob_hashes:
        return []
    known: set[str] = set()
    with engine.connect() as conn:
        for chunk in batches(list(dict.fromkeys(blob_hashes))):
            known.update(
                conn.execute(
                    select(manifests.c.blob_hash).where(manifests.c.blob_hash.in_(chunk))
                ).scalars()
            )
    return [h for h in dict.fromkeys(blob_hashes) if h not in known]


def learn_manifests(engine: Engine, found: Sequence[tuple[str, Manifest]]) -> int:
    """Create the files of manifests read from nodes, (blob hash, manifest) each, unless
    the catalogue has them already; return how many files were created.

    Their blocks become blobs (their copies come with the nodes' inventories); a file
    known already keeps what the catalogue says of it.
    """
    if not found:
        return 0
    now = time.time()
    created = 0
    insert = dialect_insert(engine)
    with write_transaction(engine) as conn:
        bump_catalogue_version(conn)
        for blob_hash, manifest in found:
            exists = conn.execute(select(files.c.hash).where(files.c.hash == manifest.hash)).first()
            if exists is None:
                conn.execute(
                    insert(blobs).on_conflict_do_nothing(index_elements=[blobs.c.hash]),
                    [
                        {"hash": h, "size": s, "created_at": now, "referenced_at": now}
                        for h, s in dict(manifest.blocks).items()
                    ],
                )
                conn.execute(
                    files.insert(),
                    {
                        "hash": manifest.hash,
                        "name": manifest.name,
                        "size": manifest.size,
                        "created_at": now,
                        "updated_at": now,
                        "block_size": manifest.block_size,
                        "public": manifest.public,
                    },
                )
                conn.execute(
                    file_blocks.insert(),
                    [
                        {"file_hash": manifest.hash, "seq": seq, "block_hash": h, "size": s}
                        for seq, (h, s) in enumerate(manifest.blocks)
                    ],
                )
                created += 1
            record_manifest(conn, manifest.hash, blob_hash)
    return created
