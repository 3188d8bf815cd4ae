"""``mdbx share``, ``shares``, ``unshare``: links to a user's files, with an expiry and a
password."""

from __future__ import annotations

import re
import time

import click

from app.client.cli.account import read_password
from app.client.cli.command import Settings, cluster_command
from app.client.cli.render import emit_json, human_size, render_table

LIFETIME_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(value: str | None) -> float | None:
    """'7d', '12h', '30m', '90s' or seconds; None: the link does not expire."""
    if value is None:
        return None
    matched = LIFETIME_RE.fullmatch(value.strip().lower())
    if matched is None:
        raise click.BadParameter(
            f"{value!r} is not a duration such as 7d, 12h, 30m or 90s", param_hint="--expires"
        )
    return float(matched.group(1)) * UNIT_SECONDS[matched.group(2)]


@cluster_command()
@click.argument("path")
@click.option("--expires", metavar="DURATION", help="Lifetime: 7d, 12h, 30m, 90s.")
@click.option("--password", "ask_password", is_flag=True, help="Protect it: password prompted.")
@click.option("--password-stdin", is_flag=True, help="Protect it: password read from stdin.")
def share(
    settings: Settings, path: str, expires: str | None, ask_password: bool, password_stdin: bool
) -> None:
    """Make a link to a file of yours; the URL is printed."""
    expires_in = parse_lifetime(expires)
    password = (
        read_password(password_stdin, "Link password") if ask_password or password_stdin else None
    )
    made = settings.account.share(path, expires_in=expires_in, password=password)
    url = made["url"]
    if url.startswith("/"):
        url = settings.client.master_url + url
    made["url"] = url
    if settings.json:
        emit_json(made)
    elif not settings.quiet:
        click.echo(url)


@cluster_command()
def shares(settings: Settings) -> None:
    """List your share links (by id: the token is shown only when made)."""
    found = settings.account.shares()
    if settings.json:
        emit_json(found)
        return
    rows = [
        [
            item["id"],
            human_size(item["size"]),
            "never"
            if item["expires_at"] is None
            else time.strftime("%Y-%m-%d %H:%M", time.localtime(item["expires_at"])),
            "yes" if item["password"] else "no",
            item["path"],
        ]
        for item in found
    ]
    if rows:
        click.echo(render_table(["ID", "SIZE", "EXPIRES", "PASSWORD", "PATH"], rows))


@cluster_command()
@click.argument("ref", metavar="ID|TOKEN")
def unshare(settings: Settings, ref: str) -> None:
    """End a share link, named by its id (as `mdbx shares` lists it) or its token."""
    answer = settings.account.unshare(ref)
    if settings.json:
        emit_json({"id": ref, **answer})
    elif settings.chatty:
        click.echo(f"link {ref} revoked")
