"""gunicorn's settings for ``mdbx serve``: what the roles need is set in code, whatever
conf/ holds or lacks; conf/gunicorn.py changes tunables only."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.config
from app.config import ConfigError, conf_dir, load_config
from app.server.application import REQUIRED_SETTINGS, TUNABLE_SETTINGS, gunicorn_settings

REPOSITORY_CONF = Path(app.config.__file__).resolve().parent.parent / "conf"


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MDBX_CONF_DIR", str(tmp_path))
    return tmp_path


def settings(role: str = "node") -> dict[str, object]:
    return gunicorn_settings(role, load_config(role, environ={}))


def test_without_any_conf_file_the_roles_get_the_gevent_worker_and_no_control_socket(conf: Path):
    for role in ("master", "node"):
        resolved = settings(role)
        assert resolved["worker_class"] == "app.server.worker.FastGeventWorker"
        assert resolved["preload_app"] is False
        assert resolved["control_socket_disable"] is True
        assert resolved["access_log_format"] == TUNABLE_SETTINGS["access_log_format"]


def test_the_repository_conf_changes_nothing_the_built_in_settings_do_not_say(
    conf: Path, monkeypatch: pytest.MonkeyPatch
):
    """The source tree and an installed wheel (no conf/) serve with the same settings."""
    built_in = settings()
    monkeypatch.setenv("MDBX_CONF_DIR", str(REPOSITORY_CONF))
    assert settings() == built_in


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('worker_class = "sync"', "worker_class in"),
        ("preload_app = True", "preload_app in"),
        ("control_socket_disable = False", "control_socket_disable in"),
        ('bind = "0.0.0.0:80"', "set HOST and PORT in conf/node.toml"),
        ("workers = 8", "set WORKERS in conf/node.toml"),
        ('proxy_protocol = "v1"', "proxy_protocol in"),
        ('timeout = "soon"', "timeout='soon'"),
    ],
)
def test_conf_gunicorn_py_cannot_change_what_the_roles_need(conf: Path, line: str, fragment: str):
    (conf / "gunicorn.py").write_text(line + "\n")
    with pytest.raises(ConfigError, match="gunicorn.py") as raised:
        settings()
    assert fragment in str(raised.value)


def test_conf_gunicorn_py_changes_its_tunables(conf: Path):
    (conf / "gunicorn.py").write_text('access_log_format = "%(h)s %(s)s"\ntimeout = 90\n')
    resolved = settings()
    assert resolved["access_log_format"] == "%(h)s %(s)s" and resolved["timeout"] == 90
    assert resolved["worker_class"] == REQUIRED_SETTINGS["worker_class"]


def test_the_access_log_follows_the_roles_access_log_setting(conf: Path):
    assert settings("master")["accesslog"] == "-"
    assert settings("node")["accesslog"] is None  # off on nodes by default


def test_the_conf_folder_is_the_environments_or_the_source_trees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("MDBX_CONF_DIR", raising=False)
    # This checkout runs from its source tree, which has a pyproject.toml beside app/.
    assert conf_dir() == REPOSITORY_CONF
    monkeypatch.setenv("MDBX_CONF_DIR", str(tmp_path))
    assert conf_dir() == tmp_path
