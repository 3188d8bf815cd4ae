"""How the cluster's own calls name themselves: ``User-Agent: mdbx-cluster/<version>``.

Every client here (``master_client``, ``node_client``: heartbeats, registrations,
inventories, the probe's ``/health``, replication between nodes, the master's reads
from nodes) sends it, so that the access logs keep those calls at debug and a person
reading ``make run`` sees their own requests (``app.server.access_log``). It is a
label, not a credential: in secured mode the cluster header is what admits a call, and
a client that borrows the label only moves its own lines to the debug level.
"""

from __future__ import annotations

from importlib import metadata

AGENT_PREFIX = "mdbx-cluster/"


def _version() -> str:
    try:
        return metadata.version("mini-dropbox")
    except metadata.PackageNotFoundError:  # run from a source tree never installed
        return "0"


USER_AGENT = AGENT_PREFIX + _version()


def is_cluster_agent(user_agent: str) -> bool:
    """Whether a request's User-Agent says one role of the cluster sent it."""
    return user_agent.startswith(AGENT_PREFIX)
