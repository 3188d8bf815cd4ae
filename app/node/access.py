"""Who may read a blob or a file on a node: one rule for the Flask views and the fast path.

Secured mode: the cluster header, or a read token the cluster secret signed
(``app.node.auth`` refuses anything else before a view runs; the fast path answers only
a valid token and leaves the rest to Flask). Open mode: anyone, except that a private
copy (``app.metadata.visibility``) is served only through a read token the master
signed with the key it sent this node, and is answered as if absent without one:
knowing a hash grants nothing. A token that is sent must be valid, whatever the blob,
so that no answer tells a private blob from an absent one.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.errors import AppError, BlobNotFound, Forbidden, ServiceUnavailable
from app.metadata.node_catalogue import NodeCatalogue
from app.node.membership import Membership
from app.security import READ, TOKEN_PARAM, check_blob_token


class ReadAccess:
    """Decides reads of ``/retrieve`` (a blob) and ``/file`` (a file of blocks)."""

    def __init__(self, catalog: NodeCatalogue, membership: Membership, *, secret: str) -> None:
        self.catalog = catalog
        self.membership = membership
        self.secret = secret

    def check(self, digest: str, args: Mapping[str, str], *, blob: bool) -> None:
        """Raise unless this open-mode read may go on (secured mode: checked already).

        403 invalid_token for a token that is not the master's for this read, 503 while
        this node has not heard the key yet, 404 blob_not_found for a private blob read
        without a token. A file (``blob=False``) needs no token: the master gives its
        block list, which this node sends it by, only for files of the global catalogue.
        """
        if self.secret:
            return
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

    def is_plain(self, digest: str, args: Mapping[str, str], *, blob: bool) -> bool:
        """Whether the fast path may send this read itself; if not, the Flask view
        answers it (and refuses it with the same error as ``check``, or the hook's)."""
        if self.secret:
            token = args.get(TOKEN_PARAM, "")
            return bool(token) and check_blob_token(self.secret, token, READ, digest, args)
        try:
            self.check(digest, args, blob=blob)
        except AppError:
            return False
        return True
