"""``mdbx admin user ...``: create, list, disable users and set their quotas."""

from __future__ import annotations

from typing import Any

import click

from app.client.cli.account import read_password
from app.client.cli.backup import backup, recover, restore
from app.client.cli.command import Settings, cluster_command
from app.client.cli.render import emit_json, human_size, render_table


@cluster_command()
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


@cluster_command("list")
def list_users(settings: Settings) -> None:
    """List users with their quota and usage."""
    show_users(settings, settings.client.users())


@cluster_command()
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable again instead.")
def disable(settings: Settings, username: str, enable: bool) -> None:
    """Disable a user (their tokens are revoked) or, with --enable, enable them."""
    show_users(settings, [settings.client.change_user(username, disabled=not enable)])


@cluster_command()
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


@click.group(commands=[add, list_users, disable, quota])
def user() -> None:
    """Manage users."""


@click.group(commands=[user, backup, restore, recover])
def admin() -> None:
    """Administration (loopback in open mode; else an admin's token or the cluster secret)."""
