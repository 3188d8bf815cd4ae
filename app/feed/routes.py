"""The change feed's views: parse the query, call the feed service
(``app.userfiles.feed``), render its answer (``app.api.answers``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api.answers import batch_answer, change_answer, stored_answer, tree_entry_answer
from app.errors import PayloadTooLarge
from app.http.bodies import json_body
from app.http.identity import current_user
from app.http.multipart import read_parts
from app.http.peer import peer_watch
from app.http.query import int_arg
from app.userfiles.batch import MAX_BATCH_BYTES, MAX_BATCH_FILES, BatchFile
from app.userfiles.current import batch_writes, change_feed, delta_writes, direct_uploads
from app.userfiles.delta import read_plan
from app.userfiles.feed import DEFAULT_PAGE, MAX_PAGE, MAX_WAIT

bp = Blueprint("feed", __name__)

# Seconds a long poll waits when not told.
DEFAULT_WAIT = 30


@bp.get("/api/tree")
def tree() -> Response:
    """Every file and folder below ``path``, by path, a page at a time (``after``)."""
    page = change_feed().tree(
        current_user(),
        request.args.get("path"),
        request.args.get("after") or None,
        int_arg("limit", DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE),
    )
    entries = [tree_entry_answer(entry) for entry in page.entries]
    return jsonify({"entries": entries, "cursor": page.cursor, "next": page.next})


@bp.get("/api/changes/latest")
def latest() -> Response:
    return jsonify({"cursor": change_feed().latest(current_user(), request.args.get("path"))})


@bp.get("/api/changes")
def changes() -> Response:
    page = change_feed().changes(
        current_user(),
        request.args.get("cursor", ""),
        int_arg("limit", DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE),
    )
    return jsonify(
        {
            "changes": [change_answer(change) for change in page.changes],
            "cursor": page.cursor,
            "has_more": page.has_more,
        }
    )


@bp.get("/api/changes/wait")
def wait() -> Response:
    """Answer ``{"changes": true}`` as soon as the cursor's path changes, false at the
    timeout (the request holds no database connection meanwhile)."""
    timeout = int_arg("timeout", DEFAULT_WAIT, minimum=1, maximum=int(MAX_WAIT))
    found = change_feed().wait(
        current_user(), request.args.get("cursor", ""), timeout, peer_watch(request.environ)
    )
    return jsonify({"changes": found})


@bp.post("/api/batch")
def batch() -> Response:
    """Many small files in one multipart body, under ``?dir=``: a result per file."""
    user = current_user()
    if (request.content_length or 0) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"a batch is at most {MAX_BATCH_BYTES} bytes")
    request.max_content_length = MAX_BATCH_BYTES  # a chunked body is cut off there
    writes = batch_writes()
    parts = read_parts(
        request.stream,
        request.content_type,
        max_parts=MAX_BATCH_FILES,
        max_part_bytes=writes.max_file,
    )
    sent = [BatchFile(batch_path(part.name, part.filename), part.data) for part in parts]
    results = writes.put_many(user, request.args.get("dir"), sent)
    return jsonify({"results": [batch_answer(result) for result in results]})


@bp.post("/api/blocks")
def missing_blocks() -> Response:
    """Which blocks of a new version of ``path`` the client must send (``/api/delta``)."""
    payload = json_body()
    writes = delta_writes()
    missing = writes.missing(
        current_user(), str(payload.get("path") or ""), payload.get("size"), payload.get("blocks")
    )
    return jsonify({"block_size": writes.block_size, "missing": missing})


@bp.post("/api/delta")
def put_delta() -> Response:
    """A new version of ``?path=`` from its changed blocks (``app.userfiles.delta``)."""
    user = current_user()
    plan = read_plan(request.stream)
    entry = delta_writes().put(user, request.args.get("path", ""), plan, request.stream)
    return jsonify(stored_answer(entry))


@bp.post("/api/uploads")
def begin_upload() -> Response:
    """A large file whose blocks go straight to the nodes (``app.userfiles.direct``):
    where to PUT each block."""
    return jsonify(direct_uploads().begin(current_user(), json_body()))


@bp.get("/api/uploads/<upload_id>")
def upload_status(upload_id: str) -> Response:
    return jsonify(direct_uploads().status(current_user(), upload_id))


@bp.post("/api/uploads/<upload_id>/commit")
def commit_upload(upload_id: str) -> Response:
    """The file at its path, once every block was sent (``receipts``) or is held."""
    receipts = json_body().get("receipts")
    entry = direct_uploads().commit(current_user(), upload_id, receipts)
    return jsonify(stored_answer(entry))


@bp.delete("/api/uploads/<upload_id>")
def abort_upload(upload_id: str) -> Response:
    return jsonify(direct_uploads().abort(current_user(), upload_id))


def batch_path(name: str, filename: str | None) -> str:
    """A part's path: its field name, or its filename when the field is ``file``."""
    return filename or "" if name in GENERIC_FIELDS else name


# Field names that say "a file" rather than where it goes (curl -F file=@a.txt).
GENERIC_FIELDS = ("file", "files")
