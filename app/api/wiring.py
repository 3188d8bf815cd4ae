"""The per-user API's wiring, called by the factory only: its stores on the master's
engine, the UserApi over the master service, the admin token check of the secured mode,
and the rate limits on password guesses."""

from __future__ import annotations

from flask import Flask

from app.api.limits import install_rate_limits
from app.api.service import EXTENSION, UserApi
from app.master.service import MasterService
from app.metadata.accounts import UserStore
from app.metadata.namespace import NamespaceStore
from app.metadata.shares import ShareStore
from app.security import ADMIN_TOKEN_CHECK


def init_app(app: Flask, master: MasterService) -> None:
    """Wire the stores on the master's engine; register the admin check for the
    secured global API; limit password guesses (after the views exist: it wraps them)."""
    engine = master.store.engine
    api = UserApi(
        UserStore(engine),
        NamespaceStore(engine),
        ShareStore(engine),
        master,
        cluster_secret=app.config.get("CLUSTER_SECRET", ""),
        public_url=app.config["PUBLIC_URL"],
    )
    app.extensions[EXTENSION] = api
    app.extensions[ADMIN_TOKEN_CHECK] = api.is_admin_token
    install_rate_limits(app)
