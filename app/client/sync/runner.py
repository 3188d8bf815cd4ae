"""One sync of a local folder with a folder of the account: read both trees and the
state, plan, check the share of deletes, carry the plan out.

The folder remembers what it is synced with (``.mdbx/sync.db``): its remote folder and
the folders excluded from it, so that ``mdbx sync DIR`` alone goes on as before.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.client.account_client import AccountClient
from app.client.errors import ClientError
from app.client.sync.engine import Report, SyncEngine
from app.client.sync.local import SyncRules, scan_folder
from app.client.sync.planner import Action, Plan, plan_sync
from app.client.sync.remote import RemoteFolder
from app.client.sync.state import SyncState


class TooManyDeletes(ClientError):
    """The plan deletes more than ``--max-delete`` percent of the files (without --force)."""


class FolderMismatch(ClientError):
    """The local folder is synced with another remote folder already."""


@dataclass
class SyncOptions:
    """What ``mdbx sync`` was asked."""

    root: Path
    remote_dir: str | None = None
    max_delete: float = 50.0
    force: bool = False
    dry_run: bool = False
    exclude: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    parallel: int = 4
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or "host")


@dataclass
class Outcome:
    """One run: the plan it made and what came of it."""

    plan: Plan
    report: Report
    seconds: float
    hashed: int

    def as_json(self) -> dict[str, Any]:
        return {
            "planned": self.plan.counts(),
            **self.report.as_json(),
            "deleted_files": self.plan.deleted_files,
            "hashed": self.hashed,
            "seconds": round(self.seconds, 3),
        }


class Syncer:
    """The sync of one folder; ``run`` once, or again and again for ``--watch``."""

    def __init__(self, account: AccountClient, options: SyncOptions) -> None:
        self.options = options
        self.root = options.root.resolve()
        self.state = SyncState(self.root)
        remote_dir = self._remote_dir(options.remote_dir)
        self.remote = RemoteFolder(account, remote_dir)
        excluded = set(self.state.excluded()) | {f.strip("/") for f in options.exclude}
        excluded -= {f.strip("/") for f in options.include}
        self.state.set_excluded(sorted(excluded))
        self._remote_ready = False

    def close(self) -> None:
        self.state.close()

    def _remote_dir(self, asked: str | None) -> str:
        known = self.state.setting("remote_dir")
        wanted = "/" + (asked or known or "/").strip("/")
        if known is not None and known != wanted:
            raise FolderMismatch(
                f"{self.root} is synced with {known}, not {wanted} "
                f"(remove {self.root}/.mdbx to start afresh)",
                code="folder_mismatch",
            )
        if known is None:
            self.state.set_setting("remote_dir", wanted)
        return wanted

    @property
    def rules(self) -> SyncRules:
        # Read each run: the user may edit .mdbxignore while --watch runs.
        return SyncRules.of_folder(self.root, self.state.excluded())

    def plan(self) -> tuple[Plan, dict[str, Any]]:
        """Scan both sides and decide; answer the plan and what the scan found."""
        if not self._remote_ready and not self.options.dry_run:
            self.remote.ensure()
            self._remote_ready = True
        rules = self.rules
        remote_tree = rules.filter(self.remote.current_tree(self.state))
        scan = scan_folder(self.root, rules, self.state.hash_cache())
        base = rules.filter(self.state.base())
        plan = plan_sync(scan.tree, remote_tree, base, host=self.options.host, now=datetime.now())
        return plan, {"stats": scan.stats, "hashed": scan.hashed}

    def run(
        self,
        on_done: Callable[[Action], object] | None = None,
        on_plan: Callable[[Plan], object] | None = None,
    ) -> Outcome:
        """One sync; raise ``TooManyDeletes`` rather than delete too much."""
        started = time.monotonic()
        plan, scanned = self.plan()
        share = plan.deleted_share()
        if share > self.options.max_delete and not self.options.force:
            raise TooManyDeletes(
                f"this sync would delete {plan.deleted_files} of {plan.base_files} files "
                f"({share:.0f} %, more than --max-delete {self.options.max_delete:g} %): "
                "nothing was done; run again with --force if that is what you want",
                code="too_many_deletes",
            )
        if on_plan is not None:
            on_plan(plan)
        report = Report()
        if not self.options.dry_run:
            engine = SyncEngine(
                self.root,
                self.remote,
                self.state,
                scanned["stats"],
                parallel=self.options.parallel,
                on_done=on_done,
            )
            report = engine.run(plan.actions)
        return Outcome(plan, report, time.monotonic() - started, scanned["hashed"])
