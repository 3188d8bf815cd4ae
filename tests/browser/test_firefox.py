"""The web app in Firefox too: Debian's firefox-esr, driven over WebDriver BiDi by
puppeteer-core (tests/browser/firefox/, installed by `make browsers`; no geckodriver, no
browser download), through log in, upload, rename, trash and restore, download and a
password share link opened in a fresh context. This test makes the account and the
files, runs the script, and checks the server's state and the downloaded bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS
from tests.browser.files_steps import Account

FIREFOX = "/usr/bin/firefox-esr"
SCRIPT_DIR = Path(__file__).parent / "firefox"
LINK_PASSWORD = "open sesame"
NOTES = "Firefox notes <b>bold</b>\nline two\n"
# Firefox's first start makes its profile; the whole walk takes about 20 s here.
TIMEOUT = 120


@pytest.fixture
def node() -> str:
    if not Path(FIREFOX).exists():
        pytest.skip("Debian's firefox-esr is not installed (make browsers installs it)")
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed (make browsers installs Debian's nodejs)")
    assert (SCRIPT_DIR / "node_modules" / "puppeteer-core").is_dir(), (
        "puppeteer-core is missing: run `make browsers` (npm ci in tests/browser/firefox)"
    )
    return found


def run_smoke(node: str, config: dict[str, object]) -> tuple[str, str]:
    """Run smoke.mjs; on failure or time-out, fail with what it printed. It runs in a
    session of its own so that a time-out ends Firefox too, not only node."""
    with subprocess.Popen(
        [node, "smoke.mjs", json.dumps(config)],
        cwd=SCRIPT_DIR,
        env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as smoke:
        try:
            stdout, stderr = smoke.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(smoke.pid, signal.SIGKILL)
            stdout, stderr = smoke.communicate()
            pytest.fail(f"smoke.mjs took over {TIMEOUT} s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    assert smoke.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    return stdout, stderr


def test_firefox_smoke(node, web_cluster, tmp_path):
    account = Account(web_cluster.master.url, "firefox")
    binary = tmp_path / "photo data.bin"
    binary.write_bytes(os.urandom(300_000))
    notes = tmp_path / "notes <b>.txt"
    notes.write_text(NOTES)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("firefox-*.png"):  # each run's own, checked below
        old.unlink()
    config = {
        "baseUrl": web_cluster.master.url,
        "username": account.name,
        "password": account.password,
        "upload": [str(binary), str(notes)],
        "downloadDir": str(downloads),
        "screenshots": str(SCREENSHOTS.resolve()),
        "firefox": FIREFOX,
        "linkPassword": LINK_PASSWORD,
    }
    stdout, stderr = run_smoke(node, config)
    result = json.loads(stdout.strip().splitlines()[-1])

    # What the pages did, as the server and the disk see it.
    assert account.names("/") == ["photo data.bin", "read me.txt"]
    assert account.get("/photo data.bin") == binary.read_bytes()
    assert account.get("/read me.txt") == NOTES.encode()
    trash = account.http.get(f"{web_cluster.master.url}/api/trash", timeout=10).json()["trash"]
    assert trash == []
    assert Path(result["downloaded"]).read_bytes() == binary.read_bytes()
    shares = account.http.get(f"{web_cluster.master.url}/api/shares", timeout=10).json()["shares"]
    assert [(s["path"], s["password"]) for s in shares] == [("/read me.txt", True)]
    # The link the dialog showed gives the file's bytes to curl with the password.
    raw = requests.get(result["shareUrl"], params={"password": LINK_PASSWORD}, timeout=10)
    assert raw.status_code == 200 and raw.content == NOTES.encode()
    assert result["preview"].strip() == NOTES.strip()  # the text shown as text, not markup
    assert result["errors"] == []  # no page error, console error or CSP violation
    for page in (
        "login",
        "files",
        "rename",
        "trash",
        "share-dialog",
        "share-password",
        "share-file",
    ):
        assert (SCREENSHOTS / f"firefox-{page}.png").stat().st_size > 0, page
