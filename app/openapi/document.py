"""Each role's OpenAPI 3.1 document, put together from the front ends' path tables.

``ROLE_PATHS`` says which tables describe a role; tests/api/test_openapi.py checks that
together they name every rule of ``create_app(role).url_map`` and every route of the
role's overlay table, and nothing else.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from app.openapi import browser, cluster, feed, master, node, tus, user_api
from app.openapi.components import (
    CLIENT,
    ERROR_BODY,
    OPEN,
    SECURITY_SCHEMES,
    Operation,
    answer,
    operation,
)
from app.openapi.links import add_links

OPENAPI_PATH = "/openapi.json"

DESCRIPTIONS = {
    "master": "The master: the reference API, the global catalogue, the block upload "
    "protocol, the per-user API (/api/, tus at /api/tus/), share links (/s/), Seedream, "
    "the web app's pages and the cluster's own endpoints.",
    "node": "A storage node: blobs by their SHA-256, stored, served, replicated, scrubbed.",
}

ROLE_PATHS: dict[str, tuple[dict[str, dict[str, Operation]], ...]] = {
    "master": (
        master.PATHS,
        cluster.PATHS,
        user_api.PATHS,
        feed.PATHS,
        tus.PATHS,
        browser.PATHS,
    ),
    "node": (node.PATHS,),
}

SELF: dict[str, Operation] = {
    "get": operation(
        "openapi",
        "This document",
        answer(200, {"type": "object", "required": ["openapi", "paths"]}),
        CLIENT,
        security=OPEN,
    )
}


def _version() -> str:
    try:
        return version("mini-dropbox")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"


@cache
def _document(role: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Operation]] = {OPENAPI_PATH: SELF}
    for table in ROLE_PATHS[role]:
        overlap = paths.keys() & table.keys()
        if overlap:  # one front end's table must not hide another's operations
            raise ValueError(f"paths described twice for the {role}: {sorted(overlap)}")
        paths.update(table)
    # The tables are shared module data: the links go on a copy.
    paths = copy.deepcopy(paths)
    add_links(role, paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Mini-Dropbox {role}",
            "version": _version(),
            "description": DESCRIPTIONS[role],
        },
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_BODY}, "securitySchemes": SECURITY_SCHEMES},
    }


def openapi_document(role: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``role`` ("master" or "node"): a copy to change freely."""
    return copy.deepcopy(_document(role))
