"""Run one role under gunicorn with gevent workers: what ``mdbx serve`` starts.

What the serving depends on is set here, in code, so that an installed wheel (which has
no conf/) runs exactly as the source tree does; conf/gunicorn.py may change the few
tunables only, and the role's own config (conf/<role>.toml, MDBX_*) gives the binding,
workers and timeouts, so one config source drives both gunicorn and the app.
"""

from __future__ import annotations

import importlib
import logging
import os
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config

from app.addresses import url_host
from app.config import ENV_PREFIX, ConfigError, conf_file, load_config
from app.metrics.process_dir import mark_worker_dead, prepare_process_dir
from app.server.limits import open_files_wanted, raise_open_file_limit

log = logging.getLogger(__name__)

# Set whatever conf/gunicorn.py says. The fast path lives in this worker (gunicorn's
# default, sync, has neither gevent nor it). The app is built in each worker after gevent
# has patched it; preloading would create sockets and locks before the patch. Several
# roles run side by side on one machine, and one control socket path
# (~/.gunicorn/gunicorn.ctl) would collide.
REQUIRED_SETTINGS: dict[str, Any] = {
    "worker_class": "app.server.worker.FastGeventWorker",
    "preload_app": False,
    "control_socket_disable": True,
    # The cluster's own calls get access lines at debug only (app.server.access_log).
    "logger_class": "app.server.access_log.QuietClusterLogger",
    # /metrics sums the workers' files (app.metrics.process_dir).
    "child_exit": mark_worker_dead,
}
# What conf/gunicorn.py may change, and its defaults (listed there, commented out).
TUNABLE_SETTINGS: dict[str, Any] = {
    "accesslog": "-",
    "errorlog": "-",
    "access_log_format": '%(h)s "%(r)s" %(s)s %(B)s %(M)sms',
    # Seconds a worker may stay silent before gunicorn replaces it; gevent workers beat
    # from their own greenlet, so this is not a request time limit.
    "timeout": 30,
}
# gunicorn settings made from the role's config, and the keys that set them there.
ROLE_SETTINGS = {
    "bind": "HOST and PORT",
    "workers": "WORKERS",
    "worker_connections": "WORKER_CONNECTIONS",
    "keepalive": "IDLE_TIMEOUT",
    "graceful_timeout": "GRACEFUL_TIMEOUT",
    "loglevel": "LOG_LEVEL",
}


def gunicorn_settings(role: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Return gunicorn's settings for ``role``: built-ins, conf/gunicorn.py's tunables,
    the role's config, and the required settings over all.

    Raises ConfigError for a setting conf/gunicorn.py may not change or a bad value.
    """
    settings = {**TUNABLE_SETTINGS, **_tunables_from_file(conf_file("gunicorn.py"), role)}
    settings.update(
        bind=f"{url_host(config['HOST'])}:{config['PORT']}",
        workers=config["WORKERS"],
        worker_connections=config["WORKER_CONNECTIONS"],
        keepalive=config["IDLE_TIMEOUT"],
        graceful_timeout=config["GRACEFUL_TIMEOUT"],
        loglevel=config["LOG_LEVEL"],
        accesslog=settings["accesslog"] if config["ACCESS_LOG"] else None,
        proc_name=f"mdbx-{role}-{config['PORT']}",
        **REQUIRED_SETTINGS,
    )
    if config["LOG_FORMAT"] == "json":
        settings["logger_class"] = "app.server.json_logs.JsonClusterLogger"
    return settings


def _tunables_from_file(path: Path | None, role: str) -> dict[str, Any]:
    """Read conf/gunicorn.py (plain assignments); refuse what is not a tunable there."""
    if path is None:
        return {}
    assigned = runpy.run_path(str(path))
    values = {k: v for k, v in assigned.items() if not k.startswith("_") and not callable(v)}
    check = Config()
    for key, value in values.items():
        if key in REQUIRED_SETTINGS:
            raise ConfigError(f"{key} in {path}: mdbx serve sets it (the roles need it)")
        if key in ROLE_SETTINGS:
            raise ConfigError(
                f"{key} in {path}: set {ROLE_SETTINGS[key]} in conf/{role}.toml "
                f"or {ENV_PREFIX}<KEY> instead"
            )
        if key not in TUNABLE_SETTINGS:
            raise ConfigError(
                f"{key} in {path} is not a setting mdbx serve takes from there "
                f"(those are {', '.join(TUNABLE_SETTINGS)})"
            )
        try:
            check.set(key, value)  # gunicorn's own check of the value
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key}={value!r} in {path}: {exc}") from None
    return values


class RoleServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application that loads ``wsgi.<role>:app`` in each worker, after fork."""

    def __init__(self, role: str, settings: Mapping[str, Any]) -> None:
        self.role = role
        self.settings = dict(settings)
        super().__init__()

    def load_config(self) -> None:
        # Every key: one this gunicorn does not know fails here, not silently.
        for key, value in self.settings.items():
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
    wanted, needed = open_files_wanted(config["WORKER_CONNECTIONS"])
    if (limit := raise_open_file_limit(wanted)) < needed:
        log.warning(
            "the open file limit (%d, at most the hard one) is below the %d that "
            "WORKER_CONNECTIONS=%d needs: a worker accepts no connection beyond it",
            limit,
            needed,
            config["WORKER_CONNECTIONS"],
        )
    # Before gunicorn forks: every worker of this run counts into the same fresh files.
    prepare_process_dir(Path(config["DATA_DIR"]))
    RoleServer(role, gunicorn_settings(role, config)).run()
