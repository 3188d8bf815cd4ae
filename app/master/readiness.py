"""What the master needs to serve (``/ready``): its metadata answers, and enough nodes
are live to take a write of R copies."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.master.service import MasterService


def master_problems(master: MasterService) -> dict[str, str | None]:
    """Each check's problem, or None when it passes."""
    try:
        master.store.count_files()
        nodes = master.cluster.list_nodes()
    except Exception as exc:  # SQLite or PostgreSQL, each with its own errors: name it
        return {
            "metadata": f"the metadata database does not answer ({type(exc).__name__})",
            "nodes": "unknown: the metadata database does not answer",
        }
    now = time.time()
    live = sum(node.is_serving(now, master.node_timeout) for node in nodes)
    wanted = master.replication
    nodes_problem = (
        None
        if live >= wanted
        else f"{live} live node{'s' * (live != 1)}, {wanted} needed for a write (R={wanted})"
    )
    return {"metadata": None, "nodes": nodes_problem}
