"""A large new file of the user's tree sent straight to the nodes (no Flask; issue #21).

The file is hashed here, block by block and whole; ``POST /api/uploads`` answers, for
each block, the node to PUT it to, which checks it, forwards it down a chain to R copies
and answers a receipt; ``POST /api/uploads/<id>/commit`` with the receipts puts the file
at its path (``app.userfiles.direct`` on the master). Blocks travel ``PARALLEL`` at a
time and the master carries none of them.

A put cut off goes on where it stopped: the upload and the receipts of the blocks sent
are kept with the uploads begun (``app.client.pending_uploads``), and the same command
sends only the blocks it has no receipt for. A master without the call answers 404, and
nodes may be out of the client's reach: ``upload_blocks`` then answers None, having
stored nothing, and the caller uses tus.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import requests

from app.client.account_client import AccountClient
from app.client.errors import ClientError
from app.client.pending_uploads import find_pending, forget_pending, remember_pending, upload_key
from app.client.transfer import PARALLEL, BlockPlan, Progress, hash_blocks, send_blocks

# Rounds of sending what the commit still lacks (a node died after taking a block).
ROUNDS = 3
# Marks this kind of record among the uploads begun (tus records hold a location).
RECORD_PREFIX = "blocks "


class PendingBlocks:
    """An upload begun here and the receipts of its blocks sent, kept on disk as they
    come (from the sending threads) so that a killed put resumes."""

    def __init__(self, key: str, upload_id: str, receipts: dict[str, str]) -> None:
        self.key = key
        self.upload_id = upload_id
        self.receipts = receipts
        self._lock = threading.Lock()

    @classmethod
    def find(cls, key: str) -> PendingBlocks | None:
        raw = find_pending(key)
        try:
            record = json.loads(raw or "null")
            upload_id, receipts = record["upload"], record["receipts"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(upload_id, str) or not isinstance(receipts, dict):
            return None
        return cls(key, upload_id, {str(k): str(v) for k, v in receipts.items()})

    def note(self, block: dict[str, Any], reply: dict[str, Any]) -> None:
        receipt = reply.get("receipt")
        if isinstance(receipt, str):
            with self._lock:
                self.receipts[block["hash"]] = receipt
                self.save()

    def save(self) -> None:
        remember_pending(
            self.key, json.dumps({"upload": self.upload_id, "receipts": self.receipts})
        )


def upload_blocks(
    account: AccountClient,
    local: Path,
    remote: str,
    block_size: int,
    progress: Progress | None = None,
    *,
    parallel: int = PARALLEL,
) -> dict[str, Any] | None:
    """Store ``local`` at ``remote``, its blocks sent to the nodes; answer ``{"path",
    "size","hash","version","sent_bytes"}`` (with ``resumed_from``, the bytes sent
    before, when it went on from an earlier put), or None when the master lacks the
    call or no node takes a block from here (nothing stored: the caller sends the file
    through the master). ClientError 400 hash_mismatch when the file changed meanwhile.
    """
    key = RECORD_PREFIX + upload_key(account.client.master_url, remote, local)
    plan = hash_blocks(local, block_size)
    pending, state = _resume(account, key)
    resumed = pending is not None
    if pending is None or state is None:
        try:
            state = account.call("POST", "/api/uploads", json=_announced(remote, plan))
        except ClientError as exc:
            if exc.status in (404, 405):
                return None
            raise
        pending = PendingBlocks(key, state["upload_id"], {})
        pending.save()
    if state["block_size"] != block_size or state["hash"] != plan.hash:
        raise ClientError(f"{local} changed since its upload began; run the command again")
    already = _bytes_to_send(state, pending.receipts)
    sent = 0
    with requests.Session() as nodes:  # the user's token is for the master only
        for _round in range(ROUNDS):
            missing = [m for m in state["missing"] if m["hash"] not in pending.receipts]
            if progress is not None:
                progress.reset(plan.size)
                progress.update(plan.size - sum(m["size"] * len(m["indexes"]) for m in missing))
            sizes = send_blocks(nodes, local, missing, block_size, parallel, progress, pending.note)
            if missing and not sizes and not sent and not pending.receipts:
                # No node takes anything from here (only the master is reachable, say):
                # the upload goes through the master after all.
                _abandon(account, pending)
                return None
            sent += sum(sizes)
            try:
                answer = account.call(
                    "POST",
                    f"/api/uploads/{pending.upload_id}/commit",
                    json={"receipts": pending.receipts},
                )
            except ClientError as exc:
                if exc.code != "blocks_missing":
                    if exc.status is not None and exc.status < 500:
                        forget_pending(key)  # refused (the quota, a mismatch): begin anew
                    raise
                # What has no live copy any more is sent again, wherever it goes now.
                lacking = set(exc.details.get("missing", []))
                state = account.call("GET", f"/api/uploads/{pending.upload_id}")
                for block in state["missing"]:
                    if lacking.intersection(block["indexes"]):
                        pending.receipts.pop(block["hash"], None)
                continue
            forget_pending(key)
            result = {**answer, "sent_bytes": sent}
            if resumed:
                result["resumed_from"] = plan.size - already
            return result
    raise ClientError(f"{local}: blocks kept failing to reach the nodes; try again")


def _abandon(account: AccountClient, pending: PendingBlocks) -> None:
    forget_pending(pending.key)
    with contextlib.suppress(ClientError):  # it expires anyway
        account.call("DELETE", f"/api/uploads/{pending.upload_id}")


def _announced(remote: str, plan: BlockPlan) -> dict[str, Any]:
    return {"path": remote, "size": plan.size, "hash": plan.hash, "blocks": plan.blocks}


def _resume(account: AccountClient, key: str) -> tuple[PendingBlocks | None, dict[str, Any] | None]:
    """The upload this file's put began earlier and its state, if still open."""
    pending = PendingBlocks.find(key)
    if pending is None:
        return None, None
    try:
        return pending, account.call("GET", f"/api/uploads/{pending.upload_id}")
    except ClientError as exc:
        if exc.status is None or exc.status >= 500 or exc.status == 401:
            raise
        forget_pending(key)  # it ended or expired: begin anew
        return None, None


def _bytes_to_send(state: dict[str, Any], receipts: dict[str, str]) -> int:
    return sum(m["size"] * len(m["indexes"]) for m in state["missing"] if m["hash"] not in receipts)
