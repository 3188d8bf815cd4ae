"""``mdbx trash``, ``restore``, ``versions``: what a user deleted or overwrote, and
getting it back."""

from __future__ import annotations

import time

import click

from app.client.cli.command import Settings, cluster_command
from app.client.cli.render import emit_json, human_size, render_table
from app.client.cli.tree import show_entry


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


@cluster_command()
def trash(settings: Settings) -> None:
    """List your trash: what `mdbx rm` moved there, newest first."""
    items = settings.account.trash()
    if settings.json:
        emit_json(items)
        return
    rows = [
        [
            item["trash_id"],
            when(item["deleted_at"]),
            human_size(item["size"]),
            item["path"] + (f"/  ({item['items']} entries)" if item["is_dir"] else ""),
        ]
        for item in items
    ]
    if rows:
        click.echo(render_table(["TRASH_ID", "DELETED", "SIZE", "PATH"], rows))
    elif settings.chatty:
        click.echo("the trash is empty", err=True)


@cluster_command()
@click.argument("ref", metavar="TRASH_ID|PATH")
@click.option("--version", type=click.IntRange(1), help="Make version N of PATH current again.")
def restore(settings: Settings, ref: str, version: int | None) -> None:
    """Restore a trash entry (by its id), or with --version N an old version of PATH."""
    if version is None:
        restored = settings.account.restore_trash(ref)
        show_entry(settings, restored, "restored")
    else:
        restored = settings.account.restore_version(ref, version)
        show_entry(settings, restored, f"version {version} restored as the current one of")


@cluster_command()
@click.argument("path")
def versions(settings: Settings, path: str) -> None:
    """List the versions of a file of yours (the current one first)."""
    found = settings.account.versions(path)
    if settings.json:
        emit_json(found)
        return
    rows = [
        [f"v{item['version']}", when(item["mtime"]), human_size(item["size"]), item["hash"][:12]]
        for item in found
    ]
    if rows:
        click.echo(render_table(["VERSION", "MODIFIED", "SIZE", "HASH"], rows))
