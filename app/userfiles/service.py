"""The user-files service: the decisions behind every front end of a user's files.

Content goes through the master's block ingest and reader like everything else, but
stays private (out of the global catalogue): a user reaches only what their own paths,
or a share link, lead to.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Sequence
from functools import cached_property, partial
from typing import IO

from werkzeug.security import check_password_hash, generate_password_hash

from app.addresses import is_loopback
from app.errors import BadRequest, Forbidden, Gone, InvalidField, NotFound, Unauthorized
from app.metadata.accounts import TOKEN_ID_LENGTH, UserNotFound, UserStore, token_digest
from app.metadata.accounts import User as UserRecord
from app.metadata.entries import ROOT, Entry
from app.metadata.namespace import SORT_COLUMNS, NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.shares import SHARE_ID_LENGTH, ShareStore
from app.metadata.shares import Share as ShareRecord
from app.security import is_cluster_secret
from app.userfiles.interface import (
    Account,
    ContentStore,
    Deleted,
    Download,
    Listing,
    NewShare,
    Selection,
    Session,
    SessionInfo,
    Share,
    TrashEntry,
    User,
    UserChanges,
)
from app.userfiles.paths import normalize_path
from app.userfiles.quota import within_quota
from app.userfiles.selection import select
from app.userfiles.validation import (
    valid_lifetime,
    valid_password,
    valid_quota,
    valid_trash_id,
    valid_username,
    valid_version,
)

log = logging.getLogger(__name__)

# A bounded, dictionary-resistant hash; werkzeug's scrypt (n=2^15, r=8, p=1) by default.
PASSWORD_METHOD = "scrypt"
# How long a share link's password, once given in a browser, stays given (its grant).
SHARE_GRANT_LIFETIME = 3_600.0
NO_TOKEN = "send Authorization: Bearer <token> (POST /api/login gives one)"


class UserFileService:
    """``UserFiles`` over the master's database and a ``ContentStore``."""

    def __init__(
        self,
        users: UserStore,
        namespace: NamespaceStore,
        shares: ShareStore,
        content: ContentStore,
        *,
        cluster_secret: str,
        public_url: str,
        session_lifetime: float = 14 * 86_400.0,
        password_method: str = PASSWORD_METHOD,
    ) -> None:
        self._users = users
        self._namespace = namespace
        self._shares = shares
        self._content = content
        self._cluster_secret = cluster_secret
        # Share links are built on it, never on a request's Host header.
        self._public_url = public_url
        self._session_lifetime = session_lifetime
        self._password_method = password_method
        if password_method != PASSWORD_METHOD:
            log.warning(
                "passwords are hashed with %s, cheaper than %s: meant for test suites",
                password_method,
                PASSWORD_METHOD,
            )

    def _hash(self, password: str) -> str:
        return generate_password_hash(password, method=self._password_method)

    @cached_property
    def _dummy_hash(self) -> str:
        """What a login for an unknown name checks against: a hash of this method."""
        if self._password_method == PASSWORD_METHOD:
            return _DUMMY_HASH
        return self._hash(secrets.token_urlsafe(16))

    # ----- accounts -----

    def login(self, username: str, password: str, *, web: bool = False, label: str = "") -> Session:
        name = valid_username(username)
        password = valid_password(password)
        try:
            user = self._users.get(name)
        except UserNotFound:
            # Hash anyway: the answer takes as long for a wrong name as for a wrong password.
            check_password_hash(self._dummy_hash, password)
            user = None
        if user is None or not check_password_hash(user.password_hash, password):
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if user.disabled:
            raise Forbidden(f"user '{name}' is disabled", code="user_disabled")
        if web:
            token = self._users.issue_token(
                user, kind="web", lifetime=self._session_lifetime, label=label
            )
        else:
            token = self._users.issue_token(user, label=label)
        return Session(token, _user(user))

    def sessions(self, user: User, current_token: str) -> list[SessionInfo]:
        current = token_digest(current_token)[:TOKEN_ID_LENGTH]
        return [
            SessionInfo(t.id, t.kind, t.created_at, t.expires_at, t.label, t.id == current)
            for t in self._users.tokens(user.id)
        ]

    def revoke_session(self, user: User, session_id: str) -> None:
        if len(session_id) != TOKEN_ID_LENGTH or not session_id.isalnum():
            raise BadRequest("a session id is 16 hex digits", code="invalid_field")
        if not self._users.revoke_token_id(user.id, session_id.lower()):
            raise NotFound("no such session (it ended or was revoked)", code="session_not_found")

    def change_password(self, user: User, current_token: str, old: str, new: str) -> None:
        record = self._users.get(user.name)
        if not check_password_hash(record.password_hash, valid_password(old, "old")):
            raise Forbidden("the current password is wrong", code="wrong_password")
        self._users.update(user.name, password_hash=self._hash(valid_password(new, "new")))
        self._users.revoke_token_id(user.id, "", keep=current_token)

    def authenticate(self, token: str | None) -> User:
        if token is None:
            raise Unauthorized(NO_TOKEN)
        user = self._users.user_for_token(token)
        if user is None:
            raise Unauthorized(
                "the token is unknown, revoked or its user disabled", code="invalid_token"
            )
        return _user(user)

    def logout(self, token: str) -> None:
        self._users.revoke_token(token)

    def is_admin_token(self, token: str) -> bool:
        user = self._users.user_for_token(token)
        return user is not None and user.is_admin

    def authorize_admin(self, token: str | None, cluster_secret: str | None, address: str) -> None:
        if self._cluster_secret:
            if cluster_secret and is_cluster_secret(self._cluster_secret, cluster_secret):
                return
        elif is_loopback(address):
            return
        user = self.authenticate(token)
        if not user.is_admin:
            raise Forbidden(f"user '{user.name}' is not an administrator")

    def account(self, user: User) -> Account:
        return Account(user, self._namespace.used_bytes(user.id))

    def add_user(
        self, username: str, password: str, *, admin: bool = False, quota_bytes: int | None = None
    ) -> Account:
        name = valid_username(username)
        password = valid_password(password)
        quota = valid_quota(quota_bytes) or 0
        user = self._users.add(name, self._hash(password), admin=admin, quota=quota)
        return Account(_user(user), 0)

    def list_users(self) -> list[Account]:
        return [Account(_user(user), used) for user, used in self._users.list()]

    def change_user(self, name: str, changes: UserChanges) -> Account:
        values: dict[str, object] = {}
        if changes.disabled is not None:
            values["disabled"] = changes.disabled
        quota = valid_quota(changes.quota_bytes)
        if quota is not None:
            values["quota_bytes"] = quota
        if changes.password is not None:
            values["password_hash"] = self._hash(valid_password(changes.password))
        if not values:
            raise BadRequest(
                "send 'disabled', 'quota_bytes' or 'password'", code="nothing_to_change"
            )
        user = self._users.update(valid_username(name), **values)
        return Account(_user(user), self._namespace.used_bytes(user.id))

    # ----- files -----

    def put(self, user: User, path: str, stream: IO[bytes], length: int | None) -> Entry:
        path = normalize_path(path)
        used = self._namespace.used_bytes(user.id) if user.quota_bytes else 0
        body = within_quota(stream, length, user.quota_bytes, used)
        record = self._content.store(body, path.rsplit("/", 1)[-1])
        return self._namespace.put_file(user.id, path, record.hash, record.size, user.quota_bytes)

    def download(self, user: User, path: str, *, version: int | None = None) -> Download:
        path = normalize_path(path)
        if version is not None:
            number = valid_version(version)
            for entry in self._namespace.versions(user.id, path):
                if entry.version == number and entry.hash is not None:
                    return self._download(entry.hash, entry.name)
            raise NotFound(f"{path} has no version {number}", code="version_not_found")
        entry = self._namespace.require(user.id, path)
        if entry.is_dir or entry.hash is None:
            raise BadRequest(f"{entry.path} is a folder", code="is_a_directory")
        return self._download(entry.hash, entry.name)

    def stat(self, user: User, path: str) -> Entry:
        return self._namespace.require(user.id, normalize_path(path))

    def walk(self, user: User, paths: list[str]) -> Selection:
        return select(
            self._namespace, user.id, paths, self._downloads, root_title=f"{user.name}-files"
        )

    def list_folder(
        self,
        user: User,
        path: str | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        sort: str = "name",
        descending: bool = False,
    ) -> Listing:
        folder = normalize_path(path or ROOT)
        if sort not in SORT_COLUMNS:
            raise InvalidField("sort", f"sort by one of {', '.join(SORT_COLUMNS)}")
        entries = self._namespace.list_dir(
            user.id, folder, offset=offset, limit=limit, sort=sort, descending=descending
        )
        if offset == 0 and (limit is None or len(entries) < limit):
            total = len(entries)  # the whole folder is here: no need to count it
        else:
            total = self._namespace.count_dir(user.id, folder)
        return Listing(folder, entries, total, offset)

    def search(self, user: User, query: str, *, limit: int = 100) -> list[Entry]:
        if not query.strip():
            raise InvalidField("q", "say what to search for")
        return self._namespace.search(user.id, query.strip(), limit)

    def mkdir(self, user: User, path: str) -> Entry:
        return self._namespace.mkdir(user.id, normalize_path(path))

    def move(self, user: User, source: str, target: str) -> Entry:
        source, target = _pair(source, target)
        return self._namespace.move(user.id, source, target)

    def copy(self, user: User, source: str, target: str) -> Entry:
        source, target = _pair(source, target)
        return self._namespace.copy(user.id, source, target, user.quota_bytes)

    def delete(self, user: User, path: str) -> Deleted:
        path = normalize_path(path)
        return Deleted(path, self._namespace.trash(user.id, path))

    def versions(self, user: User, path: str) -> list[Entry]:
        return self._namespace.versions(user.id, normalize_path(path))

    def restore_version(self, user: User, path: str, version: int) -> Entry:
        path = normalize_path(path)
        number = valid_version(version)
        return self._namespace.restore_version(user.id, path, number, user.quota_bytes)

    def restore_trash(self, user: User, trash_id: str) -> Entry:
        return self._namespace.restore_trash(user.id, valid_trash_id(trash_id), user.quota_bytes)

    def list_trash(self, user: User) -> list[TrashEntry]:
        return [TrashEntry(**item) for item in self._namespace.list_trash(user.id)]

    def purge_trash(self, user: User, trash_id: str | None = None) -> int:
        wanted = None if trash_id is None else valid_trash_id(trash_id)
        return self._namespace.purge_trash(user.id, wanted)

    # ----- share links -----

    def share(
        self,
        user: User,
        path: str,
        *,
        expires_in: float | None = None,
        password: str | None = None,
    ) -> NewShare:
        path = normalize_path(path)
        lifetime = valid_lifetime(expires_in)
        if password is not None:
            password = valid_password(password)
        # 256 bits from the OS's CSPRNG; only its hash is stored.
        token = secrets.token_urlsafe(32)
        share = self._shares.add(
            user.id,
            self._namespace.require(user.id, path),
            token_digest(token),
            self._hash(password) if password else None,
            time.time() + lifetime if lifetime is not None else None,
        )
        return NewShare(token, f"{self._public_url}/s/{token}", _share(share))

    def list_shares(self, user: User) -> list[Share]:
        return [_share(share) for share in self._shares.of_user(user.id)]

    def revoke_share(self, user: User, token_or_id: str) -> None:
        key = token_or_id if len(token_or_id) == SHARE_ID_LENGTH else token_digest(token_or_id)
        self._shares.revoke(user.id, key)

    def open_share(self, token: str, password: str | None, *, grant: str | None = None) -> Download:
        share = self._live_share(token)
        if not (grant and _is_share_grant(share.password_hash, token, grant)):
            _check_share_password(share.password_hash, password)
        return self._download(share.hash, share.path.rsplit("/", 1)[-1])

    def unlock_share(self, token: str, password: str | None) -> str:
        share = self._live_share(token)
        _check_share_password(share.password_hash, password or None)
        return _share_grant(share.password_hash, token, int(time.time() + SHARE_GRANT_LIFETIME))

    def _live_share(self, token: str) -> ShareRecord:
        share = self._shares.find(token_digest(token))
        if share is None:
            raise NotFound("no such share link (or it was revoked)", code="share_not_found")
        if share.owner_disabled:
            # As the owner's tokens stop: until an administrator enables them again.
            raise Forbidden("the owner of this share link is disabled", code="user_disabled")
        if share.expires_at is not None and share.expires_at < time.time():
            raise Gone("this share link has expired", code="share_expired")
        return share

    # ----- internals -----

    def _download(self, file_hash: str, name: str) -> Download:
        return self._download_of(self._content.find(file_hash), name)

    def _downloads(self, wanted: Sequence[tuple[str, str]]) -> list[Download]:
        """``_download`` of each (hash, name), the content found in one lookup."""
        found = self._content.find_many([file_hash for file_hash, _name in wanted])
        return [self._download_of(found.get(file_hash), name) for file_hash, name in wanted]

    def _download_of(self, record: FileRecord | None, name: str) -> Download:
        if record is None:
            raise NotFound("the content of this file is gone", code="content_not_found")
        return Download(
            name,
            record.size,
            record.hash,
            partial(self._content.read, record),
            partial(self._content.locate, record),
        )


def _pair(source: str, target: str) -> tuple[str, str]:
    return normalize_path(source, "from"), normalize_path(target, "to")


def _check_share_password(password_hash: str | None, password: str | None) -> None:
    if password_hash is None:
        return
    if not password:
        raise Unauthorized("this link needs its password (?password= or X-Share-Password)")
    if not check_password_hash(password_hash, password):
        raise Forbidden("wrong password for this link", code="wrong_password")


def _share_grant(password_hash: str | None, token: str, expires: int) -> str:
    """``<expiry>.<HMAC>``, keyed by the link's token over its password hash: only whoever
    holds the token and passed the password check gets one (the hash never leaves the
    server), and it needs no server secret, which open mode has none of."""
    message = f"{password_hash or ''}|{expires}".encode()
    return f"{expires}.{hmac.new(token.encode(), message, hashlib.sha256).hexdigest()}"


def _is_share_grant(password_hash: str | None, token: str, grant: str) -> bool:
    expires, _, _ = grant.partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        return False
    if int(expires) < time.time():
        return False
    return hmac.compare_digest(grant, _share_grant(password_hash, token, int(expires)))


def _user(user: UserRecord) -> User:
    return User(user.id, user.name, user.is_admin, user.disabled, user.quota_bytes)


def _share(share: ShareRecord) -> Share:
    return Share(
        share.id,
        share.path,
        share.hash,
        share.size,
        share.created_at,
        share.expires_at,
        share.password_hash is not None,
    )


# What a login for a name nobody has checks its password against, so that it takes as long
# as one for a wrong password: a hash made like ``_hash``'s (same method and cost, checked
# by tests/unit/userfiles) of a random password nobody kept. A literal, not hashed at import:
# scrypt costs ~0.1 s of CPU in every process that imports this module, each master and
# node worker at boot among them, and only a master's logins ever use it.
_DUMMY_HASH = (
    "scrypt:32768:8:1$Yk2PY9zERBWYnnL2$01bb5ab441c3099a98d6f3c3f50eb486cae54e8f6b94645f71e85fd3b"
    "754630ee47d941e8493f03a786a495318a1452268cb6e847afa76d4e5e35084193665e8"
)
