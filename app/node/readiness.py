"""What a node needs to serve (``/ready``): its catalogue answers and its disk takes writes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.node.service import NodeService

PROBE_NAME = "ready-probe"


def node_problems(node: NodeService) -> dict[str, str | None]:
    """Each check's problem, or None when it passes."""
    return {"metadata": _catalogue_problem(node), "disk": _disk_problem(node)}


def _catalogue_problem(node: NodeService) -> str | None:
    try:
        node.catalog.stats()
    except Exception as exc:  # what the catalogue's engine raises varies: name it
        return f"the catalogue does not answer ({type(exc).__name__})"
    return None


def _disk_problem(node: NodeService) -> str | None:
    """A byte written (and removed) where uploads are written first, and free space left."""
    path = node.blobs.tmp_dir / f"{PROBE_NAME}-{os.getpid()}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
            os.unlink(path)
        free = node.blobs.free_bytes()
    except OSError as exc:
        return f"the data directory takes no write ({exc.strerror or exc})"
    if free <= 0:
        return "the data filesystem is full"
    return None
