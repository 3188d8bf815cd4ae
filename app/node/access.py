"""Who may call a node: the one rule of the Flask hook (``app.node.auth``) and the overlay.

Secured mode (a cluster secret is set): ``/health``, ``/ready`` and ``/metrics`` stay
open; ``GET /retrieve`` takes
a master-signed read URL of that blob (``GET /file``, of that file), ``POST``/``PUT
/upload`` a signed write URL of the blob named by ``?hash=``; the cluster's own calls
(and ``/replicate``, ``DELETE /blobs/<hash>``, ``/scrub``, which are only for them)
carry the ``X-Mdbx-Cluster-Secret`` header.

Open mode: anyone, except that a private copy (``app.metadata.visibility``) is served
only through a read token the master signed with the key it sent this node, and is
answered as if absent without one: knowing a hash grants nothing. A token that is sent
must be valid, whatever the blob, so that no answer tells a private blob from an absent
one.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.errors import BlobNotFound, Forbidden, ServiceUnavailable
from app.metadata.node_catalogue import NodeCatalogue
from app.metadata.records import CLUSTER_KINDS
from app.node.membership import Membership
from app.security import READ, TOKEN_PARAM, WRITE, authorize_blob_request, check_blob_token
from app.storage.digests import parse_digest

# What a probe or a scraper asks, with no credentials (as of a load balancer, Prometheus).
OPEN_ENDPOINTS = frozenset({"node.health", "node.ready", "node.metrics"})
# What a signed URL may open; any other endpoint is for the cluster only.
TOKEN_OPS = {
    "node.retrieve": READ,
    "node.retrieve_file": READ,
    "node.upload": WRITE,
    "node.digest_blobs": READ,
}
# Reads whose token is required in open mode too: blobs hashed end to end (private ones
# among them) for the master only, under the listing's name (``listing_digest``).
SIGNED_ONLY = frozenset({"node.digest_blobs"})
# The reads of open mode, and whether each reads one blob (False: a file of blocks).
OPEN_READS = {"node.retrieve": True, "node.retrieve_file": False}


class NodeAccess:
    """Decides every request to a node, by the Flask endpoint it reaches."""

    def __init__(self, catalog: NodeCatalogue, membership: Membership, *, secret: str) -> None:
        self.catalog = catalog
        self.membership = membership
        self.secret = secret

    def authorize(
        self,
        endpoint: str | None,
        *,
        presented: str | None,
        args: Mapping[str, str],
        digest: str | None = None,
    ) -> None:
        """Let a request to ``endpoint`` through, or raise.

        ``presented``: the cluster header sent, if any; ``args``: the query (token,
        hash and the parameters a token fixes); ``digest``: its hash, when the caller
        has parsed it already (the overlay does, to decline any other spelling, and
        need not pay for it twice). Secured mode: 401/403 from
        ``authorize_blob_request``. Open mode, for reads: 400 invalid_hash, 403
        invalid_token for a token that is not the master's for this read, 503 while
        this node has not heard the key yet, 404 blob_not_found for a private blob read
        without a token. A file needs no token: the master gives its block list, which
        this node sends it by, only for files of the global catalogue.
        """
        if endpoint in OPEN_ENDPOINTS:
            return
        if self.secret:
            if presented is None and args.get("kind") in CLUSTER_KINDS:
                # A signed write URL is a client's: manifests and snapshots, which a
                # rebuilt master believes, come only from the cluster itself.
                raise Forbidden(
                    "blobs of this kind are written by the cluster only", code="cluster_only"
                )
            authorize_blob_request(
                self.secret,
                presented=presented,
                token=args.get(TOKEN_PARAM),
                op=TOKEN_OPS.get(endpoint or ""),
                digest=args.get("hash"),
                params=args,
            )
            return
        if endpoint in SIGNED_ONLY:
            if not args.get(TOKEN_PARAM):
                raise Forbidden(f"this read needs the master's {TOKEN_PARAM}", code="invalid_token")
            self._check_open_read(parse_digest(args.get("hash")), args, blob=False)
            return
        blob = OPEN_READS.get(endpoint or "")
        if blob is not None:
            digest = digest or parse_digest(args.get("hash"))
            self._check_open_read(digest, args, blob=blob)

    def _check_open_read(self, digest: str, args: Mapping[str, str], *, blob: bool) -> None:
        token = args.get(TOKEN_PARAM)
        if token:
            key = self.membership.signing_key()
            if key is None:
                raise ServiceUnavailable(
                    "this node has not yet heard from a master the key of signed URLs",
                    code="signing_key_unknown",
                )
            if not check_blob_token(key, token, READ, digest, args):
                raise Forbidden(
                    f"the {TOKEN_PARAM} is invalid, expired, or not for this read of this blob",
                    code="invalid_token",
                )
        elif blob and not self.catalog.is_public(digest):
            raise BlobNotFound(f"no blob {digest} on this node")  # what an absent blob gets
