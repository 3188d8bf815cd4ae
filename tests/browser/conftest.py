"""Browser tests: Debian's Chromium, driven by selenium through Debian's chromedriver
(nothing downloaded), against a real cluster (gunicorn master + 2 nodes and the fake
Seedream server). Every page a test looks at is saved as a screenshot under
``$MDBX_TEST_OUTPUT/screenshots`` (default ``test-output/screenshots``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from localcluster.launcher import Cluster
from tests.browser.pages import Browser
from tests.support.fake_seedream import FakeSeedream

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SEEDREAM_KEY = "browser-test-key"
SCREENSHOTS = Path(os.environ.get("MDBX_TEST_OUTPUT", "test-output")) / "screenshots"
# name -> password; "root" is an administrator.
USERS = {"alice": "pw-alice-1", "bob": "pw-bob-1", "root": "pw-root-1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def fake_seedream() -> Iterator[FakeSeedream]:
    with FakeSeedream(api_key=SEEDREAM_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def web_cluster(
    tmp_path_factory: pytest.TempPathFactory, fake_seedream: FakeSeedream
) -> Iterator[Cluster]:
    """One master and two nodes, Seedream faked, with the accounts of ``USERS``."""
    env = {
        "SEEDREAM_API_KEY": SEEDREAM_KEY,
        "ARK_API_KEY": "",
        "SEEDREAM_BASE_URL": fake_seedream.base_url,
        "SEEDREAM_MODEL": "",
        "MDBX_SEEDREAM_RETRIES": "1",
        # Every test logs in from 127.0.0.1, several times: the limit on password guesses
        # per address (10 a minute) is tested elsewhere (tests/api/test_user_api.py).
        "MDBX_LOGIN_RATE_LIMIT": "10000 per minute",
    }
    cluster = Cluster(tmp_path_factory.mktemp("web"), env=env).start(nodes=2)
    try:
        cluster.wait_nodes_up()
        for name, password in USERS.items():
            made = requests.post(
                f"{cluster.master.url}/api/admin/users",
                json={"username": name, "password": password, "admin": name == "root"},
                timeout=10,
            )
            assert made.status_code == 200, made.text
        yield cluster
    finally:
        cluster.kill()


@pytest.fixture
def make_browser(
    request: pytest.FixtureRequest, web_cluster: Cluster
) -> Iterator[Callable[..., Browser]]:
    """Open fresh browsers (each its own profile: no cookie shared); closed after the test,
    with a screenshot of where each ended when the test failed."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (make test installs them)"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened: list[Browser] = []

    def make(**options: Any) -> Browser:
        browser = Browser.launch(
            CHROMIUM,
            CHROMEDRIVER,
            base_url=web_cluster.master.url,
            screenshots=SCREENSHOTS,
            test_name=request.node.name,
            **options,  # download_dir, width, height
        )
        opened.append(browser)
        return browser

    yield make
    failed = getattr(request.node, "report_call", None)
    for index, browser in enumerate(opened):
        if failed is None or failed.failed:
            browser.screenshot(f"FAILED-{index}")
        browser.close()


@pytest.fixture
def browser(make_browser: Callable[..., Browser]) -> Browser:
    return make_browser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
