"""``mdbx status``: the cluster's health and its nodes."""

from __future__ import annotations

from typing import Any

import click

from app.client.cli.command import Settings, cluster_command
from app.client.cli.render import emit_json, human_size, render_table


@cluster_command()
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
