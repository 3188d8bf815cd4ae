"""The per-user API's logic: accounts and tokens, namespaces, versions, trash, shares.

Content goes through the master's block ingest and reader like everything else, but
stays private (out of the global catalogue): a user reaches only what their own paths,
or a share link, lead to.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from app.api.paths import normalize_path
from app.api.quota import within_quota
from app.errors import (
    BadRequest,
    Forbidden,
    Gone,
    InvalidField,
    MissingField,
    NotFound,
    Unauthorized,
)
from app.http.jsonbody import INT64_MAX
from app.master.service import MasterService
from app.metadata.accounts import User, UserNotFound, UserStore, token_digest
from app.metadata.entries import Entry
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.shares import SHARE_ID_LENGTH, Share, ShareStore
from app.security import bearer_token, is_cluster_secret

EXTENSION = "mdbx.api"
NAME_PATTERN = "letters, digits, '.', '_' or '-', 1 to 64 characters"
MAX_PASSWORD = 1024
# A bounded, dictionary-resistant hash; werkzeug's scrypt (n=2^15, r=8, p=1) by default.
PASSWORD_METHOD = "scrypt"


@dataclass(frozen=True)
class Download:
    """What a GET of a user file or a share link streams."""

    record: FileRecord
    name: str


def valid_username(value: Any) -> str:
    if value is None or value == "":
        raise MissingField("username")
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 64
        or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in value)
    ):
        raise InvalidField("username", f"'username' must be {NAME_PATTERN}")
    return value


def valid_password(value: Any, field: str = "password") -> str:
    if value is None or value == "":
        raise MissingField(field)
    if not isinstance(value, str) or len(value) > MAX_PASSWORD:
        raise InvalidField(field, f"'{field}' must be a string of at most {MAX_PASSWORD} chars")
    return value


def _non_negative(payload: dict[str, Any], field: str, default: Any = None) -> Any:
    """A number from 0 to INT64_MAX: it goes to a BIGINT column, or is added to a time."""
    value = payload.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= INT64_MAX:
        raise InvalidField(field, f"'{field}' must be a number from 0 to {INT64_MAX}")
    return value


class UserApi:
    """Everything behind /api/ and /s/."""

    def __init__(
        self,
        users: UserStore,
        namespace: NamespaceStore,
        shares: ShareStore,
        master: MasterService,
        *,
        cluster_secret: str,
        public_url: str,
    ) -> None:
        self.users = users
        self.namespace = namespace
        self.shares = shares
        self.master = master
        self.cluster_secret = cluster_secret
        # Share links are built on it, never on a request's Host header.
        self.public_url = public_url

    # ----- accounts -----

    def login(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Trade a name and password for a bearer token (401 for any mismatch)."""
        name = valid_username(payload.get("username"))
        password = valid_password(payload.get("password"))
        try:
            user = self.users.get(name)
        except UserNotFound:
            # Hash anyway: the answer takes as long for a wrong name as for a wrong password.
            check_password_hash(_DUMMY_HASH, password)
            user = None
        if user is None or not check_password_hash(user.password_hash, password):
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if user.disabled:
            raise Forbidden(f"user '{name}' is disabled", code="user_disabled")
        return {"token": self.users.issue_token(user), "username": user.name}

    def logout(self, token: str) -> dict[str, Any]:
        self.users.revoke_token(token)
        return {"revoked": True}

    def authenticate(self, authorization: str | None) -> tuple[User, str]:
        """The user and token of an ``Authorization: Bearer`` header; 401 otherwise."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthorized("send Authorization: Bearer <token> (POST /api/login gives one)")
        user = self.users.user_for_token(token)
        if user is None:
            raise Unauthorized(
                "the token is unknown, revoked or its user disabled", code="invalid_token"
            )
        return user, token

    def is_admin_token(self, token: str) -> bool:
        user = self.users.user_for_token(token)
        return user is not None and user.is_admin

    def authorize_admin(self, authorization: str | None, secret: str | None, remote: str) -> None:
        """Admin calls: an admin's token, the cluster secret, or loopback in open mode."""
        if self.cluster_secret:
            if secret and is_cluster_secret(self.cluster_secret, secret):
                return
        elif _is_loopback(remote):
            return
        user, _token = self.authenticate(authorization)
        if not user.is_admin:
            raise Forbidden(f"user '{user.name}' is not an administrator")

    def account(self, user: User) -> dict[str, Any]:
        return user.to_dict(self.namespace.used_bytes(user.id))

    def add_user(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = valid_username(payload.get("username"))
        password = valid_password(payload.get("password"))
        quota = _non_negative(payload, "quota_bytes", 0)
        user = self.users.add(
            name,
            generate_password_hash(password, method=PASSWORD_METHOD),
            admin=payload.get("admin") is True,
            quota=int(quota),
        )
        return user.to_dict(0)

    def list_users(self) -> dict[str, Any]:
        return {"users": [user.to_dict(used) for user, used in self.users.list()]}

    def change_user(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "disabled" in payload:
            if not isinstance(payload["disabled"], bool):
                raise InvalidField("disabled", "'disabled' must be true or false")
            values["disabled"] = payload["disabled"]
        if "quota_bytes" in payload:
            values["quota_bytes"] = int(_non_negative(payload, "quota_bytes"))
        if "password" in payload:
            password = valid_password(payload["password"])
            values["password_hash"] = generate_password_hash(password, method=PASSWORD_METHOD)
        if not values:
            raise BadRequest(
                "send 'disabled', 'quota_bytes' or 'password'", code="nothing_to_change"
            )
        user = self.users.update(valid_username(name), **values)
        return user.to_dict(self.namespace.used_bytes(user.id))

    # ----- files -----

    def put(
        self, user: User, raw_path: str, stream: IO[bytes], content_length: int | None
    ) -> dict[str, Any]:
        """Store a file's bytes at a path (streamed, any size); the old content is a version."""
        path = normalize_path(raw_path)
        used = self.namespace.used_bytes(user.id) if user.quota_bytes else 0
        body = within_quota(stream, content_length, user.quota_bytes, used)
        record = self.master.writes.ingest_stream(body, path.rsplit("/", 1)[-1], public=False)
        entry = self.namespace.put_file(user.id, path, record.hash, record.size, user.quota_bytes)
        return {
            "path": entry.path,
            "size": entry.size,
            "hash": entry.hash,
            "version": entry.version,
        }

    def download(self, user: User, raw_path: str) -> Download:
        entry = self.namespace.require(user.id, normalize_path(raw_path))
        if entry.is_dir or entry.hash is None:
            raise BadRequest(f"{entry.path} is a folder", code="is_a_directory")
        return Download(self._content(entry.hash), entry.name)

    def stat(self, user: User, raw_path: Any) -> dict[str, Any]:
        return self.namespace.require(user.id, normalize_path(raw_path)).to_dict()

    def list_folder(self, user: User, raw_path: Any) -> dict[str, Any]:
        path = normalize_path(raw_path or "/")
        return {
            "path": path,
            "entries": [e.to_dict() for e in self.namespace.list_dir(user.id, path)],
        }

    def mkdir(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        return self.namespace.mkdir(user.id, normalize_path(payload.get("path"))).to_dict()

    def move(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        source, target = self._pair(payload)
        return self.namespace.move(user.id, source, target).to_dict()

    def copy(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        source, target = self._pair(payload)
        return self.namespace.copy(user.id, source, target, user.quota_bytes).to_dict()

    def delete(self, user: User, raw_path: str) -> dict[str, Any]:
        path = normalize_path(raw_path)
        return {"path": path, "trash_id": self.namespace.trash(user.id, path)}

    def versions(self, user: User, raw_path: Any) -> dict[str, Any]:
        found = self.namespace.versions(user.id, normalize_path(raw_path))
        return {"versions": [_version(entry) for entry in found]}

    def restore(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        """Restore a version (``path`` and ``version``) or a trash entry (``trash_id``)."""
        trash_id = payload.get("trash_id")
        if trash_id is not None:
            if not isinstance(trash_id, str):
                raise InvalidField("trash_id", "'trash_id' must be a string from GET /api/trash")
            return self.namespace.restore_trash(user.id, trash_id, user.quota_bytes).to_dict()
        path = normalize_path(payload.get("path"))
        version = payload.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidField("version", "'version' must be a version number from /api/versions")
        return self.namespace.restore_version(user.id, path, version, user.quota_bytes).to_dict()

    def list_trash(self, user: User) -> dict[str, Any]:
        return {"trash": self.namespace.list_trash(user.id)}

    # ----- shares -----

    def share(self, user: User, payload: dict[str, Any]) -> dict[str, Any]:
        """A link anyone can open until it expires or is revoked (at PUBLIC_URL/s/...)."""
        path = normalize_path(payload.get("path"))
        expires_in = _non_negative(payload, "expires_in")
        password = payload.get("password")
        if password is not None:
            password = valid_password(password)
        # 256 bits from the OS's CSPRNG; only its hash is stored.
        token = secrets.token_urlsafe(32)
        share = self.shares.add(
            user.id,
            self.namespace.require(user.id, path),
            token_digest(token),
            generate_password_hash(password, method=PASSWORD_METHOD) if password else None,
            time.time() + expires_in if expires_in is not None else None,
        )
        return {"token": token, "url": f"{self.public_url}/s/{token}", **share.to_dict()}

    def list_shares(self, user: User) -> dict[str, Any]:
        return {"shares": [share.to_dict() for share in self.shares.of_user(user.id)]}

    def revoke_share(self, user: User, token_or_id: str) -> dict[str, Any]:
        key = token_or_id if len(token_or_id) == SHARE_ID_LENGTH else token_digest(token_or_id)
        self.shares.revoke(user.id, key)
        return {"revoked": True}

    def open_share(self, token: str, password: str | None) -> Download:
        """The content behind a link: 404 unknown or revoked, 403 its owner disabled,
        410 expired, 401/403 without or with a wrong password."""
        share = self.shares.find(token_digest(token))
        if share is None:
            raise NotFound("no such share link (or it was revoked)", code="share_not_found")
        if share.owner_disabled:
            # As the owner's tokens stop: until an administrator enables them again.
            raise Forbidden("the owner of this share link is disabled", code="user_disabled")
        if share.expires_at is not None and share.expires_at < time.time():
            raise Gone("this share link has expired", code="share_expired")
        _check_share_password(share, password)
        return Download(self._content(share.hash), share.path.rsplit("/", 1)[-1])

    # ----- internals -----

    def _content(self, file_hash: str) -> FileRecord:
        record = self.master.index.get(file_hash)
        if record is None:
            raise NotFound("the content of this file is gone", code="content_not_found")
        return record

    @staticmethod
    def _pair(payload: dict[str, Any]) -> tuple[str, str]:
        return normalize_path(payload.get("from"), "from"), normalize_path(payload.get("to"), "to")


def _version(entry: Entry) -> dict[str, Any]:
    return {"version": entry.version, "hash": entry.hash, "size": entry.size, "mtime": entry.mtime}


def _check_share_password(share: Share, password: str | None) -> None:
    if share.password_hash is None:
        return
    if not password:
        raise Unauthorized("this link needs its password (?password= or X-Share-Password)")
    if not check_password_hash(share.password_hash, password):
        raise Forbidden("wrong password for this link", code="wrong_password")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD)


def user_api() -> UserApi:
    """Return the UserApi of the current app."""
    api: UserApi = current_app.extensions[EXTENSION]
    return api
