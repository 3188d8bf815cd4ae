"""The cluster page in a real Chromium, on a cluster of its own (the shared one's nodes
must live): both nodes up, then one killed goes down on the page without a reload; the
"Run repair" button runs a pass."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from localcluster.launcher import Cluster
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, SCREENSHOTS
from tests.browser.pages import Browser, add_user

ADMIN = ("clusteradmin", "pw-cluster-admin-1")
NODE_TIMEOUT = 2.0
FAST = {
    "MDBX_SYNC_INTERVAL": "0.3",
    "MDBX_NODE_TIMEOUT": str(NODE_TIMEOUT),
    "MDBX_REPAIR_INTERVAL": "600",  # only the first pass and ours: the page shows ours
    "MDBX_GRACEFUL_TIMEOUT": "1",
}


@pytest.fixture
def own_cluster(tmp_path) -> Iterator[Cluster]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    cluster = Cluster(tmp_path, env=FAST).start(nodes=2)
    try:
        add_user(cluster.master.url, *ADMIN, admin=True)
        yield cluster
    finally:
        cluster.kill()


def open_browser(cluster: Cluster, name: str, width: int = 1280) -> Browser:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return Browser.launch(
        CHROMIUM,
        CHROMEDRIVER,
        base_url=cluster.master.url,
        screenshots=SCREENSHOTS,
        test_name=name,
        width=width,
    )


def node_states(browser: Browser) -> dict[str, str]:
    """Node id -> the state shown, read in one script call (the rows are redrawn)."""
    states: dict[str, str] = browser.driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('table.nodes tr[data-node]')]"
        ".map((row) => [row.dataset.node, row.querySelector('.node-state').innerText.trim()]))"
    )
    return states


def test_nodes_up_then_one_goes_down_without_a_reload(own_cluster):
    ports = sorted(str(node.port) for node in own_cluster.nodes)
    browser = open_browser(own_cluster, "test_cluster_page")
    try:
        browser.log_in(*ADMIN, path="/admin")
        assert browser.driver.current_url.endswith("/admin")
        browser.wait(lambda _: node_states(browser) == dict.fromkeys(ports, "up"))
        # Each node beat with its disk figures and its first scrub pass (run at start).
        assert browser.text_now(f"tr[data-node='{ports[0]}'] .node-capacity") != "—"
        browser.wait(
            lambda _: (
                "checked" in (browser.text_now(f"tr[data-node='{ports[0]}'] .node-scrub") or "")
            )
        )
        assert browser.text_now("[data-stat='Nodes up'] .stat-value") == "2"
        assert browser.text_now("[data-stat='Lost'] .stat-value") == "0"
        browser.screenshot("cluster")
        browser.driver.set_window_size(375, 900)
        width = browser.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 376  # the node table scrolls in its own box, not the page
        browser.screenshot("cluster-375")
        browser.driver.set_window_size(1280, 900)

        browser.press("Run repair")
        browser.wait(lambda _: "manual" in (browser.text_now(".repair-last-pass") or ""))
        assert "Repair pass:" in browser.text(".toast")

        marker = browser.driver.execute_script("return window.performance.timeOrigin")
        own_cluster.nodes[1].kill()
        victim = str(own_cluster.nodes[1].port)
        browser.wait(lambda _: node_states(browser).get(victim) == "down", timeout=20)
        assert node_states(browser)[ports[0] if ports[0] != victim else ports[1]] == "up"
        # The same document all along: no reload.
        assert browser.driver.execute_script("return window.performance.timeOrigin") == marker
        browser.wait(lambda _: browser.text_now("[data-stat='Nodes down'] .stat-value") == "1")
        browser.screenshot("cluster-node-down")
        assert browser.console_errors() == []
    finally:
        browser.close()
