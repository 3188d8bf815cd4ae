"""Each role's OpenAPI document (``GET /openapi.json``) names exactly the routes of its
``url_map`` and of its overlay table, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from app.factory import create_app
from app.master import overlay as master_overlay
from app.node import overlay as node_overlay
from app.openapi.document import openapi_document
from tests.support.apps import make_client
from tests.support.fuzzing import CHECKS, Tally, fuzz_operation

ROLES = [("master_app", master_overlay), ("node_app", node_overlay)]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def documented(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in HTTP_METHODS, (path, method)
            yield path, method.upper(), operation


def routed(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every rule, in OpenAPI's spelling: ``<path:name>`` is ``{name}``;
    the HEAD werkzeug adds to a GET and the OPTIONS Flask answers itself are left out."""
    found = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        found |= {(path, method) for method in methods}
    return found


@pytest.mark.parametrize("fixture, overlay", ROLES)
def test_the_document_names_every_route_and_no_other(request, fixture, overlay):
    app = request.getfixturevalue(fixture)
    document = openapi_document(app.config["ROLE"])
    spelled = {(path, method) for path, method, _ in documented(document)}
    rules = routed(app)
    assert rules - spelled == set(), "routes the document leaves out"
    assert spelled - rules == set(), "operations the app does not route"


@pytest.mark.parametrize("fixture, overlay", ROLES)
def test_the_overlay_tables_routes_are_the_documents_x_overlay_operations(
    request, fixture, overlay
):
    app = request.getfixturevalue(fixture)
    document = openapi_document(app.config["ROLE"])
    marked = {
        (path, method)
        for path, method, operation in documented(document)
        if operation.get("x-overlay")
    }
    assert marked == {(route.path, route.method) for route in overlay.OVERLAY}


@pytest.mark.parametrize("role", ["master", "node"])
def test_the_document_is_valid_openapi_3_1_with_valid_schemas(role):
    document = openapi_document(role)
    schemathesis.openapi.from_dict(document).validate()
    operation_ids = [operation["operationId"] for _, _, operation in documented(document)]
    assert len(operation_ids) == len(set(operation_ids))
    for path, method, operation in documented(document):
        named = set(re.findall(r"\{([^}]+)\}", path))
        parameters = operation.get("parameters", [])
        in_path = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
        assert named == in_path, (method, path)
        schemas = [parameter["schema"] for parameter in parameters]
        for response in operation["responses"].values():
            schemas += [media["schema"] for media in response.get("content", {}).values()]
        body = operation.get("requestBody", {})
        schemas += [media["schema"] for media in body.get("content", {}).values()]
        for schema in schemas:
            assert jsonschema_rs.meta.is_valid(schema), (method, path, schema)


def test_every_role_serves_its_document_to_anyone_even_in_secured_mode(tmp_path, make_node_app):
    secret = "s" * 32
    master = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "m"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": secret},
    )
    try:
        for app in (master, make_node_app(CLUSTER_SECRET=secret)):
            role = app.config["ROLE"]
            reply = make_client(app).get("/openapi.json")
            assert reply.status_code == 200, reply.data
            assert reply.json == openapi_document(role)
            assert reply.json["openapi"] == "3.1.0"
            assert reply.json["info"]["title"] == f"Mini-Dropbox {role}"
    finally:
        master.extensions["mdbx.master"].index.close()


@pytest.mark.parametrize("role", ["master", "node"])
def test_every_link_fills_parameters_its_target_has(role):
    document = openapi_document(role)
    operations = {operation["operationId"]: operation for _, _, operation in documented(document)}
    links = [
        link
        for operation in operations.values()
        for link in operation["responses"].get("200", {}).get("links", {}).values()
    ]
    assert len(links) >= 2
    for link in links:
        target = operations[link["operationId"]]
        names = {parameter["name"] for parameter in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= names, link
        if "requestBody" in link:
            schema = target["requestBody"]["content"]["application/json"]["schema"]
            assert set(link["requestBody"]) <= set(schema["properties"]), link


def test_the_heartbeat_the_live_run_leaves_out_conforms_on_a_master_of_its_own(master_app):
    """tests/e2e/test_openapi_fuzz.py leaves ``POST /nodes/heartbeat`` out (the nodes it
    would invent would take the live cluster's writes): fuzzed here, on a master alone."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", master_app).include(
        operation_id="heartbeat"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 1
    tally = Tally()

    def send(case: Any) -> int:
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        status: int = response.status_code
        return status

    fuzz_operation(operations[0], send, tally)
    assert tally.failures == [], "\n".join(tally.failures)
    statuses = tally.statuses["POST /nodes/heartbeat"]
    assert statuses[200] > 0 and statuses[400] > 0, statuses
