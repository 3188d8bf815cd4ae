"""schemathesis against a live cluster (a gunicorn master and two nodes), from the
documents each role serves at /openapi.json: every operation gets a bounded number of
generated requests, authenticated as an administrator, and every answer must be no
server error and conform to the document (status documented, content type, body schema).

Left out of the run, with why:
- ``GET /nodes/{node_id}/stream`` is held open for as long as the node lives, by design;
- ``POST /nodes/heartbeat`` with generated URLs makes the master place writes on nodes
  that do not exist, and every later write of the run would meet them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from localcluster.launcher import Cluster
from tests.support.fake_seedream import FakeSeedream

pytestmark = pytest.mark.e2e

# tus sends a PATCH's bytes as this type: schemathesis knows none such.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated requests per operation and mode (valid, invalid): ~95 operations in all stay
# within about two minutes.
EXAMPLES = 6
REQUEST_TIMEOUT = 20
ADMIN = ("fuzz-root", "fuzz-root-password")
LEFT_OUT = ("nodeStream", "heartbeat")
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure is reproducible
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, request) -> Iterator[dict[str, Any]]:
    """The cluster, an administrator's token, and each role's document loaded by URL."""
    with FakeSeedream(api_key="fuzz-key") as seedream:
        env = {
            "SEEDREAM_API_KEY": "fuzz-key",
            "ARK_API_KEY": "",
            "SEEDREAM_BASE_URL": seedream.base_url,
            "MDBX_SEEDREAM_TIMEOUT": "5",
            "MDBX_SEEDREAM_RETRIES": "0",
            # Generated logins and link passwords would soon reach the real limits.
            "MDBX_LOGIN_RATE_LIMIT": "100000 per minute",
        }
        cluster = Cluster(tmp_path_factory.mktemp("fuzz"), env=env).start(nodes=2)
        failed_before = request.session.testsfailed
        try:
            master = cluster.master.url
            name, password = ADMIN
            added = requests.post(
                f"{master}/api/admin/users",
                json={"username": name, "password": password, "admin": True},
                timeout=10,
            )
            assert added.status_code == 200, added.text
            yield {
                "cluster": cluster,
                "token": login(master),
                "master": schemathesis.openapi.from_url(f"{master}/openapi.json").exclude(
                    operation_id=list(LEFT_OUT)
                ),
                "node": schemathesis.openapi.from_url(f"{cluster.nodes[0].url}/openapi.json"),
            }
        finally:
            if request.session.testsfailed > failed_before:
                print(cluster.logs())
            cluster.stop()


def login(master: str) -> str:
    name, password = ADMIN
    reply = requests.post(
        f"{master}/api/login", json={"username": name, "password": password}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["token"]
    return token


@dataclass
class Tally:
    """What one role's run did: per operation, the examples sent; and what failed."""

    examples: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz_operation(operation: Any, fuzzed: dict[str, Any], tally: Tally) -> None:
    """Send EXAMPLES valid and EXAMPLES invalid requests of ``operation``; record failures."""
    label = operation.label
    tally.examples[label] = 0
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            tally.examples[label] += 1
            call(case, fuzzed)

        try:
            run()
        except Unsatisfiable:
            # Nothing of the operation can be invalid (no parameters, or free strings only).
            assert mode is GenerationMode.NEGATIVE, label
        except Exception as exc:  # every failure of every operation goes in the summary
            tally.failures.append(f"{label} ({mode.value}): {type(exc).__name__}: {exc}")


def call(case: Any, fuzzed: dict[str, Any]) -> None:
    token = fuzzed["token"]
    if case.operation.definition.raw.get("operationId") == "logout":
        token = login(fuzzed["cluster"].master.url)  # ending the run's own token ends the run
    started = time.monotonic()
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        timeout=REQUEST_TIMEOUT,
        allow_redirects=False,
    )
    assert time.monotonic() - started < REQUEST_TIMEOUT


@pytest.mark.parametrize("role", ["master", "node"])
def test_every_answer_conforms_to_the_roles_document(fuzzed, role):
    tally = Tally()
    started = time.monotonic()
    operations = [result.ok() for result in fuzzed[role].get_all_operations()]
    assert len(operations) > (60 if role == "master" else 8)
    for operation in operations:
        fuzz_operation(operation, fuzzed, tally)
    print(
        f"\nschemathesis, {role}: {len(operations)} operations, "
        f"{sum(tally.examples.values())} examples, {len(CHECKS)} checks each, "
        f"{len(tally.failures)} failures, {time.monotonic() - started:.1f} s"
    )
    assert tally.failures == [], "\n".join(tally.failures)
