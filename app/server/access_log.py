"""Which requests the access log shows at info: the cluster's own calls only at debug.

A master hears two heartbeat lines every two seconds per node, plus registrations,
inventories and the rest: at info they buried a person's own requests. Calls whose
User-Agent is the cluster's (``app.cluster.agent``) are written only when LOG_LEVEL is
debug, on both of a worker's loops: gunicorn's (``QuietClusterLogger``, its
``logger_class``) and the fast path's (``app.server.worker``), through ``is_shown``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from app.cluster.agent import is_cluster_agent


def is_shown(user_agent: str, loglevel: str) -> bool:
    """Whether a request sent with ``user_agent`` gets an access line at ``loglevel``."""
    return not is_cluster_agent(user_agent) or loglevel.lower() == "debug"


class QuietClusterLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, whose access lines leave out the cluster's calls below debug."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if is_shown(environ.get("HTTP_USER_AGENT", ""), self.cfg.loglevel):
            super().access(resp, req, environ, request_time)
