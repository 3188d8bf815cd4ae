"""``mdbx sync LOCAL_DIR [REMOTE_DIR]``: the two-way sync of a local folder with a folder
of your files (``app.client.sync``), once or, with ``--watch``, on every change."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.client.cli.command import CommandFailed, Settings, cluster_command
from app.client.cli.render import emit_json, human_size

if TYPE_CHECKING:
    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

    from app.client.sync.planner import Action, Plan
    from app.client.sync.runner import Outcome, Syncer

# What each action is called in the summary.
VERBS = {
    "upload": "uploaded",
    "download": "downloaded",
    "mkdir_remote": "folders made remotely",
    "mkdir_local": "folders made here",
    "move_remote": "moved remotely",
    "move_local": "moved here",
    "rename_local": "conflicted copies",
    "rename_remote": "remote files set aside",
    "delete_remote": "deleted remotely (to the trash)",
    "delete_local": "deleted here (to .mdbx-trash)",
}


class DeletesRefused(click.ClickException):
    """The sync would delete more than --max-delete allows (exit 4: nothing was done)."""

    exit_code = 4


@cluster_command("sync")
@click.argument("local_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("remote_dir", required=False)
@click.option("--watch", is_flag=True, help="Keep running: sync again on every change.")
@click.option(
    "--max-delete",
    type=click.FloatRange(0, 100),
    default=50,
    show_default=True,
    metavar="PERCENT",
    help="Stop (exit 4) rather than delete more than this share of the files.",
)
@click.option("--force", is_flag=True, help="Delete even past --max-delete.")
@click.option(
    "--exclude",
    multiple=True,
    metavar="FOLDER",
    help="Leave a folder out (remembered; repeatable).",
)
@click.option("--include", multiple=True, metavar="FOLDER", help="Sync an excluded folder again.")
@click.option("--dry-run", is_flag=True, help="Show what would be done; do nothing.")
@click.option(
    "--interval",
    type=click.FloatRange(1, 86_400),
    default=60,
    show_default=True,
    help="With --watch: seconds between full scans.",
)
def sync(
    settings: Settings,
    local_dir: Path,
    remote_dir: str | None,
    watch: bool,
    max_delete: float,
    force: bool,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
    dry_run: bool,
    interval: float,
) -> None:
    """Sync LOCAL_DIR both ways with your folder REMOTE_DIR (default: all your files).

    Changes on either side go to the other; edits on both sides keep both (the local
    one as a conflicted copy); deletes go to a trash (the server's, or LOCAL_DIR/
    .mdbx-trash). LOCAL_DIR/.mdbxignore lists what to leave out (gitignore syntax).
    """
    # Imported here: the sync engine and watchdog are the heaviest part of the client,
    # and every other command starts faster without them.
    from app.client.sync.runner import Syncer, SyncOptions, TooManyDeletes
    from app.client.sync.watch import FolderWatch

    local_dir.mkdir(parents=True, exist_ok=True)
    options = SyncOptions(
        local_dir,
        remote_dir,
        max_delete=max_delete,
        force=force,
        dry_run=dry_run,
        exclude=list(exclude),
        include=list(include),
        parallel=settings.parallel,
    )
    syncer = Syncer(settings.account, options)
    click.get_current_context().call_on_close(syncer.close)
    try:
        if watch and not dry_run:
            stop = threading.Event()
            FolderWatch(syncer, interval, stop).run(lambda o: show(settings, syncer, o))
            return
        with progress(settings) as bar:
            outcome = syncer.run(on_done=bar.on_done, on_plan=bar.on_plan)
    except TooManyDeletes as exc:
        raise DeletesRefused(str(exc)) from None
    show(settings, syncer, outcome)
    if outcome.report.failed:
        raise CommandFailed(f"{len(outcome.report.failed)} actions failed")


class _Bar:
    """A bar over the actions of a run (on a terminal, not with --json/--quiet)."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self.bar: tqdm | None = None

    def on_plan(self, plan: Plan) -> None:
        if self.shown and plan.actions:
            from tqdm import tqdm

            self.bar = tqdm(total=len(plan.actions), unit="step", leave=False, dynamic_ncols=True)

    def on_done(self, action: Action) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def progress(settings: Settings) -> Iterator[_Bar]:
    bar = _Bar(settings.chatty and sys.stderr.isatty())
    try:
        yield bar
    finally:
        bar.close()


def show(settings: Settings, syncer: Syncer, outcome: Outcome) -> None:
    """The summary of one run (or its JSON; a dry run lists its actions)."""
    dry = syncer.options.dry_run
    if settings.json:
        answer = outcome.as_json()
        if dry:
            answer["actions"] = [
                {"action": a.kind, "path": a.path, **({"to": a.target} if a.target else {})}
                for a in outcome.plan.actions
            ]
        emit_json(answer)
        return
    if not settings.chatty:
        return
    if dry:
        for action in outcome.plan.actions:
            click.echo(
                f"{action.kind:14} {action.path}"
                + (f" -> {action.target}" if action.target else "")
            )
    report = outcome.report
    counts = outcome.plan.counts() if dry else report.done
    parts = [f"{counts[kind]} {verb}" for kind, verb in VERBS.items() if counts.get(kind)]
    where = f"{syncer.root} and {syncer.remote.root}"
    line = ("would do: " if dry else "") + (", ".join(parts) or "nothing to do")
    moved = (
        f"; {human_size(report.bytes_up)} up, {human_size(report.bytes_down)} down"
        if parts and not dry
        else ""
    )
    click.echo(f"{where}: {line}{moved} ({outcome.seconds:.1f} s)", err=True)
    for item in report.failed:
        click.echo(f"Error: {item['action']} {item['path']}: {item['error']['message']}", err=True)
    if report.postponed:
        click.echo(f"{len(report.postponed)} changed during the sync: next time", err=True)
