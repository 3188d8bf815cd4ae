"""schemathesis against a live cluster (a gunicorn master and two nodes), from the
documents each role serves at /openapi.json: every operation gets a bounded number of
generated requests, authenticated as an administrator, and every answer must be no
server error and conform to the document (status documented, content type, body schema).

Twice: in open mode, and in secured mode (``MDBX_CLUSTER_SECRET`` set for every role).
What secured mode adds is a gate in front of the same views: the master's cluster
endpoints want the cluster header, which an administrator's client does not have, and a
node serves only the cluster and the master's signed URLs. So there the master is called
as the same administrator, and a node as a client without the header (its generated
``token`` and ``expires`` are forged signed URLs). The master's views behind the gate
were fuzzed in open mode: fewer examples per operation there (SECURED_EXAMPLES) keep the
second run short (its master's run took 18 s, open mode's 50 s, at a load of 2). The
stateful run calls a node with the cluster header, as the master does, for its links to
lead past the gate.

Left out of the run, with why:
- ``GET /nodes/{node_id}/stream`` is held open for as long as the node lives, by design;
- ``POST /nodes/heartbeat`` with generated URLs makes the master place writes on nodes
  that do not exist, and every later write of the run would meet them (it is fuzzed on
  a master app of its own: tests/api/test_openapi.py);
- ``POST /admin/restore`` replaces every user's tree (the run's own administrator with
  them), and ``POST /admin/recover`` rebuilds the catalogue, waiting up to a minute: both
  are the recovery tests' (tests/e2e/test_recovery.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import Phase, settings

from app.security import cluster_headers
from localcluster.launcher import Cluster
from tests.support.fake_seedream import FakeSeedream
from tests.support.fuzzing import CHECKS, EXAMPLES, FUZZ_SETTINGS, Tally, fuzz_operation

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT = 20
ADMIN = ("fuzz-root", "fuzz-root-password")
LEFT_OUT = ("nodeStream", "heartbeat", "restoreSnapshot", "recover")
SECRET = "fuzz-cluster-secret-0123456789abcdef"
# Examples per operation and generation mode in secured mode (EXAMPLES in open mode):
# the gate answers most of them before any view runs (module docstring).
SECURED_EXAMPLES = 2


@pytest.fixture(scope="module", params=["open", "secured"])
def fuzzed(tmp_path_factory: pytest.TempPathFactory, request) -> Iterator[dict[str, Any]]:
    """The cluster (in open or secured mode), an administrator's token, and each role's
    document loaded by URL."""
    secret = SECRET if request.param == "secured" else ""
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
        if secret:
            env["MDBX_CLUSTER_SECRET"] = secret
        cluster = Cluster(tmp_path_factory.mktemp("fuzz"), env=env).start(nodes=2)
        failed_before = request.session.testsfailed
        try:
            master = cluster.master.url
            name, password = ADMIN
            added = requests.post(
                f"{master}/api/admin/users",
                json={"username": name, "password": password, "admin": True},
                headers=cluster_headers(secret),  # the cluster's own call in secured mode
                timeout=10,
            )
            assert added.status_code == 200, added.text
            yield {
                "mode": request.param,
                "cluster": cluster,
                "cluster_headers": cluster_headers(secret),
                "token": login(master),
                "master": schemathesis.openapi.from_url(f"{master}/openapi.json").exclude(
                    operation_id=list(LEFT_OUT)
                ),
                "node": schemathesis.openapi.from_url(f"{cluster.nodes[0].url}/openapi.json"),
            }
        finally:
            if request.session.testsfailed > failed_before:
                print(cluster.logs())
            cluster.kill()


def login(master: str) -> str:
    name, password = ADMIN
    reply = requests.post(
        f"{master}/api/login", json={"username": name, "password": password}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["token"]
    return token


def call(case: Any, fuzzed: dict[str, Any]) -> int:
    """Send ``case`` as the administrator (to a node in secured mode: without the
    cluster header, as a client), check the answer; its status."""
    token = fuzzed["token"]
    if case.operation.definition.raw.get("operationId") == "logout":
        token = login(fuzzed["cluster"].master.url)  # ending the run's own token ends the run
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    response = case.call(headers=headers, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    assert time.monotonic() - started < REQUEST_TIMEOUT
    case.validate_response(response, checks=CHECKS, headers=headers)
    status: int = response.status_code
    return status


@pytest.mark.parametrize("role", ["master", "node"])
def test_every_answer_conforms_to_the_roles_document(fuzzed, role):
    tally = Tally()
    # A node's gate answers at once (a second for all its operations): no need to spare it.
    examples = SECURED_EXAMPLES if fuzzed["mode"] == "secured" and role == "master" else EXAMPLES
    started = time.monotonic()
    operations = [result.ok() for result in fuzzed[role].get_all_operations()]
    assert len(operations) > (80 if role == "master" else 8)
    for operation in operations:
        fuzz_operation(operation, lambda case: call(case, fuzzed), tally, examples)
    print(
        f"\nschemathesis, {fuzzed['mode']} mode, {role}: {len(operations)} operations, "
        f"{sum(tally.examples.values())} examples, {len(CHECKS)} checks each, "
        f"{len(tally.failures)} failures, {time.monotonic() - started:.1f} s"
    )
    for label, statuses in tally.statuses.items():
        print(f"  {label}: {dict(sorted(statuses.items()))}")
    assert tally.failures == [], "\n".join(tally.failures)


# The operations the links join (app/openapi/links.py): a file stored, read, deleted, and
# its trash entry purged. schemathesis starts its scenarios from a POST, or a GET without
# path parameters, when the run has one: none is here, so that they start with the PUTs.
STATEFUL = {
    "master": [
        "putUserFile",
        "getUserFile",
        "deleteUserFile",
        "purgeTrashEntry",
        "uploadRawNamed",
        "fileBlocks",
        "deleteFile",
    ],
    "node": ["uploadRaw", "retrieve", "deleteBlob"],
}
STATEFUL_SETTINGS = settings(
    FUZZ_SETTINGS, max_examples=10, stateful_step_count=8, phases=[Phase.generate]
)


@pytest.mark.parametrize("role", ["master", "node"])
def test_linked_calls_conform_upload_then_read_then_delete(fuzzed, role):
    """schemathesis's state machine from the documents' links: what one answer names (a
    stored file's path or hash, a share's token, a trash id) is called next."""
    schema = fuzzed[role].include(operation_id=STATEFUL[role])
    seen: Counter[tuple[str, int]] = Counter()
    headers = {"Authorization": f"Bearer {fuzzed['token']}"}
    if role == "node":
        headers.update(fuzzed["cluster_headers"])  # the master's calls (module docstring)

    class Linked(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": headers, "timeout": REQUEST_TIMEOUT, "allow_redirects": False}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            seen[(case.operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

    started = time.monotonic()
    Linked.run(settings=STATEFUL_SETTINGS)
    print(
        f"\nschemathesis stateful, {fuzzed['mode']} mode, {role}: {sum(seen.values())} calls in "
        f"{time.monotonic() - started:.1f} s: {dict(sorted(seen.items()))}"
    )
    # The links were followed: a stored file was read back by what its answer named.
    read_back = {"master": "GET /api/files/{path}", "node": "GET /retrieve"}[role]
    assert seen[(read_back, 200)] > 0
