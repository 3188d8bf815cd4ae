"""Carry out a plan: each action on the local folder or through ``/api/``, recorded in
the state only once it is done, so that a killed sync resumes where it was.

Downloads go to a temp file beside their target, are checked against the hash the plan
expects, and replace the target only if the local file is still as the scan saw it (an
edit made meanwhile is never overwritten: the next run sees a conflict). Uploads and
downloads run ``parallel`` at a time; everything is recorded from the calling thread.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.client.errors import ClientError, MasterUnreachable, NotLoggedIn
from app.client.sync import planner
from app.client.sync.local import local_path, make_room, move_to_trash, stat_of
from app.client.sync.planner import DIR, Action, Node
from app.client.sync.remote import RemoteFolder
from app.client.sync.state import LocalStat, SyncState
from app.client.sync.transfers import (
    BatchResult,
    ChangedMeanwhile,
    Moved,
    Transfers,
    split_transfers,
)


@dataclass
class Report:
    """What one run did, for the summary and ``--json``."""

    done: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, Any]] = field(default_factory=list)
    postponed: list[str] = field(default_factory=list)
    bytes_up: int = 0
    bytes_down: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "done": dict(self.done),
            "failed": self.failed,
            "postponed": self.postponed,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
        }


class SyncEngine:
    """Applies actions between the folder ``root`` and ``remote``, recording in ``state``."""

    def __init__(
        self,
        root: Path,
        remote: RemoteFolder,
        state: SyncState,
        stats: dict[str, LocalStat],
        *,
        parallel: int = 4,
        on_done: Callable[[Action], object] | None = None,
    ) -> None:
        self.root = root
        self.remote = remote
        self.account = remote.account
        self.state = state
        # The local files as the scan saw them, kept true through this run's renames.
        self.stats = dict(stats)
        self.parallel = parallel
        self.on_done = on_done
        self.report = Report()
        self.moves = Transfers(self.account, remote, root, self._check_unchanged)

    def run(self, actions: list[Action]) -> Report:
        """Do every action in order (transfers ``parallel`` at a time); a failed one is
        reported and the rest go on, except when the master is gone or the login is."""
        transfers = [a for a in actions if a.kind in planner.TRANSFERS]
        for action in actions:
            if action.kind not in planner.TRANSFERS:
                self._attempt(action, functools.partial(self._apply, action))
        self._transfer(transfers)
        return self.report

    def _attempt(self, action: Action, step: Callable[[], object]) -> None:
        try:
            step()
        except (MasterUnreachable, NotLoggedIn):
            raise
        except ChangedMeanwhile:
            self.report.postponed.append(action.path)
            return
        except (ClientError, OSError) as exc:
            self._failed(action, exc)
            return
        self.report.done[action.kind] += 1
        if self.on_done is not None:
            self.on_done(action)

    def _failed(self, action: Action, exc: Exception) -> None:
        code = getattr(exc, "code", None) or type(exc).__name__
        self.report.failed.append(
            {
                "action": action.kind,
                "path": action.path,
                "error": {"code": code, "message": str(exc)},
            }
        )

    # ----- one action, not a transfer -----

    def _apply(self, action: Action) -> None:
        kind, rel = action.kind, action.path
        if kind in (planner.MOVE_REMOTE, planner.RENAME_REMOTE):
            assert action.target is not None
            self.account.move(self.remote.path_of(rel), self.remote.path_of(action.target))
            self.state.move_remote(rel, action.target)
            if kind == planner.MOVE_REMOTE:
                self.state.move(rel, action.target)
        elif kind in (planner.MOVE_LOCAL, planner.RENAME_LOCAL):
            assert action.target is not None
            self._rename_local(rel, action.target)
            if kind == planner.MOVE_LOCAL:
                self.state.move(rel, action.target)
        elif kind == planner.DELETE_REMOTE:
            self.account.delete(self.remote.path_of(rel))
            self.state.set_remote(rel, None)
            self.state.forget(rel)
        elif kind == planner.DELETE_LOCAL:
            if action.node is not None and not action.node.is_dir:
                self._check_unchanged(rel)
            move_to_trash(self.root, rel)
            self._drop_stats(rel)
            self.state.forget(rel)
        elif kind == planner.MKDIR_REMOTE:
            self.account.mkdir(self.remote.path_of(rel))
            self.state.set_remote(rel, DIR)
            self.state.record(rel, DIR)
        elif kind == planner.MKDIR_LOCAL:
            local_path(self.root, rel).mkdir(parents=True, exist_ok=True)
            self.state.record(rel, DIR)
        elif kind == planner.RECORD:
            assert action.node is not None
            stat = None if action.node.is_dir else self._check_unchanged(rel)
            self.state.record(rel, action.node, stat)
        elif kind == planner.FORGET:
            self.state.forget(rel)

    def _rename_local(self, source: str, target: str) -> None:
        dest = local_path(self.root, target)
        if dest.exists():
            raise ClientError(f"{dest} exists: not renaming {source} onto it", code="exists")
        make_room(self.root, target)
        os.rename(local_path(self.root, source), dest)
        for path in [p for p in self.stats if p == source or p.startswith(source + "/")]:
            self.stats[target + path[len(source) :]] = self.stats.pop(path)

    def _drop_stats(self, rel: str) -> None:
        for path in [p for p in self.stats if p == rel or p.startswith(rel + "/")]:
            del self.stats[path]

    def _current_stat(self, rel: str) -> LocalStat | None:
        try:
            return stat_of(os.stat(local_path(self.root, rel), follow_symlinks=False))
        except FileNotFoundError:
            return None

    def _check_unchanged(self, rel: str) -> LocalStat | None:
        """The local file's stat, if it is still as the scan saw it (else postpone)."""
        current = self._current_stat(rel)
        if current != self.stats.get(rel):
            raise ChangedMeanwhile(f"{rel} changed during the sync")
        return current

    # ----- transfers -----

    def _transfer(self, actions: list[Action]) -> None:
        """Small uploads in batches (``POST /api/batch``) and small downloads in zips of
        one folder's files, the rest one by one, ``parallel`` requests at once. A batch
        is recorded in one transaction, once the master said it is durable."""
        if not actions:
            return
        uploads, downloads, single = split_transfers(actions)
        moves = self.moves
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            batches = [(g, pool.submit(moves.upload_batch, g)) for g in uploads]
            zips = [(g, pool.submit(moves.download_zip, g)) for g in downloads]
            futures = [
                (a, pool.submit(moves.upload if a.kind == planner.UPLOAD else moves.download, a))
                for a in single
            ]
            try:
                for group, batch in batches:
                    self._record_batch(group, batch)
                for group, fetched in zips:
                    self._record_zip(group, fetched)
                for action, future in futures:
                    self._attempt(action, functools.partial(self._record_future, action, future))
            except BaseException:
                for pending in [f for _g, f in batches] + [f for _g, f in zips]:
                    pending.cancel()
                for _action, future in futures:
                    future.cancel()
                raise

    def _record_future(self, action: Action, done: Future[Moved]) -> None:
        self._record(action, done.result())

    def _record_zip(self, group: list[Action], done: Future[list[Moved | Exception]]) -> None:
        try:
            results: list[Moved | Exception] = done.result()
        except (MasterUnreachable, NotLoggedIn):
            raise
        except ClientError:
            # A file gone meanwhile fails the whole zip: each on its own, then.
            results = [ClientError("refetch") for _ in group]
        for action, result in zip(group, results, strict=True):
            step = (
                functools.partial(self._record_now, action)
                if isinstance(result, Exception)
                else functools.partial(self._record, action, result)
            )
            self._attempt(action, step)

    def _record(self, action: Action, done: Moved) -> None:
        node, stat, size = done
        self.state.record(action.path, node, stat)
        if action.kind == planner.UPLOAD:
            self.state.set_remote(action.path, node)
            self.report.bytes_up += size
        else:
            self.report.bytes_down += size

    def _record_batch(self, group: list[Action], done: Future[list[BatchResult]]) -> None:
        try:
            results = done.result()
        except (MasterUnreachable, NotLoggedIn):
            raise
        except ClientError as exc:
            if exc.status not in (404, 405):
                for action in group:
                    self._failed(action, exc)
                return
            # A master without the batch call: each file on its own.
            self.moves.batches = False
            for action in group:
                self._attempt(action, functools.partial(self._record_now, action))
            return
        with self.state.batch():
            for action, result in zip(group, results, strict=True):
                self._attempt(action, functools.partial(self._record_result, action, result))

    def _record_now(self, action: Action) -> None:
        """Move one file on its own (after its batch or zip could not), and record it."""
        moves = self.moves
        self._record(
            action, (moves.upload if action.kind == planner.UPLOAD else moves.download)(action)
        )

    def _record_result(self, action: Action, result: BatchResult) -> None:
        answer, stat = result
        if "error" in answer:
            error = answer["error"]
            raise ClientError(f"{action.path}: {error['message']}", code=error["code"])
        node = Node(False, answer["hash"], answer["size"], answer["version"])
        self.state.record(action.path, node, stat)
        self.state.set_remote(action.path, node)
        self.report.bytes_up += stat.size
