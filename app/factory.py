"""The one app factory: ``create_app(role, overrides)`` builds a master or a node."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask

from app.config import load_config
from app.http.hooks import (
    install_request_ids,
    install_socket_timeouts,
    install_url_check,
    install_whole_bodies,
)
from app.http.rendering import register_error_handlers
from app.http.request_metrics import install_request_metrics
from app.server.fairness import install_fair_turns
from app.server.json_logs import JsonFormatter
from app.server.limits import CONNECTION_RULES, ConnectionRules
from app.server.sendfile import install_gevent_sendfile

# A role's blueprints, and the function that wires its engines into the app.
RoleParts = tuple[tuple[Blueprint, ...], Callable[[Flask], None]]


# Each role imports its own packages only when an app of that role is built: a node's
# worker has no use for the master's front ends (accounts, shares, the web app, tus,
# Seedream, the rate limiter), whose imports were about a fifth of its boot's CPU.
def _master_parts() -> RoleParts:
    from app.api import wiring as api_wiring
    from app.api.routes import bp as api_bp
    from app.feed.routes import bp as feed_bp
    from app.master import wiring as master_wiring
    from app.master.routes import bp as master_bp
    from app.master.service import master_service_of
    from app.openapi.routes import bp as openapi_bp
    from app.previews import wiring as previews_wiring
    from app.seedream import wiring as seedream_wiring
    from app.seedream.routes import bp as seedream_bp
    from app.shares.routes import bp as shares_bp
    from app.tus.routes import bp as tus_bp
    from app.userfiles import wiring as userfiles_wiring
    from app.web.routes import bp as web_bp

    def init_master(app: Flask) -> None:
        master_wiring.init_app(app)
        # The front ends over the master service: they store and read through it.
        master = master_service_of(app)
        seedream_wiring.init_app(app, master)
        userfiles_wiring.init_app(app, master)
        previews_wiring.init_app(app)
        api_wiring.init_app(app)

    blueprints = (master_bp, seedream_bp, api_bp, feed_bp, shares_bp, web_bp, tus_bp, openapi_bp)
    return blueprints, init_master


def _node_parts() -> RoleParts:
    from app.node import wiring as node_wiring
    from app.node.routes import bp as node_bp
    from app.openapi.routes import bp as openapi_bp

    return (node_bp, openapi_bp), node_wiring.init_app


# role -> its blueprints and engine wiring, imported on first use
ROLES: dict[str, Callable[[], RoleParts]] = {"master": _master_parts, "node": _node_parts}


def create_app(role: str, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app of ``role`` from defaults, conf/<role>.toml, MDBX_* and overrides."""
    config = load_config(role, overrides)
    blueprints, init_engines = ROLES[role]()
    _configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    # No app-wide static folder: the web app serves its own (app/web/static).
    app = Flask(f"mdbx.{role}", static_folder=None)
    app.config.update(config, ROLE=role)
    # Keep JSON keys in the order the views build them: easier to read with curl.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # No 308 from "//" to "/": a redirected PUT sends its whole body again, and most
    # clients do not follow it. A user's path keeps its meaning (empty segments are
    # dropped by normalize_path); any other doubled slash is a 404 like any unknown URL.
    app.url_map.merge_slashes = False
    register_error_handlers(app)
    # First: its clock starts before any other hook, and it counts what they refuse.
    install_request_metrics(app)
    install_request_ids(app)
    install_url_check(app)
    install_whole_bodies(app)
    install_socket_timeouts(app, config["READ_TIMEOUT"], config["WRITE_TIMEOUT"])
    app.extensions[CONNECTION_RULES] = ConnectionRules(
        header_timeout=config["HEADER_TIMEOUT"],
        max_per_address=config["MAX_CONNECTIONS_PER_ADDRESS"],
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    init_engines(app)
    install_gevent_sendfile()
    install_fair_turns(app)
    return app


def _configure_logging(level: str, log_format: str) -> None:
    # gunicorn configures only its own loggers; give the app's a handler on stderr.
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
        if log_format == "json":
            for handler in root.handlers:
                handler.setFormatter(JsonFormatter())
    logging.getLogger("app").setLevel(level.upper())
