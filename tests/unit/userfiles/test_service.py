"""The user-files service through its interface, without Flask: what any front end gets."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import unicodedata

import pytest

from app.errors import AppError
from app.userfiles.interface import UserChanges


def code(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return caught.value.code


def put(service, user, path: str, data: bytes, length: int | None = -1):
    return service.put(user, path, io.BytesIO(data), len(data) if length == -1 else length)


def read(download) -> bytes:
    return b"".join(download.read(0, download.size))


def test_the_service_loads_neither_flask_nor_the_master_role():
    probe = (
        "import sys, app.userfiles.service; "
        "assert 'flask' not in sys.modules, 'flask'; "
        "assert not [m for m in sys.modules if m.startswith('app.master')], 'app.master'"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_tokens_stand_for_their_user_until_logout_or_disabling(service, alice):
    wrong = pytest.raises(AppError, service.login, "alice", "nope")
    unknown = pytest.raises(AppError, service.login, "mallory", "nope")
    assert (wrong.value.code, wrong.value.message) == (unknown.value.code, unknown.value.message)
    assert wrong.value.code == "invalid_credentials"
    session = service.login("alice", "pw-alice")
    assert service.authenticate(session.token) == session.user == alice
    service.logout(session.token)
    assert code(lambda: service.authenticate(session.token)) == "invalid_token"
    assert code(lambda: service.authenticate(None)) == "missing_credentials"
    other = service.login("alice", "pw-alice").token
    disabled = service.change_user("alice", UserChanges(disabled=True))
    assert disabled.user.disabled is True
    assert code(lambda: service.authenticate(other)) == "invalid_token"
    assert code(lambda: service.login("alice", "pw-alice")) == "user_disabled"


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:1000"])
def test_an_unknown_name_costs_a_login_the_same_hash_as_a_wrong_password(make_service, method):
    from app.userfiles import service as module

    service = make_service(password_method=method)
    # What an unknown name is checked against must be a hash like those of real passwords
    # (method, cost and lengths), or a login for a name nobody has would answer faster
    # than a wrong password. For the default method it is a literal, hashed nowhere.
    dummy_method, salt, digest = service._dummy_hash.split("$")
    real_method, real_salt, real_digest = service._hash("any password").split("$")
    assert (dummy_method, len(salt), len(digest)) == (
        real_method,
        len(real_salt),
        len(real_digest),
    )
    assert dummy_method.startswith(method)
    assert (service._dummy_hash == module._DUMMY_HASH) == (method == module.PASSWORD_METHOD)


def test_passwords_hashed_under_another_method_still_check(make_service):
    """A master whose PASSWORD_HASH changed logs in the accounts made before."""
    make_service().add_user("carol", "pw-carol")  # scrypt, the default
    cheaper = make_service(password_method="pbkdf2:sha256:1000")
    assert cheaper.login("carol", "pw-carol").user.name == "carol"
    assert code(lambda: cheaper.login("carol", "wrong")) == "invalid_credentials"
    cheaper.add_user("dave", "pw-dave")
    assert make_service().login("dave", "pw-dave").user.name == "dave"


def test_administrators_in_open_and_secured_mode(service, make_service, alice):
    service.authorize_admin(None, None, "127.0.0.1")  # loopback in open mode
    assert code(lambda: service.authorize_admin(None, None, "192.0.2.7")) == "missing_credentials"
    token = service.login("alice", "pw-alice").token
    assert code(lambda: service.authorize_admin(token, None, "192.0.2.7")) == "forbidden"
    service.add_user("root", "pw-root", admin=True)
    root = service.login("root", "pw-root").token
    assert service.is_admin_token(root) and not service.is_admin_token(token)
    secured = make_service(cluster_secret="s3cret")
    secured.authorize_admin(None, "s3cret", "192.0.2.7")
    secured.authorize_admin(root, None, "192.0.2.7")
    assert code(lambda: secured.authorize_admin(None, "wrong", "127.0.0.1")) == (
        "missing_credentials"
    )
    assert [a.user.name for a in service.list_users()] == ["alice", "root"]


def test_every_value_is_checked_whatever_front_end_sent_it(service, alice):
    assert code(lambda: service.add_user("../x", "pw")) == "invalid_field"
    assert code(lambda: service.add_user("bob", "")) == "missing_field"
    assert code(lambda: service.add_user("bob", "pw", quota_bytes=-1)) == "invalid_field"
    assert code(lambda: service.mkdir(alice, "/a/../b")) == "invalid_path"
    assert code(lambda: service.restore_version(alice, "/f", "1")) == "invalid_field"
    assert code(lambda: service.change_user("alice", UserChanges())) == "nothing_to_change"
    assert code(lambda: service.change_user("nobody", UserChanges(quota_bytes=1))) == (
        "user_not_found"
    )
    made = service.mkdir(alice, unicodedata.normalize("NFD", "café//docs/"))
    assert made.path == unicodedata.normalize("NFC", "/café/docs") and made.is_dir


def test_files_round_trip_with_versions_and_ranges(service, alice):
    first = put(service, alice, "docs/a.txt", b"hello world")
    assert (first.path, first.size, first.version) == ("/docs/a.txt", 11, 1)
    put(service, alice, "/docs/a.txt", b"hello again")
    download = service.download(alice, "/docs/a.txt")
    assert (download.name, read(download)) == ("a.txt", b"hello again")
    assert b"".join(download.read(6, 11)) == b"again"
    assert [(v.version, v.hash) for v in service.versions(alice, "/docs/a.txt")] == [
        (2, download.hash),
        (1, first.hash),
    ]
    restored = service.restore_version(alice, "/docs/a.txt", 1)
    assert restored.version == 3 and read(service.download(alice, "/docs/a.txt")) == b"hello world"
    listing = service.list_folder(alice, "")
    assert listing.path == "/" and [(e.name, e.is_dir) for e in listing.entries] == [("docs", True)]
    assert service.stat(alice, "/docs").is_dir
    assert code(lambda: service.download(alice, "/docs")) == "is_a_directory"
    copied = service.copy(alice, "/docs", "/copy")
    moved = service.move(alice, "/copy", "/elsewhere/copy")
    assert copied.is_dir and moved.path == "/elsewhere/copy"
    assert read(service.download(alice, "/elsewhere/copy/a.txt")) == b"hello world"


def test_a_quota_refuses_what_cannot_fit_before_it_is_stored(service, content, alice):
    assert code(lambda: put(service, alice, "/big", b"x" * 101)) == "quota_exceeded"
    # Of unknown length (chunked): cut off once past the room left.
    assert code(lambda: put(service, alice, "/big", b"y" * 101, length=None)) == "quota_exceeded"
    assert content.blobs == {}
    put(service, alice, "/fits", b"z" * 60)
    service.copy(alice, "/fits", "/same")  # the same content counts once
    assert service.account(alice).used_bytes == 60
    assert code(lambda: put(service, alice, "/more", b"w" * 50)) == "quota_exceeded"


def test_deleted_files_wait_in_the_trash(service, alice):
    put(service, alice, "/docs/a.txt", b"a")
    deleted = service.delete(alice, "docs")
    assert deleted.path == "/docs"
    assert code(lambda: service.stat(alice, "/docs/a.txt")) == "path_not_found"
    [item] = service.list_trash(alice)
    assert (item.trash_id, item.path, item.is_dir, item.items) == (
        deleted.trash_id,
        "/docs",
        True,
        2,
    )
    assert service.restore_trash(alice, deleted.trash_id).path == "/docs"
    assert read(service.download(alice, "/docs/a.txt")) == b"a" and service.list_trash(alice) == []


def test_share_links_open_until_revoked_expired_or_their_owner_disabled(service, alice):
    put(service, alice, "/a.txt", b"shared")
    plain = service.share(alice, "/a.txt")
    assert (
        plain.url == f"https://files.example.com/s/{plain.token}" and not plain.share.has_password
    )
    assert read(service.open_share(plain.token, None)) == b"shared"
    locked = service.share(alice, "/a.txt", password="open sesame")
    assert code(lambda: service.open_share(locked.token, None)) == "missing_credentials"
    assert code(lambda: service.open_share(locked.token, "guess")) == "wrong_password"
    assert read(service.open_share(locked.token, "open sesame")) == b"shared"
    brief = service.share(alice, "/a.txt", expires_in=0.001)
    time.sleep(0.01)
    assert code(lambda: service.open_share(brief.token, None)) == "share_expired"
    service.change_user("alice", UserChanges(disabled=True))
    assert code(lambda: service.open_share(plain.token, None)) == "user_disabled"
    service.change_user("alice", UserChanges(disabled=False))
    assert [s.id for s in service.list_shares(alice)] == [
        plain.share.id,
        locked.share.id,
        brief.share.id,
    ]
    service.revoke_share(alice, plain.share.id)
    service.revoke_share(alice, locked.token)
    assert code(lambda: service.open_share(plain.token, None)) == "share_not_found"
    assert [s.id for s in service.list_shares(alice)] == [brief.share.id]
    assert code(lambda: service.share(alice, "/")) == "is_a_directory"
