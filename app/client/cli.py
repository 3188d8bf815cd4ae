"""The ``mdbx`` command line."""

from __future__ import annotations

import click

from app.config import ROLES


@click.group()
def main() -> None:
    """Mini-Dropbox: a content-addressed, replicated file store."""


@main.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option("--host", help="Address to bind (default 127.0.0.1).")
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
    from app.serve import serve as run_role  # gunicorn is needed only here

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
    run_role(role, {key: str(value) for key, value in flags.items() if value is not None})
