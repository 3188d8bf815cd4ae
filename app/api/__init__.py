"""The per-user API (/api/...) and share links (/s/<token>): accounts, folders, versions,
trash and shares, served by the master."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import routes  # noqa: E402,F401  (registers the views on bp)
