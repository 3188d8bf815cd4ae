"""Per-user API views: parse the request into the service's arguments, call
``app.userfiles``, render its answer (``app.api.answers``)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.answers import (
    account_answer,
    block_map_answer,
    entry_answer,
    listing_answer,
    new_share_answer,
    session_answer,
    share_answer,
    stored_answer,
    trash_answer,
    version_answer,
)
from app.errors import InvalidField, MissingField
from app.http.archives import send_zip
from app.http.blobs import send_download
from app.http.bodies import json_body
from app.http.identity import current_token, current_user, require_admin
from app.http.previews import send_thumbnail
from app.http.query import choice_arg, int_arg
from app.previews.thumbnails import valid_size
from app.seedream.form import read_form
from app.seedream.routes import SSE_HEADERS
from app.seedream.service import seedream_service
from app.seedream.user_folder import folder_sink, take_user_fields
from app.userfiles.current import user_files
from app.userfiles.interface import Download, UserChanges
from app.userfiles.paths import normalize_path
from app.userfiles.validation import (
    valid_lifetime,
    valid_password,
    valid_quota,
    valid_trash_id,
    valid_username,
    valid_version,
)

bp = Blueprint("api", __name__)

# Entries in one page of a listing or a search, at most.
MAX_PAGE = 1_000


def user_changes(payload: dict[str, Any]) -> UserChanges:
    """The fields sent, each checked as it comes: a password sent as null is missing."""
    if "disabled" in payload and not isinstance(payload["disabled"], bool):
        raise InvalidField("disabled", "'disabled' must be true or false")
    return UserChanges(
        disabled=payload.get("disabled"),
        quota_bytes=valid_quota(payload.get("quota_bytes")),
        password=valid_password(payload["password"]) if "password" in payload else None,
    )


def path_pair(payload: dict[str, Any]) -> tuple[str, str]:
    return normalize_path(payload.get("from"), "from"), normalize_path(payload.get("to"), "to")


@bp.post("/api/login")
def login() -> Response:
    payload = json_body()
    name = valid_username(payload.get("username"))
    session = user_files().login(name, valid_password(payload.get("password")))
    return jsonify({"token": session.token, "username": session.user.name})


@bp.post("/api/logout")
def logout() -> Response:
    user_files().logout(current_token())
    return jsonify({"revoked": True})


@bp.get("/api/account")
def account() -> Response:
    return jsonify(account_answer(user_files().account(current_user())))


@bp.get("/api/account/sessions")
def sessions() -> Response:
    found = user_files().sessions(current_user(), current_token())
    return jsonify({"sessions": [session_answer(session) for session in found]})


@bp.delete("/api/account/sessions/<session_id>")
def revoke_session(session_id: str) -> Response:
    user_files().revoke_session(current_user(), session_id)
    return jsonify({"revoked": True})


@bp.post("/api/account/password")
def change_password() -> Response:
    payload = json_body()
    user = current_user()
    old = valid_password(payload.get("old"), "old")
    user_files().change_password(
        user, current_token(), old, valid_password(payload.get("new"), "new")
    )
    return jsonify({"changed": True})


@bp.put("/api/files/<path:path>")
def put_file(path: str) -> Response:
    user = current_user()
    return jsonify(
        stored_answer(user_files().put(user, path, request.stream, request.content_length))
    )


@bp.get("/api/files/<path:path>")
def get_file(path: str) -> Response:
    """The file, or one of its versions with ``?version=N`` (as /api/versions lists them)."""
    return send_download(requested_download(path))


@bp.get("/api/blockmap/<path:path>")
def block_map(path: str) -> Response:
    """Where each block of that file (or version) can be read from the nodes: signed URLs
    a client reads in parallel instead of the master's stream."""
    return jsonify(block_map_answer(requested_download(path)))


def requested_download(path: str) -> Download:
    version = int_arg("version", 0, minimum=1, maximum=2**62) or None
    return user_files().download(current_user(), path, version=version)


@bp.get("/api/zip")
def zip_paths() -> Response:
    """A zip of the files and folders named by each ``path``."""
    user = current_user()
    return send_zip(user_files().walk(user, request.args.getlist("path")))


@bp.post("/api/zip")
def zip_form() -> Response:
    """The same for a selection too long for a URL: form field ``paths``, a JSON list."""
    user = current_user()
    return send_zip(user_files().walk(user, form_paths(request.form.get("paths"))))


def form_paths(raw: str | None) -> list[str]:
    if not raw:
        raise MissingField("paths")
    try:
        paths = json.loads(raw)
    except ValueError:
        paths = None
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise InvalidField("paths", "'paths' must be a JSON list of path strings")
    return paths


@bp.delete("/api/files/<path:path>")
def delete_file(path: str) -> Response:
    deleted = user_files().delete(current_user(), path)
    return jsonify({"path": deleted.path, "trash_id": deleted.trash_id})


@bp.get("/api/list")
def list_folder() -> Response:
    listing = user_files().list_folder(
        current_user(),
        request.args.get("path"),
        offset=int_arg("offset", 0, maximum=2**31),
        limit=int_arg("limit", 0, maximum=MAX_PAGE) or None,
        sort=choice_arg("sort", "name", ("name", "size", "mtime")),
        descending=choice_arg("order", "asc", ("asc", "desc")) == "desc",
    )
    return jsonify(listing_answer(listing))


@bp.get("/api/search")
def search() -> Response:
    query = request.args.get("q", "")
    found = user_files().search(
        current_user(), query, limit=int_arg("limit", 100, minimum=1, maximum=MAX_PAGE)
    )
    return jsonify({"query": query, "entries": [entry_answer(entry) for entry in found]})


@bp.get("/api/stat")
def stat() -> Response:
    return jsonify(entry_answer(user_files().stat(current_user(), request.args.get("path", ""))))


@bp.post("/api/mkdir")
def mkdir() -> Response:
    user = current_user()
    return jsonify(entry_answer(user_files().mkdir(user, normalize_path(json_body().get("path")))))


@bp.post("/api/move")
def move() -> Response:
    user = current_user()
    return jsonify(entry_answer(user_files().move(user, *path_pair(json_body()))))


@bp.post("/api/copy")
def copy() -> Response:
    user = current_user()
    return jsonify(entry_answer(user_files().copy(user, *path_pair(json_body()))))


@bp.get("/api/versions")
def versions() -> Response:
    found = user_files().versions(current_user(), request.args.get("path", ""))
    return jsonify({"versions": [version_answer(entry) for entry in found]})


@bp.post("/api/restore")
def restore() -> Response:
    """Restore a trash entry (``trash_id``) or a version (``path`` and ``version``)."""
    user = current_user()
    payload = json_body()
    if payload.get("trash_id") is not None:
        restored = user_files().restore_trash(user, valid_trash_id(payload["trash_id"]))
    else:
        path = normalize_path(payload.get("path"))
        restored = user_files().restore_version(user, path, valid_version(payload.get("version")))
    return jsonify(entry_answer(restored))


@bp.get("/api/trash")
def trash() -> Response:
    return jsonify(
        {"trash": [trash_answer(item) for item in user_files().list_trash(current_user())]}
    )


@bp.delete("/api/trash")
def empty_trash() -> Response:
    return jsonify({"purged": user_files().purge_trash(current_user())})


@bp.delete("/api/trash/<trash_id>")
def purge_trash_entry(trash_id: str) -> Response:
    return jsonify({"purged": user_files().purge_trash(current_user(), trash_id)})


@bp.post("/api/shares")
def create_share() -> Response:
    user = current_user()
    payload = json_body()
    path = normalize_path(payload.get("path"))
    expires_in = valid_lifetime(payload.get("expires_in"))
    password = payload.get("password")
    made = user_files().share(
        user,
        path,
        expires_in=expires_in,
        password=None if password is None else valid_password(password),
    )
    return jsonify(new_share_answer(made))


@bp.get("/api/shares")
def list_shares() -> Response:
    shares = user_files().list_shares(current_user())
    return jsonify({"shares": [share_answer(share) for share in shares]})


@bp.delete("/api/shares/<token>")
def revoke_share(token: str) -> Response:
    user_files().revoke_share(current_user(), token)
    return jsonify({"revoked": True})


@bp.get("/api/thumbnail")
def thumbnail() -> Response:
    user = current_user()
    size = valid_size(request.args.get("size"))
    return send_thumbnail(user_files().download(user, request.args.get("path", "")), size)


@bp.post("/api/admin/users")
def add_user() -> Response:
    require_admin()
    payload = json_body()
    name = valid_username(payload.get("username"))
    password = valid_password(payload.get("password"))
    added = user_files().add_user(
        name,
        password,
        admin=payload.get("admin") is True,
        quota_bytes=valid_quota(payload.get("quota_bytes")),
    )
    return jsonify(account_answer(added))


@bp.get("/api/admin/users")
def list_users() -> Response:
    require_admin()
    return jsonify({"users": [account_answer(account) for account in user_files().list_users()]})


@bp.patch("/api/admin/users/<name>")
def change_user(name: str) -> Response:
    require_admin()
    return jsonify(account_answer(user_files().change_user(name, user_changes(json_body()))))


@bp.post("/api/generate")
def generate_into_folder() -> Response:
    """Seedream's generate, with the images stored in a folder of the caller's files."""
    user = current_user()
    service = seedream_service()
    service.check_configured()  # 503 before reading a body that could not be used
    form, folder = take_user_fields(read_form(request), user_files(), user)
    job = service.prepare(form)
    sink = folder_sink(user_files(), user, folder)
    if job.stream:
        return Response(
            service.stream(job, sink), mimetype="text/event-stream", headers=SSE_HEADERS
        )
    return jsonify(service.generate(job, sink))
