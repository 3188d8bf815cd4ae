"""What every front end of a user's files calls (``/api/`` today; web pages, S3, WebDAV and
a sync client next), and the typed values it answers with.

Front ends parse and render; ``UserFiles`` decides. A front end turns what it received
into the typed arguments with the domain's own checks (``app.userfiles.validation``,
``app.userfiles.paths``: a bad value is a 400 naming its field); the service checks
every value again (names, passwords, paths, byte counts), as it trusts no front end.
Its errors are ``app.errors`` classes, so that every front end reports a failure with
the same status and code.

The values are the domain's, not the tables': they carry no password hash and stay put
while the storage changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

from app.metadata.entries import Entry  # the namespace's own value: a folder or a file
from app.metadata.records import FileRecord


@dataclass(frozen=True)
class User:
    """An account, as the service knows it once its token was checked."""

    id: int
    name: str
    is_admin: bool
    disabled: bool
    # 0: no limit.
    quota_bytes: int


@dataclass(frozen=True)
class Account:
    """A user with the bytes their quota counts now (``app.metadata.usage``)."""

    user: User
    used_bytes: int


@dataclass(frozen=True)
class Session:
    """A login: the bearer token that now stands for ``user``."""

    token: str
    user: User


@dataclass(frozen=True)
class SessionInfo:
    """A live login, as its user sees it on the account page (``id``, never the token):
    ``kind`` "web" (a browser's session) or "api" (a bearer token)."""

    id: str
    kind: str
    created_at: float
    # 0: until revoked.
    expires_at: float
    label: str
    current: bool


@dataclass(frozen=True)
class UserChanges:
    """What an administrator changes of a user; None leaves a value as it is."""

    disabled: bool | None = None
    quota_bytes: int | None = None
    password: str | None = None


@dataclass(frozen=True)
class Listing:
    """A page of a folder's entries (folders first, then files, in the order asked for),
    from ``offset``, of ``total`` in the folder."""

    path: str
    entries: list[Entry]
    total: int
    offset: int = 0


@dataclass(frozen=True)
class Deleted:
    """A file or folder just moved to the trash, and the id that restores it."""

    path: str
    trash_id: str


@dataclass(frozen=True)
class TrashEntry:
    """A deleted file or folder (with ``items`` entries and ``size`` bytes in all)."""

    trash_id: str
    path: str
    is_dir: bool
    size: int
    items: int
    deleted_at: float


@dataclass(frozen=True)
class Share:
    """A share link, listed under ``id`` (the start of its token's hash, never the token)."""

    id: str
    path: str
    hash: str
    size: int
    created_at: float
    expires_at: float | None
    has_password: bool


@dataclass(frozen=True)
class NewShare:
    """A link just made: its token is shown this once (only its hash is stored)."""

    token: str
    url: str
    share: Share


@dataclass(frozen=True)
class BlockSource:
    """One block of a file: where it lies in the file, and signed node URLs that each
    send it (good for a few minutes, for this blob only; none: no live node holds it)."""

    hash: str
    offset: int
    size: int
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Download:
    """The content a user file or a share link leads to; ``read(start, stop)`` yields
    its bytes ``[start, stop)``, checked against their hashes; ``locate()`` says where
    each of its blocks can be read straight from the nodes."""

    name: str
    size: int
    hash: str
    read: Callable[[int, int], Iterator[bytes]]
    locate: Callable[[], list[BlockSource]]


@dataclass(frozen=True)
class ArchiveItem:
    """A folder or a file of a zip download: its name inside the archive ("photos",
    "photos/a.jpg"), its mtime, and a file's content."""

    name: str
    is_dir: bool
    mtime: float
    content: Download | None


@dataclass(frozen=True)
class Selection:
    """What a zip download of ``count`` selected paths holds; ``title`` names the archive
    when it is one folder (None: several items, or one file)."""

    title: str | None
    count: int
    items: list[ArchiveItem]


class UserFiles(Protocol):
    """Accounts, a namespace of folders and files per user, versions, trash, share links
    and quotas. Every file operation takes the ``User`` that ``authenticate`` gave."""

    # ----- accounts -----

    def login(self, username: str, password: str, *, web: bool = False, label: str = "") -> Session:
        """Trade a name and password for a token: 401 invalid_credentials alike for a
        wrong name and a wrong password, 403 user_disabled. A ``web`` login (the web
        app's session) expires after the session lifetime; ``label`` says what logged in."""
        ...

    def sessions(self, user: User, current_token: str) -> list[SessionInfo]:
        """The user's live logins, newest first, the one of ``current_token`` marked."""
        ...

    def revoke_session(self, user: User, session_id: str) -> None:
        """End one of the user's logins by its id; 404 session_not_found."""
        ...

    def change_password(self, user: User, current_token: str, old: str, new: str) -> None:
        """Set a new password, given the current one (403 wrong_password); every other
        login of the user ends."""
        ...

    def authenticate(self, token: str | None) -> User:
        """The user a bearer token stands for: 401 without one, 401 invalid_token for
        one unknown, revoked or of a disabled user."""
        ...

    def logout(self, token: str) -> None:
        """Revoke the token (a token already gone is fine)."""
        ...

    def is_admin_token(self, token: str) -> bool:
        """Whether the token is an administrator's (the secured global API takes it)."""
        ...

    def authorize_admin(self, token: str | None, cluster_secret: str | None, address: str) -> None:
        """Let an administrator's call through: the cluster secret, a loopback
        ``address`` in open mode, or an administrator's token; 401/403 otherwise."""
        ...

    def account(self, user: User) -> Account:
        """The user with what their quota counts now."""
        ...

    def add_user(
        self, username: str, password: str, *, admin: bool = False, quota_bytes: int | None = None
    ) -> Account:
        """Create an account (``quota_bytes`` 0 or None: no limit); 409 user_exists."""
        ...

    def list_users(self) -> list[Account]:
        """Every account, by name."""
        ...

    def change_user(self, name: str, changes: UserChanges) -> Account:
        """Disable or enable, set the quota or the password; disabling revokes every
        token the user holds; 400 nothing_to_change, 404 user_not_found."""
        ...

    # ----- files -----

    def put(self, user: User, path: str, stream: IO[bytes], length: int | None) -> Entry:
        """Store a file's bytes (streamed, any size; ``length`` None: unknown) at a path;
        the content it held becomes a version. 507 quota_exceeded as soon as it cannot
        fit, before its bytes reach the nodes when ``length`` tells."""
        ...

    def download(self, user: User, path: str, *, version: int | None = None) -> Download:
        """The content of a file, or of one of its ``versions`` (404 version_not_found);
        400 is_a_directory for a folder."""
        ...

    def stat(self, user: User, path: str) -> Entry:
        """The file or folder at a path; 404 path_not_found."""
        ...

    def walk(self, user: User, paths: list[str]) -> Selection:
        """What a zip download of files and folders holds (``app.userfiles.selection``):
        400 missing_field for none, 404 path_not_found, 413 selection_too_large."""
        ...

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
        """A page of a folder's entries (None or empty: the root), folders first, sorted
        by ``sort`` ("name", "size" or "mtime"); 409 not_a_directory for a file."""
        ...

    def search(self, user: User, query: str, *, limit: int = 100) -> list[Entry]:
        """Files and folders across the account whose name contains ``query``, ignoring
        case, by path; at most ``limit``."""
        ...

    def mkdir(self, user: User, path: str) -> Entry:
        """Create a folder and its parents; an existing folder is fine."""
        ...

    def move(self, user: User, source: str, target: str) -> Entry:
        """Rename a file or a folder with its subtree and versions; 409 path_exists."""
        ...

    def copy(self, user: User, source: str, target: str) -> Entry:
        """Copy a file or a folder's subtree: the same content, no bytes travel."""
        ...

    def delete(self, user: User, path: str) -> Deleted:
        """Move a file or a folder with its subtree to the trash."""
        ...

    def versions(self, user: User, path: str) -> list[Entry]:
        """A file's current content first, then its earlier versions, newest first."""
        ...

    def restore_version(self, user: User, path: str, version: int) -> Entry:
        """Make an earlier version the current content again (as a new version)."""
        ...

    def restore_trash(self, user: User, trash_id: str) -> Entry:
        """Put a trash entry back where it was; a file now there becomes a version."""
        ...

    def list_trash(self, user: User) -> list[TrashEntry]:
        """What the user deleted and may restore, the latest first."""
        ...

    def purge_trash(self, user: User, trash_id: str | None = None) -> int:
        """Delete a trash entry for good, or all of them (None), freeing their quota at
        once; answer how many went. 404 trash_not_found for an unknown one."""
        ...

    # ----- share links -----

    def share(
        self,
        user: User,
        path: str,
        *,
        expires_in: float | None = None,
        password: str | None = None,
    ) -> NewShare:
        """A link to a file's current content that anyone holding it can open, until it
        expires (``expires_in`` seconds) or is revoked; a folder cannot be shared."""
        ...

    def list_shares(self, user: User) -> list[Share]:
        """The user's links, the oldest first."""
        ...

    def revoke_share(self, user: User, token_or_id: str) -> None:
        """End a link, named by its token or its listed id; 404 share_not_found."""
        ...

    def open_share(self, token: str, password: str | None, *, grant: str | None = None) -> Download:
        """The content behind a link: 404 unknown or revoked, 403 its owner disabled,
        410 expired, 401/403 without or with a wrong password. A valid ``grant`` (from
        ``unlock_share``) stands for the password."""
        ...

    def unlock_share(self, token: str, password: str | None) -> str:
        """Check a link's password (errors as ``open_share``) and answer a grant that
        stands for it for SHARE_GRANT_LIFETIME: a browser keeps it in a cookie instead
        of the password, and checking it costs an HMAC, not a password hash."""
        ...


class ContentStore(Protocol):
    """Where the service keeps the bytes of user files (the master's replicated blocks,
    out of the global catalogue): what it really calls, so that tests can give it a
    store in memory."""

    def store(self, stream: IO[bytes], name: str) -> FileRecord:
        """Store a stream of any size, private; return its record (hash, size)."""
        ...

    def find(self, file_hash: str) -> FileRecord | None:
        """The record of stored content, or None if it is gone."""
        ...

    def find_many(self, file_hashes: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``file_hashes`` still stored, by hash, in one lookup."""
        ...

    def read(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]:
        """Yield the content's bytes ``[start, stop)``, checked."""
        ...

    def locate(self, record: FileRecord) -> list[BlockSource]:
        """Each block of the content, in order, with signed URLs of its live copies."""
        ...
