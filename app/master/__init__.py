"""The master role: the file catalogue and the cluster's coordinator."""

from flask import Blueprint

bp = Blueprint("master", __name__)

from app.master import routes  # noqa: E402,F401  (registers the views on bp)
