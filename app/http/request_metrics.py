"""Every Flask answer counted in the request metrics, as the overlay counts its own."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from app.metrics.families import UNMATCHED, observe_request


def install_request_metrics(app: Flask) -> None:
    """Count each request by its endpoint once its response is closed (its body sent:
    a download's seconds are its transfer's), with the bytes its Content-Length gave."""

    @app.before_request
    def _start_clock() -> None:
        g.mdbx_started = time.perf_counter()

    @app.after_request
    def _count_on_close(response: Response) -> Response:
        started = g.get("mdbx_started") or time.perf_counter()
        rule = request.url_rule
        endpoint = rule.endpoint if rule is not None else UNMATCHED
        bytes_in = request.content_length or 0
        status = response.status_code

        def count() -> None:
            seconds = time.perf_counter() - started
            observe_request(endpoint, status, seconds, bytes_in, response.content_length or 0)

        response.call_on_close(count)
        return response
