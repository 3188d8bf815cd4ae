from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localcluster.launcher import Cluster
from tests.support.apps import TEST_PASSWORD_HASH

pytestmark = pytest.mark.e2e

# What every cluster of these fixtures runs with, under what a test asks for.
CLUSTER_ENV = {"MDBX_PASSWORD_HASH": TEST_PASSWORD_HASH}


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
    quiet = {**CLUSTER_ENV, "MDBX_SNAPSHOT_INTERVAL": "0"}
    shared = Cluster(tmp_path_factory.mktemp("cluster"), env=quiet).start(nodes=2)
    yield shared
    shared.kill()


@pytest.fixture(scope="module")
def module_spawn(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Cluster]]:
    """Build started clusters shared by one module's tests, which do not break them: each
    start costs seconds. Their logs are printed when one of those tests failed."""
    made: list[Cluster] = []
    failed_before = request.session.testsfailed

    def _spawn(nodes: int = 2, env: dict[str, str] | None = None) -> Cluster:
        cluster = Cluster(
            tmp_path_factory.mktemp("module-cluster"), env={**CLUSTER_ENV, **(env or {})}
        )
        made.append(cluster)
        return cluster.start(nodes)

    yield _spawn
    for cluster in made:
        if request.session.testsfailed > failed_before:
            print(cluster.logs())
        cluster.kill()


@pytest.fixture(scope="module")
def module_cluster(module_spawn: Callable[..., Cluster]) -> Cluster:
    """A private cluster for one module's tests that do not break it (they count or list
    what the whole cluster holds)."""
    # Each test logs a user in from 127.0.0.1: more than the limit's 10 a minute once
    # they run fast. The limit itself is tested elsewhere (tests/api/test_user_api.py).
    return module_spawn(nodes=2, env={"MDBX_LOGIN_RATE_LIMIT": "10000 per minute"})


@pytest.fixture
def spawn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Cluster]]:
    """Build a private cluster (started or not) that the test may break; logs on failure."""
    made: list[Cluster] = []

    def _spawn(nodes: int = 2, start: bool = True, env: dict[str, str] | None = None) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(made)}", env={**CLUSTER_ENV, **(env or {})})
        made.append(cluster)
        return cluster.start(nodes) if start else cluster

    yield _spawn
    for cluster in made:
        if _failed(request):
            print(cluster.logs())
        cluster.kill()
