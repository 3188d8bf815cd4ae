"""The ``mdbx`` command line: ``serve`` runs a role; the others talk to a running cluster.

Exit codes: 0 success, 1 failed operation (or unhealthy cluster for ``status``), 2 usage
error or master unreachable, 3 file not found, 130 interrupted (Ctrl+C). Every transfer
goes through ``app.client.api.Client``; this module only parses, reports and renders.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from app.client.api import DEFAULT_MASTER, Client
from app.client.errors import ClientError, FileNotFound, MasterUnreachable
from app.client.render import (
    emit_json,
    human_size,
    output_path,
    progress_bar,
    rate,
    render_table,
    without_locations,
)
from app.client.transfer import file_digest
from app.serve_command import serve

F = TypeVar("F", bound=Callable[..., Any])
HASH_SHOWN = 12


class CommandFailed(click.ClickException):
    """An operation failed (exit 1)."""

    exit_code = 1


class MasterDown(click.ClickException):
    """The master did not answer (exit 2, as for a wrong --master)."""

    exit_code = 2


class NotFound(click.ClickException):
    """No such file (exit 3)."""

    exit_code = 3


class Interrupted(click.ClickException):
    """Ctrl+C (exit 130, the shell's convention for SIGINT)."""

    exit_code = 130


@dataclass
class Settings:
    """Group options, shared by every command through the click context."""

    master: str
    json: bool = False
    quiet: bool = False
    parallel: int = 4
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.master)
            click.get_current_context().call_on_close(self._client.close)
        return self._client

    @property
    def chatty(self) -> bool:
        """Whether human-readable output (and progress bars) is wanted."""
        return not (self.json or self.quiet)


@click.group(
    epilog="Exit codes: 0 ok, 1 failed (status: cluster unhealthy), 2 usage error or master "
    "unreachable, 3 file not found, 130 interrupted."
)
@click.option(
    "--master",
    envvar="MDBX_MASTER",
    default=DEFAULT_MASTER,
    show_default=True,
    metavar="URL",
    help="Master of the cluster (env MDBX_MASTER).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Only errors (and --json output).")
@click.option(
    "--parallel",
    envvar="MDBX_PARALLEL",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Blocks of a large file transferred at once (env MDBX_PARALLEL).",
)
@click.pass_context
def main(ctx: click.Context, master: str, as_json: bool, quiet: bool, parallel: int) -> None:
    """Mini-Dropbox: a content-addressed, replicated file store."""
    ctx.obj = Settings(master, as_json, quiet, parallel)


def client_command(func: F) -> click.Command:
    """Register a top-level cluster command (see ``group_command``)."""
    return group_command(main)(func)


def group_command(group: click.Group, name: str | None = None) -> Callable[[F], click.Command]:
    """Register a cluster command on ``group``: ``--json``/``--quiet`` here too, errors as
    one line.

    Expected failures become ``click.ClickException`` subclasses (``Error: ...`` on
    stderr and the exit codes above), never a traceback.
    """
    return functools.partial(_cluster_command, group=group, name=name)


def _cluster_command(func: F, group: click.Group, name: str | None) -> click.Command:
    @functools.wraps(func)
    def run(*args: Any, as_json: bool, quiet: bool, **kwargs: Any) -> Any:
        settings = click.get_current_context().find_object(Settings)
        assert settings is not None
        settings.json |= as_json
        settings.quiet |= quiet
        try:
            return func(settings, *args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        except ClientError as exc:
            raise as_click_error(exc) from None
        except OSError as exc:
            raise CommandFailed(
                f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
            ) from None

    command = group.command(name)(run)
    command.params += [
        click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output."),
        click.Option(["--quiet", "-q"], is_flag=True, help="Only errors."),
    ]
    return command


def as_click_error(exc: ClientError) -> click.ClickException:
    """Map a client error to the exception (and exit code) the shell sees."""
    if isinstance(exc, MasterUnreachable):
        return MasterDown(f"{exc} (set --master or MDBX_MASTER)")
    if isinstance(exc, FileNotFound):
        return NotFound(str(exc))
    return CommandFailed(str(exc))


main.add_command(serve)


# ----- transfers -----


@client_command
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


@client_command
@click.argument("local_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "target", metavar="NAME", help="Stored in place of the directory's name.")
def sync(settings: Settings, local_dir: Path, target: str | None) -> None:
    """Upload the files of LOCAL_DIR whose content the cluster does not have yet."""
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


@client_command
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
    with progress_bar(settings, record["name"], record["size"]) as bar:
        settings.client.download(record["hash"], dest, progress=bar, parallel=settings.parallel)
    elapsed = time.monotonic() - started
    if settings.json:
        emit_json({**without_locations(record), "path": str(dest)})
    elif settings.chatty:
        click.echo(f"{dest}  {human_size(record['size'])}  {rate(record['size'], elapsed)}")


# ----- catalogue -----


@client_command
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


@client_command
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


@client_command
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


@client_command
def status(settings: Settings) -> None:
    """Show cluster health and nodes; exit 1 unless every file has all its copies."""
    answer = settings.client.status()
    health, nodes = answer["cluster"], answer["nodes"]
    problems = health_problems(health)
    if settings.json:
        emit_json({"healthy": not problems, **answer})
    elif not settings.quiet:
        verdict = "healthy" if not problems else "UNHEALTHY: " + ", ".join(problems)
        click.echo(f"cluster   {verdict}")
        click.echo(
            f"nodes     {health['nodes_up']} up, {health['nodes_down']} down "
            f"(replication {health['replication']})"
        )
        click.echo(f"files     {health['files']} ({health['healthy']} with every copy live)")
        if nodes:
            rows = [
                [
                    n["id"],
                    n["state"],
                    f"{human_size(n['free_bytes'])} / {human_size(n['capacity_bytes'])}",
                    str(n["files"] if n["files"] is not None else "-"),
                    n["url"],
                ]
                for n in nodes
            ]
            click.echo(render_table(["NODE", "STATE", "FREE / CAPACITY", "FILES", "URL"], rows))
    if problems:
        click.get_current_context().exit(1)


def health_problems(health: dict[str, Any]) -> list[str]:
    """What keeps the cluster from healthy: files short of copies, too few nodes."""
    labels = {
        "degraded": "degraded",
        "under_replicated": "under-replicated",
        "unavailable": "unavailable",
        "lost": "lost",
    }
    problems = [f"{health[key]} {label}" for key, label in labels.items() if health.get(key)]
    if health["nodes_up"] < health["replication"]:
        # New uploads cannot reach R copies, even if no stored file is short yet.
        problems.append(f"{health['nodes_up']} of {health['replication']} nodes needed up")
    return problems


# ----- accounts -----


def read_password(password_stdin: bool, prompt: str = "Password") -> str:
    """From stdin (scripts: ``--password-stdin``) or a hidden prompt; never an argument,
    which other users could read in the process list."""
    if password_stdin:
        password = str(sys.stdin.readline()).rstrip("\r\n")
        if not password:
            raise CommandFailed("no password on stdin")
        return password
    value: str = click.prompt(prompt, hide_input=True, err=True)
    return value


@client_command
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def login(settings: Settings, username: str, password_stdin: bool) -> None:
    """Log in; the token is kept (0600) for later commands against this master."""
    answer = settings.client.login(username, read_password(password_stdin))
    if settings.json:
        emit_json({"username": answer["username"], "saved_to": answer["saved_to"]})
    elif settings.chatty:
        click.echo(f"logged in as {answer['username']} (token saved to {answer['saved_to']})")


@client_command
def logout(settings: Settings) -> None:
    """Revoke this master's saved token and forget it."""
    forgotten = settings.client.logout()
    if settings.chatty:
        click.echo("logged out" if forgotten else "no saved token for this master")


@main.group()
def admin() -> None:
    """Administration (loopback in open mode; else an admin's token or the cluster secret)."""


@admin.group()
def user() -> None:
    """Manage users."""


@group_command(user)
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--admin", "is_admin", is_flag=True, help="An administrator.")
@click.option("--quota", type=click.IntRange(0), default=0, help="Bytes (0: no limit).")
def add(
    settings: Settings, username: str, password_stdin: bool, is_admin: bool, quota: int
) -> None:
    """Create a user."""
    password = read_password(password_stdin, f"Password for {username}")
    answer = settings.client.add_user(username, password, admin=is_admin, quota=quota)
    show_users(settings, [answer])


@group_command(user, "list")
def list_users(settings: Settings) -> None:
    """List users with their quota and usage."""
    show_users(settings, settings.client.users())


@group_command(user)
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable again instead.")
def disable(settings: Settings, username: str, enable: bool) -> None:
    """Disable a user (their tokens are revoked) or, with --enable, enable them."""
    show_users(settings, [settings.client.change_user(username, disabled=not enable)])


@group_command(user)
@click.argument("username")
@click.argument("quota_bytes", type=click.IntRange(0))
def quota(settings: Settings, username: str, quota_bytes: int) -> None:
    """Set a user's quota in bytes (0: no limit)."""
    show_users(settings, [settings.client.change_user(username, quota_bytes=quota_bytes)])


def show_users(settings: Settings, users: list[dict[str, Any]]) -> None:
    if settings.json:
        emit_json(users)
    elif settings.chatty:
        rows = [
            [
                u["name"],
                "admin" if u["admin"] else "",
                "disabled" if u["disabled"] else "active",
                human_size(u["quota_bytes"]) if u["quota_bytes"] else "-",
                human_size(u.get("used_bytes", 0)),
            ]
            for u in users
        ]
        click.echo(render_table(["USER", "ROLE", "STATE", "QUOTA", "USED"], rows))


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
            with progress_bar(settings, name, size) as bar:
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
