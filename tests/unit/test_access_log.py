"""The fast loop's access lines: gunicorn's format and atoms, one record per request."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from gunicorn.glogging import Logger as GunicornLogger

from app.gunicorn_worker import FastGeventWorker


def worker(line_format: str, records: list[logging.LogRecord]) -> SimpleNamespace:
    logger = logging.getLogger(f"test.access.{len(line_format)}.{id(records)}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    log = SimpleNamespace(
        access_log=logger,
        atoms_wrapper_class=GunicornLogger.atoms_wrapper_class,
        now=lambda: "[25/Nov/2026:10:00:00 +0000]",
    )
    return SimpleNamespace(cfg=SimpleNamespace(access_log_format=line_format), log=log, pid=7)


@pytest.mark.parametrize(
    ("line_format", "expected"),
    [
        ('%(h)s "%(r)s" %(s)s %(B)s %(M)sms', '10.0.0.1 "GET /x?a=1 HTTP/1.1" 200 512 12ms'),
        ("%(t)s %(m)s %(U)s %(q)s %(p)s %(z)s", "[25/Nov/2026:10:00:00 +0000] GET /x a=1 <7> -"),
    ],
)
def test_a_line_in_the_configured_format(line_format, expected):
    records: list[logging.LogRecord] = []
    FastGeventWorker._log_access(
        worker(line_format, records),  # type: ignore[arg-type]
        "10.0.0.1",
        "GET /x?a=1 HTTP/1.1",
        200,
        512,
        0.0125,
    )
    assert [record.getMessage() for record in records] == [expected]
