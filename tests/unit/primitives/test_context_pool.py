"""Tasks of a ContextThreadPool see what the submitter set in its context variables."""

from __future__ import annotations

from contextvars import ContextVar

from app.primitives.context_pool import ContextThreadPool

name: ContextVar[str] = ContextVar("name", default="unset")


def test_submitted_and_mapped_tasks_see_the_callers_context():
    name.set("request-7")
    with ContextThreadPool(max_workers=2) as pool:
        assert pool.submit(name.get).result() == "request-7"
        assert list(pool.map(lambda _: name.get(), range(4))) == ["request-7"] * 4
    name.set("request-8")  # a later caller's value, not the first one's
    with ContextThreadPool(max_workers=1) as pool:
        assert pool.submit(name.get).result() == "request-8"
