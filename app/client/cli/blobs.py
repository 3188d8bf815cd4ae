"""``mdbx blobs put|sync|get|ls|stat|rm``: the global content-addressed catalogue of the
reference design (files by hash and name, no account), and how local paths become stored
names."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from app.client.cli.command import CommandFailed, Interrupted, Settings, cluster_command
from app.client.cli.render import (
    emit_json,
    human_size,
    output_path,
    progress_bar,
    rate,
    render_table,
    without_locations,
)
from app.client.errors import ClientError, MasterUnreachable

HASH_SHOWN = 12


@cluster_command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "target",
    metavar="NAME",
    help="Stored name of a single file; for a directory, several paths or a NAME ending "
    "in '/', the prefix of every name.",
)
def put(settings: Settings, paths: tuple[Path, ...], target: str | None) -> None:
    """Upload files and directories (recursively).

    A directory's files are stored as DIR/relative/path, or NAME/relative/path with --to.
    """
    uploads = plan_uploads(paths, target)
    if not uploads:
        raise CommandFailed("nothing to upload: no files under " + ", ".join(map(str, paths)))
    report = upload_all(settings, uploads)
    finish_report(settings, report, len(uploads))


@cluster_command()
@click.argument("local_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "target", metavar="NAME", help="Stored in place of the directory's name.")
def sync(settings: Settings, local_dir: Path, target: str | None) -> None:
    """Upload the files of LOCAL_DIR whose content the cluster does not have yet."""
    from app.client.transfer import file_digest  # with requests: not at start-up

    uploads, skipped = [], []
    for path, name in plan_uploads([local_dir], target):
        digest = file_digest(path)
        if settings.client.has_file(digest):
            skipped.append({"path": str(path), "name": name, "hash": digest})
        else:
            uploads.append((path, name))
    report = upload_all(settings, uploads)
    report["skipped"] = skipped
    finish_report(settings, report, len(uploads))


@cluster_command()
@click.argument("ref", metavar="HASH|NAME")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File or directory.")
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing file.")
def get(settings: Settings, ref: str, output: Path | None, force: bool) -> None:
    """Download a file by hash, hash prefix or name, checked against its hash."""
    record = settings.client.resolve(ref)
    dest = output_path(record, output)
    if dest.is_dir():
        raise CommandFailed(f"{dest} is a directory")
    if dest.exists() and not force:
        raise CommandFailed(f"{dest} exists (use --force to overwrite)")
    started = time.monotonic()
    with progress_bar(settings.chatty, record["name"], record["size"]) as bar:
        settings.client.download(record["hash"], dest, progress=bar, parallel=settings.parallel)
    elapsed = time.monotonic() - started
    if settings.json:
        emit_json({**without_locations(record), "path": str(dest)})
    elif settings.chatty:
        click.echo(f"{dest}  {human_size(record['size'])}  {rate(record['size'], elapsed)}")


@cluster_command()
def ls(settings: Settings) -> None:
    """List stored files: hash prefix, size, replicas, name."""
    files = settings.client.list()
    if settings.json:
        emit_json(files)
        return
    rows = [
        [f["hash"][:HASH_SHOWN], human_size(f["size"]), str(len(f["replicas"])), f["name"]]
        for f in files
    ]
    if rows:
        click.echo(render_table(["HASH", "SIZE", "REPLICAS", "NAME"], rows))
    if settings.chatty:
        total = human_size(sum(f["size"] for f in files))
        click.echo(f"{len(files)} file{'s' * (len(files) != 1)}, {total}", err=True)


@cluster_command()
@click.argument("ref", metavar="HASH|NAME")
def stat(settings: Settings, ref: str) -> None:
    """Show a file's record and where its replicas are."""
    record = settings.client.resolve(ref)
    if settings.json:
        emit_json(record)
        return
    locations = record.get("locations", [])
    up = sum(1 for loc in locations if loc["state"] == "up")
    click.echo(f"hash      {record['hash']}")
    click.echo(f"name      {record['name']}")
    exact = f" ({record['size']} bytes)" if record["size"] >= 1024 else ""
    click.echo(f"size      {human_size(record['size'])}{exact}")
    click.echo(f"replicas  {len(locations)} ({up} up)")
    if locations:
        rows = [[loc["node"], loc["state"], loc["url"] or "-"] for loc in locations]
        click.echo(render_table(["NODE", "STATE", "URL"], rows, indent="  "))


@cluster_command()
@click.argument("ref", metavar="HASH|NAME")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm(settings: Settings, ref: str, yes: bool) -> None:
    """Delete a file and every copy of it."""
    record = settings.client.resolve(ref)
    if not yes:
        # On stderr so that --json output stays parseable; "no" or EOF aborts (exit 1).
        click.confirm(
            f"Delete {record['name']} ({record['hash'][:HASH_SHOWN]}, "
            f"{human_size(record['size'])}) and all its copies?",
            abort=True,
            err=True,
        )
    answer = settings.client.delete(record["hash"])
    if settings.json:
        emit_json({**answer, "name": record["name"]})
    elif settings.chatty:
        pending = f", {answer['copies_pending']} pending" if answer["copies_pending"] else ""
        click.echo(
            f"deleted {record['name']} ({record['hash'][:HASH_SHOWN]}): "
            f"{answer['copies_deleted']} copies{pending}"
        )


# ----- upload plumbing -----


def plan_uploads(paths: Sequence[Path], target: str | None) -> list[tuple[Path, str]]:
    """Pair every file to send with its stored name, the way ``cp -r`` names copies.

    One source and a ``--to`` not ending in '/': ``--to`` replaces the source's name.
    Otherwise ``--to`` is a prefix: FILE → prefix/FILE, DIR → prefix/DIR/relative/path.
    """
    renames = len(paths) == 1 and target is not None and not target.endswith("/")
    prefix = (target or "").strip("/")
    planned: list[tuple[Path, str]] = []
    for path in paths:
        base = prefix if renames else join_name(prefix, path.resolve().name)
        if not path.is_dir():
            planned.append((path, base))
            continue
        for top, dirs, names in os.walk(path):  # symlinked directories are not followed
            dirs.sort()
            for name in sorted(names):
                file = Path(top, name)
                if file.is_file():
                    planned.append((file, join_name(base, file.relative_to(path).as_posix())))
    return planned


def join_name(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def upload_all(settings: Settings, uploads: list[tuple[Path, str]]) -> dict[str, Any]:
    """Upload one file after another; a failed file is reported and the rest go on.

    The master being unreachable stops everything: no later file could succeed.
    """
    report: dict[str, Any] = {"uploaded": [], "failed": [], "bytes": 0, "bytes_sent": 0}
    started = time.monotonic()
    for path, name in uploads:
        size = path.stat().st_size
        try:
            with progress_bar(settings.chatty, name, size) as bar:
                answer = settings.client.upload_file(
                    path, name, progress=bar, parallel=settings.parallel
                )
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted while uploading {path}: run the same command again to resume "
                "(blocks already stored are not sent again)"
            ) from None
        except MasterUnreachable:
            raise
        except ClientError as exc:
            message = f"{path}: {exc}"
            report["failed"].append(
                {"path": str(path), "name": name, "error": {"code": exc.code, "message": message}}
            )
            if len(uploads) > 1:
                click.echo(f"Error: {message}", err=True)
            continue
        stored = {
            key: answer[key]
            for key in ("hash", "name", "size", "replicas", "copies", "blocks", "blocks_sent")
        }
        report["uploaded"].append({"path": str(path), **stored})
        report["bytes"] += size
        report["bytes_sent"] += answer["bytes_sent"]
        if settings.chatty:
            click.echo(f"{answer['hash'][:HASH_SHOWN]}  {human_size(size):>9}  {name}")
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def finish_report(settings: Settings, report: dict[str, Any], attempted: int) -> None:
    """Print the summary (or the JSON report); fail if any file failed."""
    if settings.json:
        emit_json(report)
    elif settings.chatty and (attempted > 1 or report["uploaded"] or "skipped" in report):
        done = len(report["uploaded"])
        line = f"uploaded {done} file{'s' * (done != 1)}, {human_size(report['bytes'])} in "
        line += f"{report['seconds']:.1f} s ({rate(report['bytes'], report['seconds'])})"
        if "skipped" in report:
            line += f"; {len(report['skipped'])} skipped (already stored)"
        click.echo(line, err=True)
    failed = report["failed"]
    if len(failed) == 1 and attempted == 1:
        raise CommandFailed(failed[0]["error"]["message"])
    if failed:
        raise CommandFailed(f"{len(failed)} of {attempted} uploads failed")


@click.group(commands=[put, sync, get, ls, stat, rm])
def blobs() -> None:
    """The global content-addressed catalogue (by hash and name; no account)."""
