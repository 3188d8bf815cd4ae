"""Seedream's wiring, called by the factory only: the API client when a key is
configured, and the SeedreamService over the master service."""

from __future__ import annotations

import logging

from flask import Flask

from app.master.service import MasterService
from app.seedream.client import SeedreamClient
from app.seedream.service import EXTENSION, SeedreamService

log = logging.getLogger(__name__)


def init_app(app: Flask, master: MasterService) -> None:
    """Wire the Seedream client when a key is configured; report it on ``/health``.

    Without a key the master still starts: only ``/seedream/generate`` answers 503.
    """
    key = app.config["SEEDREAM_API_KEY"]
    client = None
    if key:
        client = SeedreamClient(
            key,
            app.config["SEEDREAM_BASE_URL"],
            timeout=app.config["SEEDREAM_TIMEOUT"],
            retries=app.config["SEEDREAM_RETRIES"],
        )
    app.extensions[EXTENSION] = SeedreamService(
        client, master, default_model=app.config["SEEDREAM_MODEL"]
    )
    master.health_details["seedream"] = "configured" if client else "not configured"
    if client is None:
        log.info("Seedream not configured (no SEEDREAM_API_KEY/ARK_API_KEY): generate is 503")
