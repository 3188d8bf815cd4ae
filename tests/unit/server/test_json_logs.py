"""JSON log lines: one object a line, with the id of the request being served."""

from __future__ import annotations

import json
import logging
from contextvars import Context

from app.cluster import request_ids
from app.server.json_logs import JsonFormatter, access_record


def record(message: str, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("app.x", logging.WARNING, __file__, 1, message, (), exc_info)


def test_a_record_names_its_level_logger_and_request():
    def within_a_request() -> str:
        request_ids.current.set("req-1")
        return JsonFormatter().format(record('a "quoted"\nline'))

    entry = json.loads(Context().run(within_a_request))
    assert entry["level"] == "warning" and entry["logger"] == "app.x"
    assert entry["message"] == 'a "quoted"\nline' and entry["request_id"] == "req-1"
    assert entry["time"].endswith("Z")


def test_a_record_outside_a_request_has_no_id_and_errors_keep_their_traceback():
    def outside() -> str:
        try:
            raise ValueError("boom")
        except ValueError as exc:
            return JsonFormatter().format(record("failed", (ValueError, exc, exc.__traceback__)))

    # A fresh context, as a new thread or greenlet has (the test run set ids in its own).
    entry = json.loads(Context().run(outside))
    assert "request_id" not in entry
    assert "ValueError: boom" in entry["error"]


def test_an_access_line_splits_its_target_and_escapes_odd_bytes():
    line = access_record(
        process="mdbx-node-8001",
        remote="10.0.0.1",
        method="GET",
        target='/retrieve?hash=a"b',
        status=200,
        size=4096,
        seconds=0.0012345,
        agent="curl/8",
        request_id="r-9",
    )
    entry = json.loads(line)
    assert (entry["path"], entry["query"], entry["ms"]) == ("/retrieve", 'hash=a"b', 1.234)
    assert (entry["kind"], entry["status"], entry["request_id"]) == ("access", 200, "r-9")
