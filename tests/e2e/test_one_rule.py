"""One rule on both front ends through real gunicorn workers (#17): the fast loop and
the Flask views, on the master and on a node, answer alike."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from localcluster.launcher import Cluster
from tests.support.api import upload

TIMEOUT = 30


@pytest.mark.parametrize("count", ["-5", "0", "101", "x", "99999999999999999999"])
def test_assign_refuses_a_bad_count_on_the_fast_path_and_in_flask(cluster: Cluster, count):
    url = f"{cluster.master.url}/assign?count={count}"
    fast = requests.post(url, timeout=TIMEOUT)  # no body: the fast loop answers
    # A body sends it to gunicorn and Flask (the fast loop takes /assign only bare).
    slow = requests.post(url, data=b"{}", timeout=TIMEOUT)
    assert fast.headers.get("Server") is None and slow.headers["Server"] == "gunicorn"
    assert fast.status_code == slow.status_code == 400
    assert fast.json() == slow.json()
    assert fast.json()["error"]["code"] == "invalid_field"
    assert requests.post(f"{cluster.master.url}/assign?count=1", timeout=TIMEOUT).ok


def test_ranges_hashes_and_expected_hashes_follow_one_rule(cluster: Cluster):
    master, node = cluster.master, cluster.nodes[0]
    payload = os.urandom(5000)
    digest = upload(master.url, payload, "rule.bin")["hash"]
    for spec, status in (("bytes=10-19", 206), ("bytes=5000-", 416), ("bytes=x", 200)):
        via_master = requests.get(
            f"{master.url}/download",
            params={"hash": digest, "proxy": "1"},
            headers={"Range": spec},
            timeout=TIMEOUT,
        )
        from_node = requests.get(
            f"{node.url}/retrieve",
            params={"hash": digest},
            headers={"Range": spec},
            timeout=TIMEOUT,
        )
        assert via_master.status_code == from_node.status_code == status, spec
        if status == 416:
            codes = {r.json()["error"]["code"] for r in (via_master, from_node)}
            assert codes == {"range_not_satisfiable"}
        else:
            assert via_master.content == from_node.content
    upper = digest.upper()
    assert requests.get(f"{node.url}/retrieve?hash={upper}", timeout=TIMEOUT).content == payload
    found = requests.get(f"{master.url}/get?hash={upper}", timeout=TIMEOUT)
    assert found.status_code == 200 and found.json()["hash"] == digest
    assert requests.get(f"{master.url}/download?hash={upper}", timeout=TIMEOUT).content == payload

    other = os.urandom(3000)
    wrong = hashlib.sha256(b"not these bytes").hexdigest()
    for url in (master.url, node.url):
        refused = requests.post(
            f"{url}/upload",
            files={"file": ("wrong.bin", other)},
            data={"hash": wrong},
            timeout=TIMEOUT,
        )
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "hash_mismatch"
    unknown = hashlib.sha256(other).hexdigest()
    assert requests.get(f"{master.url}/get?hash={unknown}", timeout=TIMEOUT).status_code == 404
