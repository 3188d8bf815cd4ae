"""The root ``mdbx`` group: the options every command shares, and the list of commands.

``serve`` runs a role (``mdbx serve`` is started apart by ``app.client.launch``, listed
here for ``--help``); every other command talks to a running cluster.
"""

from __future__ import annotations

import click

from app.client.api import DEFAULT_MASTER
from app.client.cli import account, admin, cluster, files
from app.client.cli.command import Settings
from app.server.command import serve


@click.group(
    epilog="Exit codes: 0 ok, 1 failed (status: cluster unhealthy), 2 usage error or master "
    "unreachable, 3 file not found, 130 interrupted.",
    commands=[
        files.put,
        files.sync,
        files.get,
        files.ls,
        files.stat,
        files.rm,
        cluster.status,
        account.login,
        account.logout,
        admin.admin,
        serve,
    ],
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
