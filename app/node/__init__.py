"""The storage node role: stores blobs, serves them, and tells the master what it holds."""

from flask import Blueprint

bp = Blueprint("node", __name__)

from app.node import auth, routes  # noqa: E402,F401  (register the hook and views on bp)
