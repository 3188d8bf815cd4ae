"""``upload_blocks`` against a stand-in master (a real loopback server): nodes the client
cannot reach leave nothing stored, and the put goes through the master (tus) instead;
a master without ``/api/uploads`` is told apart the same way (#21)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from app.client.account_client import AccountClient
from app.client.api import Client
from app.client.direct_put import upload_blocks
from tests.support.stub_http import QuietHandler, stub_server

BLOCK = 1024


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def master_handler(data: bytes, node_url: str, calls: list[str], *, has_call: bool = True):
    blocks = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]

    class Master(QuietHandler):
        def do_POST(self) -> None:
            calls.append(f"POST {self.path}")
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not has_call:
                self.send_json({"error": {"code": "not_found", "message": "no"}}, 404)
                return
            missing = [
                {
                    "hash": hashlib.sha256(b).hexdigest(),
                    "size": len(b),
                    "indexes": [i],
                    "url": f"{node_url}/upload",
                    "method": "PUT",
                }
                for i, b in enumerate(blocks)
            ]
            self.send_json(
                {
                    "upload_id": "u1",
                    "hash": hashlib.sha256(data).hexdigest(),
                    "block_size": BLOCK,
                    "missing": missing,
                }
            )

        def do_DELETE(self) -> None:
            calls.append(f"DELETE {self.path}")
            self.send_json({"aborted": "u1"})

    return Master


def test_nodes_out_of_reach_leave_the_put_to_the_master(tmp_path, dead_url):
    data = os.urandom(3 * BLOCK + 5)
    local = tmp_path / "f.bin"
    local.write_bytes(data)
    calls: list[str] = []
    with stub_server(master_handler(data, dead_url, calls)) as url:
        account = AccountClient(Client(url, "token"))
        assert upload_blocks(account, local, "/f.bin", BLOCK) is None
    # Begun, nothing stored, and abandoned at once (not left to expire).
    assert calls == ["POST /api/uploads", "DELETE /api/uploads/u1"]
    assert not any(json.loads((tmp_path / "config" / "mdbx" / "uploads.json").read_text()))


def test_a_master_without_the_call_is_answered_none_before_any_byte(tmp_path, dead_url):
    local = tmp_path / "f.bin"
    local.write_bytes(os.urandom(2 * BLOCK))
    calls: list[str] = []
    with stub_server(master_handler(b"", dead_url, calls, has_call=False)) as url:
        account = AccountClient(Client(url, "token"))
        assert upload_blocks(account, local, "/f.bin", BLOCK) is None
    assert calls == ["POST /api/uploads"]
