"""The master's credential hook: calls to the master and Seedream views pass
``authorize_call`` (``app.master.access``), the rule the overlay applies to what it answers.

Paths under ``/api/`` and ``/s/`` check their own credentials. The admin token check is
``app.extensions[ADMIN_TOKEN_CHECK]``, registered by the accounts code. A request with
neither the cluster header nor a bearer token may carry the web app's session cookie
(the cluster page calls ``/nodes``, ``/cluster/health``, ``/cluster/repair`` that way):
it passes ``require_admin`` of ``app.http.identity``, the one rule for an administrator
behind a cookie, which asks a state-changing request for its CSRF token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import current_app, request

from app.http.identity import require_admin
from app.http.session_cookie import COOKIE_NAME
from app.master.access import CLUSTER_ENDPOINTS, authorize_call
from app.security import ADMIN_TOKEN_CHECK, CLUSTER_HEADER, bearer_token

GUARDED_BLUEPRINTS = frozenset({"master", "seedream"})
SELF_CHECKED_PATHS = ("/api/", "/s/")


def require_credentials() -> None:
    """Refuse (401/403) a request the secured mode does not allow (a hook on every request
    of the app, registered by the master blueprint: ``app.master.routes``)."""
    secret: str = current_app.config["CLUSTER_SECRET"]
    if (
        not secret
        or GUARDED_BLUEPRINTS.isdisjoint(request.blueprints)
        or request.path.startswith(SELF_CHECKED_PATHS)
    ):
        return
    if _is_cookie_call():
        require_admin()
        return
    check: Callable[[str], bool] | None = current_app.extensions.get(ADMIN_TOKEN_CHECK)
    authorize_call(
        secret,
        request.endpoint,
        presented=request.headers.get(CLUSTER_HEADER),
        bearer=bearer_token(request.headers.get("Authorization")),
        is_admin_token=check,
    )


def _is_cookie_call() -> bool:
    """Whether the request's only credential is a session cookie (for an endpoint that
    an administrator may call: the node-facing ones take the cluster header only)."""
    return (
        request.endpoint not in CLUSTER_ENDPOINTS
        and request.headers.get(CLUSTER_HEADER) is None
        and "Authorization" not in request.headers
        and bool(request.cookies.get(COOKIE_NAME))
    )


def caller_key() -> str:
    """Who is calling, for what one client may hold open: the admin token it presented
    (which ``require_credentials`` checked), else its address. In open mode no token is
    checked, so none counts; behind a proxy, clients without one share its address."""
    bearer = bearer_token(request.headers.get("Authorization"))
    if (
        bearer is not None
        and current_app.config["CLUSTER_SECRET"]
        and request.headers.get(CLUSTER_HEADER) is None
    ):
        return f"token:{hashlib.sha256(bearer.encode()).hexdigest()[:32]}"
    return f"addr:{request.remote_addr or ''}"
