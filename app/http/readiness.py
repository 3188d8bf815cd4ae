"""``/ready`` and ``/metrics`` answers, the same on every role."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, current_app, jsonify

from app.metrics.exposition import render_metrics

# app.extensions key of the role's scrape-time facts (built by its wiring).
METRIC_FACTS = "mdbx.metric_facts"


def readiness_answer(role: str, problems: Mapping[str, str | None]) -> tuple[Response, int]:
    """200 when no check found a problem, else 503 naming each, with the error shape too
    (``not_ready``) for clients that read only that."""
    checks = {name: problem or "ok" for name, problem in problems.items()}
    failing = {name: problem for name, problem in problems.items() if problem}
    if not failing:
        return jsonify({"status": "ready", "role": role, "checks": checks}), 200
    message = "; ".join(f"{name}: {problem}" for name, problem in failing.items())
    body = {
        "status": "not ready",
        "role": role,
        "checks": checks,
        "failing": list(failing),
        "error": {"code": "not_ready", "message": message},
    }
    return jsonify(body), 503


def metrics_answer() -> Response:
    """Every worker's counters and the role's facts, in Prometheus' text format."""
    body, content_type = render_metrics(current_app.extensions[METRIC_FACTS])
    return Response(body, content_type=content_type)
