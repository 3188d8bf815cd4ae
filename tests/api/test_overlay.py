"""Each role's overlay table names real Flask endpoints, and those views say they are overlaid."""

from __future__ import annotations

import hashlib
import inspect
import os

import pytest

from app.master import overlay as master_overlay
from app.node import overlay as node_overlay
from app.security import READ, sign_url
from app.server.connection import FAST_PATH, FastRequest
from app.server.overlay import Overlay
from tests.support.apps import make_client

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


def test_a_secured_read_is_decided_by_the_hooks_rule_on_both_paths(make_node_app):
    """NodeAccess.authorize decides for the hook and the overlay: the cluster header
    opens a read on either, a wrong one closes it even beside a valid token."""
    secret = "s" * 32
    app = make_node_app(CLUSTER_SECRET=secret)
    client = make_client(app)
    body = b"secured read"
    digest = hashlib.sha256(body).hexdigest()
    client.put("/upload?register=0", data=body, headers={"X-Mdbx-Cluster-Secret": secret})
    handler = app.extensions[FAST_PATH].handler
    plain = f"/retrieve?hash={digest}"
    signed = sign_url(plain, secret, READ, digest, 60)
    cluster = {"X-Mdbx-Cluster-Secret": secret}
    wrong = {"X-Mdbx-Cluster-Secret": "w" * 32}

    def fast(target: str, headers: dict[str, str]):
        fields = {k.lower().encode(): v.encode() for k, v in headers.items()}
        answer = handler(FastRequest(b"GET", target.encode(), fields))
        if answer is not None:
            os.close(answer.fd)
        return answer

    for target, headers in ((plain, cluster), (signed, {})):
        answer = fast(target, headers)
        assert answer is not None and (answer.status, answer.size) == (200, len(body))
        assert client.get(target, headers=headers).status_code == 200
    assert fast(signed, wrong) is None  # the view refuses it, as before the token
    assert client.get(signed, headers=wrong).status_code == 403
