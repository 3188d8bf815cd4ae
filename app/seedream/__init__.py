"""Seedream image generation on the master: blueprint, service, API client, input checks."""

from flask import Blueprint

bp = Blueprint("seedream", __name__, url_prefix="/seedream")

from app.seedream import routes  # noqa: E402,F401  (registers the views on bp)
