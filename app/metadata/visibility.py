"""Which copies anyone may read by their hash, and which only through a signed URL.

A copy is private when its bytes reached its node only for content of the per-user API
(the master wrote it so, or repair copied a private copy); any public upload of the same
bytes to that node makes it public, and it never goes back. The node enforces it: a
private copy is served only through a URL the master signed, and answers as absent
otherwise. The catalogue mirrors each node's view (``replicas.private``) to decide
what knowing a hash may tell or give: a block counts as in the cluster for an upload
only through a public copy, ``/register`` leaves private content alone, and public
reads and records leave out private copies (``FileRecord.public_view``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Engine, exists, or_, select, update

from app.metadata.catalogue_schema import blobs, file_blocks, files, replicas
from app.metadata.engine import batches

# True for a blob anyone may read by its hash: some node holds a public copy of it, or a
# public file is it or has it as a block. Otherwise only signed URLs read it.
BLOB_IS_READABLE: ColumnElement[bool] = or_(
    exists().where(replicas.c.hash == blobs.c.hash, ~replicas.c.private),
    exists().where(files.c.hash == blobs.c.hash, files.c.public),
    exists().where(
        file_blocks.c.block_hash == blobs.c.hash,
        file_blocks.c.file_hash == files.c.hash,
        files.c.public,
    ),
)


def inventory_visibility(
    conn: Connection, node_id: str, items: Sequence[tuple[str, bool]], known: set[str]
) -> dict[str, bool]:
    """Whether each copy a node inventories (hash, private as the node says) is private,
    before it is confirmed; ``known``: the hashes the catalogue had blobs for.

    A copy the node says is private is (the node serves it so). Otherwise a copy the
    catalogue knows keeps its visibility: an inventory confirms what a node holds and
    uploads nothing (a node whose catalogue was rebuilt from its disk, or predates
    visibility, reports every copy public). A copy new to the catalogue is public if its
    blob is new too (the catalogue lost it) or readable anyway; a copy of content that
    only signed URLs read stays private. Rows that said public wrongly are fixed here:
    the upsert that confirms the copies only ever makes them public.
    """
    existing: dict[str, bool] = {}
    for chunk in batches([digest for digest, _private in items]):
        existing.update(
            (digest, private)
            for digest, private in conn.execute(
                select(replicas.c.hash, replicas.c.private).where(
                    replicas.c.node == node_id, replicas.c.hash.in_(chunk)
                )
            )
        )
    unsure = [digest for digest, _private in items if digest not in existing and digest in known]
    readable: set[str] = set()
    for chunk in batches(unsure):
        readable.update(
            conn.execute(
                select(blobs.c.hash).where(blobs.c.hash.in_(chunk), BLOB_IS_READABLE)
            ).scalars()
        )
    private: dict[str, bool] = {}
    for digest, said_private in items:
        unknown = digest in known and digest not in readable
        hidden = said_private or existing.get(digest, unknown)
        private[digest] = private.get(digest, True) and hidden
    wrong = [
        digest for digest, hidden in private.items() if hidden and existing.get(digest) is False
    ]
    for chunk in batches(wrong):
        conn.execute(
            update(replicas)
            .where(replicas.c.node == node_id, replicas.c.hash.in_(chunk))
            .values(private=True)
        )
    return private


class Visibility:
    """Queries about private content, for the master's service."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_private(self, key: str) -> bool:
        """Whether ``key`` names content only signed URLs read: a file kept out of the
        global catalogue, or a blob that is no public file and has no public copy."""
        with self.engine.connect() as conn:
            public = conn.execute(select(files.c.public).where(files.c.hash == key)).first()
            if public is not None:
                return not public[0]
            unreadable = select(blobs.c.hash).where(blobs.c.hash == key, ~BLOB_IS_READABLE)
            return conn.execute(unreadable).first() is not None

    def private_copies_on(self, node_id: str, hashes: Sequence[str]) -> list[str]:
        """Those of ``hashes`` whose copy on ``node_id`` is private, in order."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(hashes))):
                found.update(
                    conn.execute(
                        select(replicas.c.hash).where(
                            replicas.c.node == node_id,
                            replicas.c.hash.in_(chunk),
                            replicas.c.private,
                        )
                    ).scalars()
                )
        return sorted(found)
