"""The change feed's views: parse the query, call the feed service
(``app.userfiles.feed``), render its answer (``app.api.answers``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api.answers import change_answer, tree_entry_answer
from app.http.identity import current_user
from app.http.query import int_arg
from app.userfiles.current import change_feed
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
    found = change_feed().wait(current_user(), request.args.get("cursor", ""), timeout)
    return jsonify({"changes": found})
