"""The master role: the file catalogue and the cluster's coordinator."""

from flask import Blueprint

bp = Blueprint("master", __name__)

from app.master import auth, routes  # noqa: E402,F401  (register the hook and views on bp)
