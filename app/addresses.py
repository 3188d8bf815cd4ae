"""What the host a role binds to means: whether only this machine reaches it, how a URL
spells it, and the URL others reach it by when none is configured (pure)."""

from __future__ import annotations

import ipaddress
import socket


def is_loopback(host: str) -> bool:
    """Tell whether binding ``host`` keeps a role reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def url_host(host: str) -> str:
    """Spell ``host`` as a URL or gunicorn bind needs it (an IPv6 literal in brackets)."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]" if is_v6 else host


def default_public_url(host: str, port: int) -> str:
    """How others reach a role bound to ``host``: a wildcard bind is named by the FQDN."""
    if host in ("0.0.0.0", "::", ""):
        # Not the wildcard itself, which no client can connect to; set PUBLIC_URL when
        # other machines cannot resolve this name.
        host = socket.getfqdn()
    return f"http://{url_host(host)}:{port}"
