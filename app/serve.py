"""Run one role under gunicorn with gevent workers: what ``mdbx serve`` starts.

The gunicorn settings come from conf/gunicorn.py (what every role shares) and from the
role's own config (port, workers, timeouts), so one config source drives both.
"""

from __future__ import annotations

import importlib
import os
import runpy
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from app.config import ENV_PREFIX, conf_dir, load_config, url_host


def gunicorn_settings(role: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Return gunicorn's settings for ``role``: conf/gunicorn.py, then the role's config."""
    shared_file = conf_dir() / "gunicorn.py"
    shared = runpy.run_path(str(shared_file)) if shared_file.is_file() else {}
    settings = {k: v for k, v in shared.items() if not k.startswith("_") and not callable(v)}
    settings.update(
        bind=f"{url_host(config['HOST'])}:{config['PORT']}",
        workers=config["WORKERS"],
        worker_connections=config["WORKER_CONNECTIONS"],
        keepalive=config["IDLE_TIMEOUT"],
        graceful_timeout=config["GRACEFUL_TIMEOUT"],
        loglevel=config["LOG_LEVEL"],
        accesslog=settings.get("accesslog", "-") if config["ACCESS_LOG"] else None,
        proc_name=f"mdbx-{role}-{config['PORT']}",
    )
    return settings


class RoleServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application that loads ``wsgi.<role>:app`` in each worker, after fork."""

    def __init__(self, role: str, settings: Mapping[str, Any]) -> None:
        self.role = role
        self.settings = dict(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:
        module = importlib.import_module(f"wsgi.{self.role}")
        app: Callable[..., Any] = module.app
        return app


def serve(role: str, env_overrides: Mapping[str, str]) -> None:
    """Start ``role`` in the foreground; ``env_overrides`` become MDBX_* for the workers.

    Command-line flags are passed as environment so that the workers, which build their
    app after fork, resolve exactly the same configuration as this process.
    """
    for key, value in env_overrides.items():
        os.environ[f"{ENV_PREFIX}{key}"] = value
    config = load_config(role)
    RoleServer(role, gunicorn_settings(role, config)).run()
