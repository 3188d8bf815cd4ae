from __future__ import annotations

from flask import Flask

from app.errors import AppError, InvalidField, MissingField, TooManyRequests
from app.http.rendering import register_error_handlers
from tests.support.apps import make_client


def test_error_body_shape():
    assert MissingField("file").to_dict() == {
        "error": {"code": "missing_field", "message": "'file' is required", "field": "file"}
    }
    assert InvalidField("size", "bad", code="too_big").to_dict()["error"]["code"] == "too_big"


def test_every_error_class_has_a_status_and_snake_case_code():
    import app.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, AppError)]
    assert len(classes) > 10
    for cls in classes:
        assert 400 <= cls.status < 600
        assert cls.code.islower() and " " not in cls.code


def test_renderer_handles_app_errors_http_errors_and_crashes():
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/limited")
    def limited():
        raise TooManyRequests("slow down", headers={"Retry-After": "7"})

    @app.get("/crash")
    def crash():
        raise RuntimeError("secret internals")

    client = make_client(app)
    limited_response = client.get("/limited")
    assert limited_response.status_code == 429
    assert limited_response.headers["Retry-After"] == "7"
    assert limited_response.json["error"]["code"] == "too_many_requests"
    crashed = client.get("/crash")
    assert crashed.status_code == 500
    assert crashed.json == {"error": {"code": "internal_error", "message": "internal server error"}}
    assert b"secret" not in crashed.data
    missing = client.post("/crash")
    assert missing.status_code == 405 and missing.json["error"]["code"] == "method_not_allowed"
