"""``mdbx login`` and ``mdbx logout``: a user's token for one master, and passwords."""

from __future__ import annotations

import sys

import click

from app.client.cli.command import CommandFailed, Settings, cluster_command
from app.client.cli.render import emit_json


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


@cluster_command()
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def login(settings: Settings, username: str, password_stdin: bool) -> None:
    """Log in; the token is kept (0600) for later commands against this master."""
    answer = settings.client.login(username, read_password(password_stdin))
    if settings.json:
        emit_json({"username": answer["username"], "saved_to": answer["saved_to"]})
    elif settings.chatty:
        click.echo(f"logged in as {answer['username']} (token saved to {answer['saved_to']})")


@cluster_command()
def logout(settings: Settings) -> None:
    """Revoke this master's saved token and forget it."""
    forgotten = settings.client.logout()
    if settings.chatty:
        click.echo("logged out" if forgotten else "no saved token for this master")
