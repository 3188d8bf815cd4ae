from __future__ import annotations

import compileall
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.config import ENV_ALIASES
from app.factory import create_app
from localcluster.launcher import free_port
from tests.support.apps import TEST_PASSWORD_HASH, make_client

# Read besides MDBX_*: a developer's real Seedream key must not configure (or bill) tests.
ALIASES = {name for names in ENV_ALIASES.values() for name in names}
# Tests marked ``soak`` (slow scenarios, the longer fuzzing) run only with MDBX_SOAK=1, which
# `make soak` sets: `make test` stays within its time budget. Read before any test runs
# (``_clean_environment`` then removes MDBX_* from the tests' own environment).
SOAK = os.environ.get("MDBX_SOAK") == "1"
# What every `mdbx` process the tests start imports: each worker of each cluster, each
# restart, each CLI call.
SERVED_PACKAGES = ("app", "wsgi")


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a shell without job control (`make test &`,
    # nohup) inherits SIGINT ignored, and so would every CLI the tests start: the Ctrl+C
    # tests then see it ignore the signal, as a well-behaved program must. A handler of
    # our own is reset to the default at exec, so the children take Ctrl+C again.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Where the environment sets PYTHONDONTWRITEBYTECODE (these machines' does), each of
    # those processes compiled every module of app/ from source again: about a fifth of
    # a worker's start. Compiled once here (git and the wheel's build ignore __pycache__),
    # they read the bytecode, which Python checks against each source's mtime.
    if sys.dont_write_bytecode:
        root = Path(__file__).resolve().parents[1]
        for package in SERVED_PACKAGES:
            compileall.compile_dir(root / package, quiet=1, workers=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="a soak scenario: MDBX_SOAK=1 (make soak) runs it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MDBX_* (or Seedream) variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MDBX_") or name in ALIASES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("MDBX_PASSWORD_HASH", TEST_PASSWORD_HASH)


@pytest.fixture
def dead_url() -> str:
    """A URL on which nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def master_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app("master", {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False})
    yield app
    app.extensions["mdbx.master"].index.close()


@pytest.fixture
def master_client(master_app: Flask) -> FlaskClient:
    return make_client(master_app)


@pytest.fixture
def make_node_app(tmp_path: Path, dead_url: str) -> Callable[..., Flask]:
    """Build a node app (data under tmp_path, an unreachable master) with ``overrides``."""

    def make(**overrides: Any) -> Flask:
        config = {
            "DATA_DIR": str(tmp_path / "node"),
            "MASTER": dead_url,
            "BACKGROUND_TASKS": False,
            "MIN_FREE_BYTES": 0,
        }
        return create_app("node", {**config, **overrides})

    return make


@pytest.fixture
def node_app(make_node_app: Callable[..., Flask]) -> Flask:
    return make_node_app()


@pytest.fixture
def node_client(node_app: Flask) -> FlaskClient:
    return make_client(node_app)
