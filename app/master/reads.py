"""The master's reads of a catalogued file: the node that can send it whole (``/download``
redirects there), where each of its blocks can be read, or its bytes, checked here."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from app.errors import ServiceUnavailable
from app.master.reader import BlockReader
from app.metadata.records import Block, FileRecord, NodeRecord
from app.security import UrlSigner

# How long a private block's signed URL is good for: a download that takes longer reads
# the blocks left through the master (the client's fallback), so a URL that leaks from a
# log or a shell history soon opens nothing.
BLOCK_URL_TTL = 300.0


class FileReads:
    """Answers where and how a file of the global catalogue is read."""

    def __init__(
        self,
        get_file: Callable[[str | None], FileRecord],
        reader: BlockReader,
        live_nodes: Callable[[], list[NodeRecord]],
        signer: UrlSigner,
        serves: Callable[[str], bool] = lambda url: True,
        private_signer: UrlSigner | None = None,
    ) -> None:
        self.get_file = get_file  # the catalogue's lookup: 404 for what it does not list
        self.reader = reader
        self.live_nodes = live_nodes
        # Signs the node URLs handed to clients in secured mode; a no-op in open mode.
        self.signer = signer
        # Whether a node answers now (``NodeClient.serves``), asked of the node a
        # redirect is about to send a client to.
        self.serves = serves
        # Signs reads of private copies, in open mode too (the key the nodes were sent);
        # None: this master hands out no URLs of private blocks.
        self.private_signer = private_signer

    def locate(self, hash_param: str | None) -> tuple[FileRecord, str | None]:
        """Return the file, and a signed URL of a live node that can send it whole.

        A file of one blob: its ``/retrieve`` on a live replica (none: 503). A file of
        several blocks: ``/file`` on a live node holding every block, which sends them
        from its disk; when no one node does, None, and the master streams it. Of the
        live replicas, one that answers now is chosen.
        """
        record = self.get_file(hash_param)
        if record.blocks:
            holders = set.intersection(*(set(block.replicas) for block in record.blocks))
            endpoint = "file"
        else:
            holders, endpoint = set(record.replicas), "retrieve"
        urls = [node.url for node in self.live_nodes() if node.id in holders]
        if not urls:
            if record.blocks:
                return record, None
            raise ServiceUnavailable(f"no live node holds {record.hash}", code="no_live_replica")
        random.shuffle(urls)
        # The first that answers: a node killed in the last few milliseconds, before its
        # stream's close reached the master (app.master.streams), does not.
        # When none does, the master could not read them either (it may be cut off
        # from nodes its clients reach): one of them, as the catalogue says.
        url = next((url for url in urls if self.serves(url)), urls[0])
        url = f"{url}/{endpoint}?hash={record.hash}"
        return record, self.signer.read_url(url, record.hash)

    def block_map(self, hash_param: str | None) -> dict[str, Any]:
        """Where each block of a file can be read (a small file is its own one block).

        In secured mode each block also has a ``token``: the read token of its hash, good
        on every node listed (``<url>/retrieve?hash=<hash>&token=<token>``).
        """
        record = self.get_file(hash_param)
        urls = {node.id: node.url for node in self.live_nodes()}
        blocks = []
        for part in record.parts:
            block: dict[str, Any] = {
                "hash": part.hash,
                "size": part.size,
                "offset": part.offset,
                "urls": [urls[node] for node in part.replicas if node in urls],
            }
            if token := self.signer.read_token(part.hash):
                block["token"] = token
            blocks.append(block)
        return {
            "hash": record.hash,
            "name": record.name,
            "size": record.size,
            "block_size": record.block_size or record.size,
            "blocks": blocks,
        }

    def signed_blocks(self, record: FileRecord) -> list[tuple[Block, list[str]]]:
        """Each blob of a (private) file, with a signed ``/retrieve`` URL of it on every
        live node that holds it, in a random order (none live: an empty list).

        Each URL opens that one blob for ``BLOCK_URL_TTL`` seconds at most; 503 when this
        master signs no private reads.
        """
        if self.private_signer is None:
            raise ServiceUnavailable("this master signs no reads of private blocks")
        urls = {node.id: node.url for node in self.live_nodes()}
        found = []
        for part in record.parts:
            holders = [urls[node] for node in part.replicas if node in urls]
            random.shuffle(holders)  # the readers of one file spread over its nodes
            found.append(
                (
                    part,
                    [
                        self.private_signer.read_url(f"{url}/retrieve?hash={part.hash}", part.hash)
                        for url in holders
                    ],
                )
            )
        return found

    def read_bytes(self, hash_param: str | None) -> bytes:
        """A whole (small) file, every block checked against its hash."""
        return self.reader.read_all(self.get_file(hash_param))
