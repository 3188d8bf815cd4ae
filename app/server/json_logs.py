"""Structured logs (``LOG_FORMAT = "json"``): one JSON object a line, each with its
request's id, for an operator's log pipeline (jq, Loki, Elasticsearch).

Access lines of both of a worker's loops are built here as whole JSON texts
(``access_record``) and written through the access logger's bare-message handlers, so
the buffered writing of the fast path's lines (``app.server.access_log.AccessLines``) still
applies; every other record (gunicorn's, the app's) goes through ``JsonFormatter``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from app.cluster import request_ids
from app.server.access_log import QuietClusterLogger, is_shown

LOG_FORMATS = ("text", "json")


def _timestamp(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds % 1 * 1000):03d}Z"


def access_record(
    *,
    process: str,
    remote: str,
    method: str,
    target: str,
    status: int,
    size: int,
    seconds: float,
    agent: str,
    request_id: str,
) -> str:
    """One access line as JSON text."""
    path, _, query = target.partition("?")
    entry: dict[str, Any] = {
        "time": _timestamp(time.time()),
        "kind": "access",
        "process": process,
        "remote": remote,
        "method": method,
        "path": path,
        "query": query,
        "status": status,
        "bytes": size,
        "ms": round(seconds * 1000, 3),
        "agent": agent,
        "request_id": request_id,
    }
    return json.dumps(entry)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object, with the id of the request it was logged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "kind": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if request_id := request_ids.current.get():
            entry["request_id"] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class JsonClusterLogger(QuietClusterLogger):
    """gunicorn's logger writing JSON: its own records by ``JsonFormatter``, access lines
    by ``access_record`` (the cluster's calls still only at debug)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        # Python's warnings (gevent's, a library's deprecations) as records too, not as
        # bare text between the JSON lines.
        warnings_log = logging.getLogger("py.warnings")
        warnings_log.handlers = list(self.error_log.handlers)
        warnings_log.propagate = False
        logging.captureWarnings(True)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        agent = environ.get("HTTP_USER_AGENT", "")
        if not (self.cfg.accesslog and is_shown(agent, self.cfg.loglevel)):
            return
        query = environ.get("QUERY_STRING", "")
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "") + (
            f"?{query}" if query else ""
        )
        answered = dict((name.lower(), value) for name, value in resp.headers)
        line = access_record(
            process=self.cfg.proc_name,
            remote=environ.get("REMOTE_ADDR", "-"),
            method=environ.get("REQUEST_METHOD", "-"),
            target=target,
            status=int(str(resp.status).split(None, 1)[0]),
            size=getattr(resp, "sent", 0) or 0,
            seconds=request_time.total_seconds(),
            agent=agent,
            request_id=answered.get(request_ids.HEADER.lower(), ""),
        )
        self.access_log.info(line)
