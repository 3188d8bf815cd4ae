"""The secured cluster mode: the cluster secret, and the signed node URLs clients use.

Pure Python (itsdangerous, no Flask). When every role shares a cluster secret:

- masters and nodes prove they belong to the cluster by sending the secret itself in
  the ``X-Mdbx-Cluster-Secret`` header on their calls to one another;
- clients reach a node's raw blobs only through a URL the master signed (HMAC-SHA256
  via itsdangerous, in the spirit of SeaweedFS's JWT): a ``token`` query parameter bound to
  one operation (``read`` or ``write``), one blob hash, the query parameters that decide
  where the bytes go (``BOUND_PARAMS``) and an expiry chosen by the signer.

The expiry travels in the token rather than being a ``max_age`` the node applies: nodes
need no TTL setting, and a master whose clock runs a little ahead of a node's does not
make its fresh tokens look as if they came from the future.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import Forbidden, Unauthorized

CLUSTER_HEADER = "X-Mdbx-Cluster-Secret"
# The same field as the fast path sees it (lower-cased bytes).
CLUSTER_FIELD = CLUSTER_HEADER.lower().encode()
# app.extensions key of a callable(token) -> bool: is this an administrator's token?
# Registered by the per-user API; without it only the cluster header opens admin calls.
ADMIN_TOKEN_CHECK = "mdbx.admin_token_check"
TOKEN_PARAM = "token"
READ, WRITE = "read", "write"
OPS = (READ, WRITE)
# Query parameters a token fixes besides the hash: ``chain`` names the nodes the bytes
# (and, with them, the cluster header) are forwarded to, ``kind`` whether the blob is
# registered as a file, ``private`` whether it is a private copy and ``upload`` the
# account upload its receipt is for. A client must not be able to change any of them.
BOUND_PARAMS = ("kind", "chain", "private", "upload")
# Separates these tokens from anything else ever signed with the same secret.
_SALT = "mdbx.blob-url"
# Separates upload receipts likewise.
_RECEIPT_SALT = b"mdbx.upload-receipt"
# HTTP requires a 401 to name a scheme the client could use.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mdbx"'}


def _serializer(secret: str) -> URLSafeSerializer:
    if not secret:
        raise ValueError("signing needs a cluster secret")
    # SHA-256 rather than itsdangerous's default SHA-1, for key derivation and signature.
    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _bound(params: Mapping[str, str] | None) -> dict[str, str]:
    # An empty value is the same as an absent one, as the node reads its query.
    return {key: params[key] for key in BOUND_PARAMS if params and params.get(key)}


def blob_token(
    secret: str,
    op: str,
    digest: str,
    ttl: float,
    params: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> str:
    """Sign ``op`` on blob ``digest`` for ``ttl`` seconds, with the ``params`` it fixes."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}")
    claims: dict[str, Any] = {
        "op": op,
        "hash": digest.lower(),
        "exp": int((time.time() if now is None else now) + ttl),
    }
    if bound := _bound(params):
        claims["bind"] = bound
    return _serializer(secret).dumps(claims)


def check_blob_token(
    secret: str,
    token: str,
    op: str,
    digest: str,
    params: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> bool:
    """Tell whether ``token`` allows ``op`` on ``digest`` with these ``params``, now.

    False for a token signed with another secret, garbled, expired, or issued for
    another operation, hash, chain or kind.
    """
    try:
        claims = _serializer(secret).loads(token)
    except BadSignature:
        return False
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        return False
    return (
        claims.get("op") == op
        and claims.get("hash") == digest.lower()
        and claims.get("bind", {}) == _bound(params)
        and (time.time() if now is None else now) <= claims["exp"]
    )


def sign_url(url: str, secret: str, op: str, digest: str, ttl: float) -> str:
    """Append ``token=`` to a node URL, fixing the ``BOUND_PARAMS`` already in its query."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    token = blob_token(secret, op, digest, ttl, query)
    # Appended, not re-encoded: the URL stays byte for byte what it was, plus the token.
    signed_query = "&".join(filter(None, [parts.query, urlencode({TOKEN_PARAM: token})]))
    return urlunsplit(parts._replace(query=signed_query))


def listing_digest(digests: Sequence[str]) -> str:
    """The name a list of blobs is signed under (a read of them all at once, as the
    master asks a node for their digest): the SHA-256 of their hashes, one a line."""
    return hashlib.sha256("\n".join(d.lower() for d in digests).encode()).hexdigest()


def upload_receipt(key: str, upload_id: str, digest: str, size: int) -> str:
    """What a node answers for the bytes of blob ``digest`` it received and checked for
    account upload ``upload_id``: proof, to the master holding ``key``, that the
    uploader had them (knowing a hash proves nothing: ``app.userfiles.direct``)."""
    if not key:
        raise ValueError("a receipt needs a key")
    message = f"{upload_id}:{digest.lower()}:{size}".encode()
    return hmac.new(key.encode(), _RECEIPT_SALT + b":" + message, hashlib.sha256).hexdigest()


def is_upload_receipt(key: str, receipt: object, upload_id: str, digest: str, size: int) -> bool:
    """Whether ``receipt`` is a node's, under ``key``, for these bytes of this upload."""
    if not key or not isinstance(receipt, str):
        return False
    expected = upload_receipt(key, upload_id, digest, size)
    return hmac.compare_digest(expected.encode(), receipt.encode())


def cluster_headers(secret: str) -> dict[str, str]:
    """Headers of a call from one role of the cluster to another (none in open mode)."""
    return {CLUSTER_HEADER: secret} if secret else {}


def is_cluster_secret(secret: str, presented: str) -> bool:
    """Compare a presented secret with ours in constant time."""
    return hmac.compare_digest(secret.encode(), presented.encode())


def missing_credentials(message: str) -> Unauthorized:
    """The 401 of a request that brought no credentials at all."""
    return Unauthorized(message, headers=_CHALLENGE)


def require_cluster_secret(secret: str, presented: str | None) -> None:
    """Raise 401 when no cluster secret was presented, 403 when it is not ours."""
    if presented is None:
        raise missing_credentials(
            f"this endpoint is for the cluster: send the {CLUSTER_HEADER} header"
        )
    if not is_cluster_secret(secret, presented):
        raise Forbidden(f"wrong {CLUSTER_HEADER}")


def authorize_blob_request(
    secret: str,
    *,
    presented: str | None,
    token: str | None,
    op: str | None,
    digest: str | None,
    params: Mapping[str, str],
) -> None:
    """Let a node request through, or raise 401/403.

    The cluster header opens everything. Otherwise a token opens ``op`` (None: the
    endpoint is for the cluster only) on the blob named by ``digest`` (None: the request
    names no blob in its query, so no token can be for it).
    """
    if presented is not None:
        require_cluster_secret(secret, presented)
        return
    if token is None:
        raise missing_credentials(
            f"send a URL signed by the master ({TOKEN_PARAM}=...) or the {CLUSTER_HEADER} header"
        )
    if op is None:
        raise Forbidden(f"this endpoint is for the cluster: send the {CLUSTER_HEADER} header")
    if not digest:
        raise Forbidden("a signed URL names its blob: add ?hash=", code="invalid_token")
    if not check_blob_token(secret, token, op, digest, params):
        raise Forbidden(
            f"the {TOKEN_PARAM} is invalid, expired, or not for this {op} of this blob",
            code="invalid_token",
        )


@dataclass(frozen=True)
class UrlSigner:
    """Signs the node URLs a master hands out; in open mode (no secret) leaves them as is."""

    secret: str
    read_ttl: float
    write_ttl: float

    def read_url(self, url: str, digest: str) -> str:
        """A node's ``/retrieve`` URL of ``digest``, signed for reading."""
        return sign_url(url, self.secret, READ, digest, self.read_ttl) if self.secret else url

    def write_url(self, url: str, digest: str) -> str:
        """A node's ``/upload?hash=`` URL of ``digest``, signed for writing."""
        return sign_url(url, self.secret, WRITE, digest, self.write_ttl) if self.secret else url

    def read_token(self, digest: str) -> str | None:
        """A read token for ``digest`` on any node (None in open mode)."""
        return blob_token(self.secret, READ, digest, self.read_ttl) if self.secret else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
