"""The built wheel, installed into a fresh venv and started from another folder, serves a
node as the source tree does: the same worker (gevent, fast path), no control socket.

Select with ``pytest -m packaging``; the install is offline (see tests/support/wheels.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from app.server.application import REQUIRED_SETTINGS
from localcluster.launcher import Role
from tests.support.wheels import (
    build_wheel,
    install_into_fresh_venv,
    repack_installed,
    wheel_requirements,
)

pytestmark = [pytest.mark.e2e, pytest.mark.packaging]

TIMEOUT = 30
BODY = b"the same bytes from either install\n"


@pytest.fixture(scope="module")
def installed_mdbx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``mdbx`` of a fresh venv holding the project only as its built wheel."""
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work)
    repack_installed(wheel_requirements(wheel), work / "wheelhouse")
    return install_into_fresh_venv(work / "venv", wheel, work / "wheelhouse")


UNIQUE = {"date", "x-request-id"}


def answer(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers but Date (which names the second) and X-Request-Id (new on every
    request), and body of one GET."""
    reply = requests.get(url, timeout=TIMEOUT)
    headers = {k: v for k, v in reply.headers.items() if k.lower() not in UNIQUE}
    return reply.status_code, headers, reply.content


def answers(node: Role) -> tuple[tuple[int, dict[str, str], bytes], ...]:
    """Store BODY on ``node``; return its GET /retrieve answers for it and a missing blob."""
    stored = requests.post(
        f"{node.url}/upload", files={"file": ("same.txt", BODY)}, timeout=TIMEOUT
    )
    assert stored.status_code == 200, stored.text
    blobs = (stored.json()["hash"], "0" * 64)  # the stored one, and one no node has
    return tuple(answer(f"{node.url}/retrieve?hash={blob}") for blob in blobs)


def test_the_installed_wheel_serves_a_node_as_the_source_tree_does(
    installed_mdbx: Path, tmp_path: Path, dead_url: str, monkeypatch: pytest.MonkeyPatch
):
    # gunicorn puts its control socket under $XDG_RUNTIME_DIR or ~/.gunicorn: a home of
    # the test's own shows whether either role opened one.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    elsewhere, logs = tmp_path / "elsewhere", tmp_path / "logs"
    elsewhere.mkdir()
    logs.mkdir()
    args = ["--master", dead_url]  # no master: the node serves what it stores all the same
    source = Role("node", tmp_path / "source-node", logs, args=args)
    wheel = Role(
        "node", tmp_path / "wheel-node", logs, args=args, mdbx=str(installed_mdbx), cwd=elsewhere
    )
    try:
        for node in (source.start(wait=False), wheel.start(wait=False)):
            node.wait_ready()
        (found, missing), (wheel_found, wheel_missing) = answers(source), answers(wheel)
    finally:
        # Killed, not stopped: a graceful stop is not under test and may take the whole
        # GRACEFUL_TIMEOUT; the lines checked below are written at start.
        for node in (source, wheel):
            node.kill()
    assert found[0] == 200 and found[2] == BODY
    assert missing[0] == 404
    # gunicorn's sync worker would add Server: gunicorn and Connection: close.
    assert wheel_found == found
    assert wheel_missing == missing
    for node in (source, wheel):
        log = node.log_path.read_text()
        assert f"Using worker: {REQUIRED_SETTINGS['worker_class']}" in log, node.log_tail()
        assert "Control socket" not in log, node.log_tail()
    assert not (home / ".gunicorn").exists()


def test_the_installed_wheel_holds_the_server_but_not_the_procfile_runner(
    installed_mdbx: Path, tmp_path: Path
):
    python = str(installed_mdbx.with_name("python"))
    probe = (
        "import importlib.util, app.config;"
        "print(app.config.__file__);"
        "print(app.config.conf_dir());"
        "print(importlib.util.find_spec('honcho') is None)"
    )
    where, conf, no_honcho = subprocess.run(
        # Not from the checkout, whose app/ the current folder would put first on the path.
        [python, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout.split()
    assert Path(where).is_relative_to(installed_mdbx.parent.parent)
    assert conf == "None"  # built-in defaults, not a site-packages/conf of anyone's
    assert no_honcho == "True"  # make run's process manager comes with the run extra
