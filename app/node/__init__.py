"""The storage node role: stores blobs, serves them, and tells the master what it holds."""

from flask import Blueprint

bp = Blueprint("node", __name__)

from app.node import routes  # noqa: E402,F401  (registers the views on bp)
