"""``mdbx admin backup``, ``restore``, ``recover``: snapshots of the user trees kept on the
nodes, and a master's catalogue rebuilt from its nodes (README, "Backup and recovery")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from app.client.cli.command import Settings, cluster_command
from app.client.cli.render import emit_json, human_size, render_table


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


@cluster_command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also save it here.")
@click.option("--list", "list_only", is_flag=True, help="Only list the snapshots kept.")
def backup(settings: Settings, out: Path | None, list_only: bool) -> None:
    """Snapshot the user trees onto the nodes now (with --out, also download it)."""
    if list_only:
        show_snapshots(settings, settings.client.snapshots())
        return
    taken = settings.client.take_snapshot()
    if out is not None:
        out.write_bytes(settings.client.snapshot_bytes(taken["hash"]))
        taken["saved_to"] = str(out)
    if settings.json:
        emit_json(taken)
    elif settings.chatty:
        click.echo(
            f"snapshot {taken['hash'][:12]} taken {when(taken['taken_at'])}, "
            f"{human_size(taken['size'])}"
            + (f" in {taken['blocks']} blocks" if taken.get("blocks", 1) > 1 else "")
            + f" on {', '.join(taken['copies'])}"
            + (f", saved to {out}" if out is not None else "")
        )


@cluster_command()
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--latest", is_flag=True, help="The latest snapshot kept on the nodes.")
def restore(settings: Settings, file: Path | None, latest: bool) -> None:
    """Replace every user's tree with a snapshot's: FILE (from backup --out) or --latest."""
    if (file is None) == (not latest):
        raise click.UsageError("name a snapshot FILE or --latest (one of them)")
    answer = settings.client.restore_snapshot(None if latest else file.read_bytes())  # type: ignore[union-attr]
    if settings.json:
        emit_json(answer)
    elif settings.chatty:
        click.echo(
            f"restored: {answer['users']} users, {answer['entries']} entries, "
            f"{answer['versions']} versions, {answer['trash']} in trash, "
            f"{answer['shares']} shares, {answer['files']} files new to the catalogue"
        )


@cluster_command()
def recover(settings: Settings) -> None:
    """Rebuild the master's catalogue from its nodes now, and say what was found."""
    report = settings.client.recover()
    if settings.json:
        emit_json(report)
    elif settings.chatty:
        click.echo(render_report(report))


def render_report(report: dict[str, Any]) -> str:
    snapshot = report.get("snapshot")
    if snapshot:
        restored = "restored" if report.get("restored") else "not restored: the trees are there"
        snapshot_line = f"{snapshot['hash'][:12]} of {when(snapshot['taken_at'])} ({restored})"
    else:
        snapshot_line = "none found"
    rows = [
        ["nodes", ", ".join(report.get("nodes", []))],
        ["files", str(report["files"])],
        ["blocks", str(report["blocks"])],
        ["manifests", str(report["manifests"])],
        ["snapshot", snapshot_line],
        ["users", str(report["users"])],
        ["entries", str(report["entries"])],
        ["seconds", str(report["seconds"])],
    ]
    return render_table(["FOUND", ""], rows)


def show_snapshots(settings: Settings, found: list[dict[str, Any]]) -> None:
    if settings.json:
        emit_json(found)
        return
    rows = [
        [s["hash"][:12], when(s["taken_at"]), human_size(s["size"]), ", ".join(s["copies"])]
        for s in found
    ]
    click.echo(render_table(["SNAPSHOT", "TAKEN", "SIZE", "NODES"], rows))
