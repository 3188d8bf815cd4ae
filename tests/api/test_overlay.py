"""Each role's overlay table names real Flask endpoints, and those views say they are overlaid."""

from __future__ import annotations

import inspect

import pytest

from app.master import overlay as master_overlay
from app.node import overlay as node_overlay
from app.server.connection import FAST_PATH
from app.server.overlay import Overlay

ROLES = [("master_app", master_overlay), ("node_app", node_overlay)]


@pytest.mark.parametrize("fixture, module", ROLES)
def test_every_overlay_route_shadows_a_flask_endpoint_with_its_method_and_path(
    request, fixture, module
):
    app = request.getfixturevalue(fixture)
    role = app.config["ROLE"]
    assert module.OVERLAY
    for route in module.OVERLAY:
        assert route.endpoint.startswith(f"{role}."), route
        rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == route.endpoint]
        assert any(
            rule.rule == route.path and route.method in (rule.methods or ()) for rule in rules
        ), f"{route.method} {route.path} is not a route of {route.endpoint}"
    keys = [(route.method, route.path) for route in module.OVERLAY]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("fixture, module", ROLES)
def test_the_views_the_overlay_shadows_say_so_and_no_others(request, fixture, module):
    app = request.getfixturevalue(fixture)
    shadowed = {route.endpoint for route in module.OVERLAY}
    mark = f"# overlaid: {module.__name__} OVERLAY"
    for endpoint, view in app.view_functions.items():
        says = mark in (inspect.getcomments(view) or "")
        assert says == (endpoint in shadowed), endpoint


@pytest.mark.parametrize("fixture, module", ROLES)
def test_the_worker_is_offered_the_declared_table(request, fixture, module):
    app = request.getfixturevalue(fixture)
    handler = app.extensions[FAST_PATH].handler
    assert isinstance(handler, Overlay)
    assert handler.routes == module.OVERLAY
