"""``mdbx ls``, ``put``, ``get``, ``mv``, ``cp``, ``rm``, ``mkdir``, ``quota``: the logged-in
user's own tree of folders and files (``/api/``), and how local paths map onto it."""

from __future__ import annotations

import os
import posixpath
import time
from pathlib import Path
from typing import Any

import click

from app.client.cli.command import CommandFailed, Interrupted, Settings, cluster_command
from app.client.cli.render import emit_json, human_size, progress_bar, rate, render_table
from app.client.errors import ClientError, MasterUnreachable, NotLoggedIn


@cluster_command()
@click.argument("path", default="/")
@click.option("-l", "long", is_flag=True, help="Sizes, dates and versions too.")
def ls(settings: Settings, path: str, long: bool) -> None:
    """List a folder of your files (a file: just that one)."""
    is_root = path.strip("/") == ""
    entry: dict[str, Any] = (
        {"path": "/", "is_dir": True} if is_root else settings.account.stat(path)
    )
    entries = settings.account.list_folder(path)["entries"] if entry["is_dir"] else [entry]
    if settings.json:
        emit_json({"path": entry["path"], "entries": entries})
        return
    if not long:
        for item in entries:
            click.echo(item["name"] + ("/" if item["is_dir"] else ""))
        return
    rows = [
        [
            "-" if item["is_dir"] else human_size(item["size"]),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(item["mtime"])),
            "" if item["is_dir"] else f"v{item['version']}",
            item["name"] + ("/" if item["is_dir"] else ""),
        ]
        for item in entries
    ]
    if rows:
        click.echo(render_table(["SIZE", "MODIFIED", "VERSION", "NAME"], rows))


@cluster_command()
@click.argument("args", nargs=-1, required=True, metavar="LOCAL... [REMOTE_DIR]")
def put(settings: Settings, args: tuple[str, ...]) -> None:
    """Upload files and folders (recursively) into your folder REMOTE_DIR.

    With two or more arguments the last one is REMOTE_DIR (as with cp); alone, a file
    or folder goes to the top of your tree. FILE becomes REMOTE_DIR/FILE, a folder
    REMOTE_DIR/FOLDER/... with its empty folders. A file over the master's chunk size is
    sent in resumable chunks (tus); a large file put over one already there sends only
    the blocks that changed.
    """
    *sources, remote_dir = args if len(args) > 1 else (*args, "/")
    locals_ = [Path(source) for source in sources]
    for local in locals_:
        if not local.exists():
            raise click.BadParameter(f"{local} does not exist", param_hint="LOCAL")
    folders, uploads = plan_tree(locals_, remote_dir)
    for folder in folders:
        settings.account.mkdir(folder)
    report: dict[str, Any] = {
        "uploaded": [],
        "failed": [],
        "folders": folders,
        "bytes": 0,
        "bytes_sent": 0,
    }
    started = time.monotonic()
    from app.client.block_delta import Uploads  # with requests, needed by put alone

    uploader = Uploads(settings.account)
    for local, remote in uploads:
        size = local.stat().st_size
        try:
            with progress_bar(settings.chatty, remote, size) as bar:
                stored = uploader.upload(local, remote, progress=bar)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted while uploading {local}: run the same command again to resume "
                "(a large file goes on from the chunks already stored)"
            ) from None
        except (MasterUnreachable, NotLoggedIn):
            raise
        except ClientError as exc:
            message = f"{local}: {exc}"
            report["failed"].append(
                {
                    "local": str(local),
                    "path": remote,
                    "error": {"code": exc.code, "message": message},
                }
            )
            if len(uploads) > 1:
                click.echo(f"Error: {message}", err=True)
            continue
        report["uploaded"].append({"local": str(local), **stored})
        report["bytes"] += size
        report["bytes_sent"] += stored["sent_bytes"]
        if settings.chatty:
            sent = stored["sent_bytes"]
            delta = f", {human_size(sent)} sent" if sent < size else ""
            click.echo(f"{human_size(size):>9}  {stored['path']}  (v{stored['version']}{delta})")
    report["seconds"] = round(time.monotonic() - started, 3)
    if settings.json:
        emit_json(report)
    elif settings.chatty and len(uploads) > 1:
        done = len(report["uploaded"])
        click.echo(
            f"uploaded {done} file{'s' * (done != 1)}, {human_size(report['bytes'])} in "
            f"{report['seconds']:.1f} s ({rate(report['bytes'], report['seconds'])})",
            err=True,
        )
    failed = report["failed"]
    if len(failed) == 1 and len(uploads) == 1:
        raise CommandFailed(failed[0]["error"]["message"])
    if failed:
        raise CommandFailed(f"{len(failed)} of {len(uploads)} uploads failed")


def plan_tree(locals_: list[Path], remote_dir: str) -> tuple[list[str], list[tuple[Path, str]]]:
    """The remote folders to make (parents first) and each file with its remote path."""
    base = "/" + remote_dir.strip("/")
    folders: list[str] = [] if base == "/" else [base]
    uploads: list[tuple[Path, str]] = []
    for local in locals_:
        top = posixpath.join(base, local.resolve().name)
        if not local.is_dir():
            uploads.append((local, top))
            continue
        folders.append(top)
        for root, dirs, names in os.walk(local):  # symlinked folders are not followed
            dirs.sort()
            here = posixpath.join(top, Path(root).relative_to(local).as_posix()).rstrip("/.")
            folders += [posixpath.join(here, name) for name in dirs]
            for name in sorted(names):
                if Path(root, name).is_file():
                    uploads.append((Path(root, name), posixpath.join(here, name)))
    return folders, uploads


@cluster_command()
@click.argument("remote")
@click.argument("local", required=False, type=click.Path(path_type=Path))
@click.option("--force", "-f", is_flag=True, help="Overwrite existing local files.")
def get(settings: Settings, remote: str, local: Path | None, force: bool) -> None:
    """Download a file or a folder (recursively) of yours.

    LOCAL is the file to write, or an existing folder to write into (default: here).
    Each file is written to a temp file, checked against its hash and renamed.
    """
    is_root = remote.strip("/") == ""
    entry: dict[str, Any] = (
        {"path": "/", "name": "", "is_dir": True} if is_root else settings.account.stat(remote)
    )
    name = entry["name"] or "files"
    dest = local / name if local is not None and local.is_dir() else (local or Path(name))
    if entry["is_dir"]:
        jobs = [
            (item, dest / posixpath.relpath(item["path"], entry["path"]))
            for item in settings.account.walk(entry["path"])
        ]
    else:
        jobs = [(entry, dest)]
    if entry["is_dir"]:
        dest.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    started = time.monotonic()
    total = 0
    # A single file was stat'ed just now; a folder's files are stat'ed as each comes.
    fresh = not entry["is_dir"]
    for item, target in jobs:
        if item["is_dir"]:
            target.mkdir(parents=True, exist_ok=True)
            continue
        if target.is_dir():
            raise CommandFailed(f"{target} is a directory")
        if target.exists() and not force:
            raise CommandFailed(f"{target} exists (use --force to overwrite)")
        try:
            with progress_bar(settings.chatty, item["path"], item["size"]) as bar:
                settings.account.download(
                    item["path"],
                    target,
                    progress=bar,
                    parallel=settings.parallel,
                    entry=item if fresh else None,
                )
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted while downloading {item['path']}") from None
        written.append({"path": item["path"], "local": str(target), "size": item["size"]})
        total += item["size"]
        if settings.chatty and entry["is_dir"]:
            click.echo(f"{human_size(item['size']):>9}  {target}")
    elapsed = time.monotonic() - started
    if settings.json:
        emit_json({"path": entry["path"], "local": str(dest), "files": written, "bytes": total})
    elif settings.chatty:
        count = len(written)
        click.echo(
            f"{dest}  {count} file{'s' * (count != 1)}, {human_size(total)}  {rate(total, elapsed)}"
        )


@cluster_command()
@click.argument("source")
@click.argument("target")
def mv(settings: Settings, source: str, target: str) -> None:
    """Move or rename a file or folder of yours (versions go along)."""
    show_entry(settings, settings.account.move(source, target), "moved to")


@cluster_command()
@click.argument("source")
@click.argument("target")
def cp(settings: Settings, source: str, target: str) -> None:
    """Copy a file or folder of yours (no bytes travel)."""
    show_entry(settings, settings.account.copy(source, target), "copied to")


@cluster_command()
@click.argument("paths", nargs=-1, required=True)
def rm(settings: Settings, paths: tuple[str, ...]) -> None:
    """Move files or folders of yours to the trash (see `mdbx trash`, `mdbx restore`)."""
    deleted = []
    for path in paths:
        answer = settings.account.delete(path)
        deleted.append(answer)
        if settings.chatty:
            click.echo(f"{answer['path']} moved to the trash (id {answer['trash_id']})")
    if settings.json:
        emit_json(deleted)


@cluster_command()
@click.argument("path")
def mkdir(settings: Settings, path: str) -> None:
    """Make a folder and its parents (an existing folder is fine)."""
    show_entry(settings, settings.account.mkdir(path), "folder")


@cluster_command()
def quota(settings: Settings) -> None:
    """Show your quota and how much of it you use."""
    account = settings.account.account()
    if settings.json:
        emit_json(account)
    elif settings.chatty:
        limit = account["quota_bytes"]
        used = account["used_bytes"]
        share = f" ({100 * used / limit:.1f} %)" if limit else ""
        click.echo(f"user   {account['name']}")
        click.echo(f"used   {human_size(used)}{share}")
        click.echo(f"quota  {human_size(limit) if limit else 'no limit'}")


def show_entry(settings: Settings, entry: dict[str, Any], verb: str) -> None:
    if settings.json:
        emit_json(entry)
    elif settings.chatty:
        click.echo(f"{verb} {entry['path']}")
