from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localcluster.launcher import Cluster

pytestmark = pytest.mark.e2e


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One master and two nodes shared by the tests that do not stop any of them.

    No periodic snapshot of the user trees: a snapshot is a blob, and tests here count the
    blobs on the nodes' disks before and after what they do."""
    quiet = {"MDBX_SNAPSHOT_INTERVAL": "0"}
    shared = Cluster(tmp_path_factory.mktemp("cluster"), env=quiet).start(nodes=2)
    yield shared
    shared.kill()


@pytest.fixture(scope="module")
def module_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    """A private cluster for one module's tests that do not break it (they count or list
    what the whole cluster holds); its logs are printed when one of them failed."""
    private = Cluster(tmp_path_factory.mktemp("module-cluster")).start(nodes=2)
    private.wait_nodes_up()
    failed_before = request.session.testsfailed
    yield private
    if request.session.testsfailed > failed_before:
        print(private.logs())
    private.kill()


@pytest.fixture
def spawn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Cluster]]:
    """Build a private cluster (started or not) that the test may break; logs on failure."""
    made: list[Cluster] = []

    def _spawn(nodes: int = 2, start: bool = True, env: dict[str, str] | None = None) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(made)}", env=env)
        made.append(cluster)
        return cluster.start(nodes) if start else cluster

    yield _spawn
    for cluster in made:
        if _failed(request):
            print(cluster.logs())
        cluster.kill()
