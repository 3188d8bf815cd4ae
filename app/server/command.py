"""``mdbx serve``: run one role under gunicorn with gevent workers.

Kept apart from the client's commands, and started apart by ``app.client.launch``: gevent
patches ssl in each worker, and a module imported before that (urllib3, through the
client's requests) would keep the unpatched one for the worker's TLS connections.
"""

from __future__ import annotations

import click

from app.config import ROLES, ConfigError


@click.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option(
    "--host",
    help="Address to bind (default 127.0.0.1). Any other needs MDBX_CLUSTER_SECRET.",
)
@click.option("--port", type=click.IntRange(0, 65535), help="TCP port (master 9000, node 8001).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where this role keeps data.")
@click.option("--master", "master_url", help="Master URL a node reports to.")
@click.option("--node-id", help="Replica name of a node (default: its port).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn gevent workers.")
def serve(
    role: str,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    master_url: str | None,
    node_id: str | None,
    workers: int | None,
) -> None:
    """Run ROLE (master or node) under gunicorn with gevent workers."""
    from app.server.application import serve as run_role  # gunicorn is needed only here

    flags = {
        "HOST": host,
        "PORT": port,
        "DATA_DIR": data_dir,
        "MASTER": master_url,
        "NODE_ID": node_id,
        "WORKERS": workers,
    }
    if role == "master" and (master_url or node_id):
        raise click.UsageError("--master and --node-id apply to nodes only")
    try:
        run_role(role, {key: str(value) for key, value in flags.items() if value is not None})
    except ConfigError as exc:
        # Checked before gunicorn starts: one line and exit 1, not a traceback.
        raise click.ClickException(str(exc)) from None
