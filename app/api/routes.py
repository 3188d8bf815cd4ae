"""Per-user API views: parse, call UserApi, render."""

from __future__ import annotations

from flask import Response, g, jsonify, request

from app.api import bp
from app.api.service import Download, user_api
from app.http.blob_headers import mimetype_of
from app.http.blobs import send_stream
from app.http.bodies import json_body
from app.metadata.accounts import User
from app.security import CLUSTER_HEADER


def current_user() -> User:
    """The user of this request's bearer token (401 without one)."""
    if "user" not in g:
        g.user, g.token = user_api().authenticate(request.headers.get("Authorization"))
    user: User = g.user
    return user


def require_admin() -> None:
    user_api().authorize_admin(
        request.headers.get("Authorization"),
        request.headers.get(CLUSTER_HEADER),
        request.remote_addr or "",
    )


def stream(download: Download) -> Response:
    record = download.record
    return send_stream(
        lambda start, stop: user_api().master.reader.iter_range(record, start, stop),
        size=record.size,
        etag=record.hash,
        mimetype=mimetype_of(download.name),
        download_name=download.name,
    )


@bp.post("/api/login")
def login() -> Response:
    return jsonify(user_api().login(json_body()))


@bp.post("/api/logout")
def logout() -> Response:
    current_user()
    return jsonify(user_api().logout(g.token))


@bp.get("/api/account")
def account() -> Response:
    return jsonify(user_api().account(current_user()))


@bp.put("/api/files/<path:path>")
def put_file(path: str) -> Response:
    user = current_user()
    return jsonify(user_api().put(user, path, request.stream, request.content_length))


@bp.get("/api/files/<path:path>")
def get_file(path: str) -> Response:
    return stream(user_api().download(current_user(), path))


@bp.delete("/api/files/<path:path>")
def delete_file(path: str) -> Response:
    return jsonify(user_api().delete(current_user(), path))


@bp.get("/api/list")
def list_folder() -> Response:
    return jsonify(user_api().list_folder(current_user(), request.args.get("path")))


@bp.get("/api/stat")
def stat() -> Response:
    return jsonify(user_api().stat(current_user(), request.args.get("path")))


@bp.post("/api/mkdir")
def mkdir() -> Response:
    return jsonify(user_api().mkdir(current_user(), json_body()))


@bp.post("/api/move")
def move() -> Response:
    return jsonify(user_api().move(current_user(), json_body()))


@bp.post("/api/copy")
def copy() -> Response:
    return jsonify(user_api().copy(current_user(), json_body()))


@bp.get("/api/versions")
def versions() -> Response:
    return jsonify(user_api().versions(current_user(), request.args.get("path")))


@bp.post("/api/restore")
def restore() -> Response:
    return jsonify(user_api().restore(current_user(), json_body()))


@bp.get("/api/trash")
def trash() -> Response:
    return jsonify(user_api().list_trash(current_user()))


@bp.post("/api/shares")
def create_share() -> Response:
    return jsonify(user_api().share(current_user(), json_body()))


@bp.get("/api/shares")
def list_shares() -> Response:
    return jsonify(user_api().list_shares(current_user()))


@bp.delete("/api/shares/<token>")
def revoke_share(token: str) -> Response:
    return jsonify(user_api().revoke_share(current_user(), token))


@bp.get("/s/<token>")
def open_share(token: str) -> Response:
    password = request.args.get("password") or request.headers.get("X-Share-Password")
    return stream(user_api().open_share(token, password))


@bp.post("/api/admin/users")
def add_user() -> Response:
    require_admin()
    return jsonify(user_api().add_user(json_body()))


@bp.get("/api/admin/users")
def list_users() -> Response:
    require_admin()
    return jsonify(user_api().list_users())


@bp.patch("/api/admin/users/<name>")
def change_user(name: str) -> Response:
    require_admin()
    return jsonify(user_api().change_user(name, json_body()))
