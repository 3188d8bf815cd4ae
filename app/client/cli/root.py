"""The root ``mdbx`` group: the options every command shares, and the list of commands.

Two families: the logged-in user's own tree (``ls``, ``put``, ``get``, ... on ``/api/``),
and the reference design's global content-addressed catalogue under ``blobs``.
``serve`` runs a role (``mdbx serve`` is started apart by ``app.client.launch``, listed
here for ``--help``); every other command talks to a running cluster.
"""

from __future__ import annotations

import click

from app.client.cli import account, admin, blobs, cluster, recovery, sharing, sync, tree
from app.client.cli.command import Settings
from app.client.credentials import DEFAULT_MASTER
from app.server.command import serve


@click.group(
    epilog="Exit codes: 0 ok, 1 failed (status: cluster unhealthy), 2 usage error or master "
    "unreachable or not logged in, 3 file not found, 4 sync stopped before deleting too "
    "much, 130 interrupted.",
    commands=[
        tree.ls,
        tree.put,
        tree.get,
        tree.mv,
        tree.cp,
        tree.rm,
        tree.mkdir,
        recovery.trash,
        recovery.restore,
        recovery.versions,
        sharing.share,
        sharing.shares,
        sharing.unshare,
        tree.quota,
        sync.sync,
        blobs.blobs,
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
    """Mini-Dropbox: a content-addressed, replicated file store.

    Commands act on your files after `mdbx login`; `mdbx blobs` is the hash catalogue.
    """
    ctx.obj = Settings(master, as_json, quiet, parallel)
