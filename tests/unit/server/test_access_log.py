"""The fast loop's access lines: gunicorn's format and atoms; one record per request, or
held and written together (AccessLines) where that writes the same bytes."""

from __future__ import annotations

import io
import logging
import logging.handlers
from types import SimpleNamespace

import pytest
from gunicorn.glogging import Logger as GunicornLogger

from app.server.access_log import AccessLines
from app.server.worker import FastGeventWorker


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
    return SimpleNamespace(
        cfg=SimpleNamespace(access_log_format=line_format), log=log, pid=7, _access_lines=None
    )


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


def stream_logger(name: str, fmt: str = "%(message)s") -> tuple[logging.Logger, io.StringIO]:
    """An access logger as gunicorn sets one up for ``accesslog = "-"``, printing to a buffer."""
    logger = logging.getLogger(f"test.access.stream.{name}")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    return logger, out


def test_held_lines_are_written_as_the_same_bytes_once_flushed():
    logger, out = stream_logger("held")
    lines = AccessLines(logger)
    for n in range(3):
        lines.add(f'10.0.0.1 "GET /x?p=100% HTTP/1.1" 200 {n}')
    assert out.getvalue() == ""
    lines.flush()
    lines.flush()  # nothing more to write
    assert out.getvalue() == "".join(
        f'10.0.0.1 "GET /x?p=100% HTTP/1.1" 200 {n}\n' for n in range(3)
    )


def test_lines_go_out_once_the_buffer_is_full():
    logger, out = stream_logger("full")
    lines = AccessLines(logger, max_bytes=20)
    lines.add("a" * 9)
    assert out.getvalue() == ""
    lines.add("b" * 9)  # 20 bytes with their newlines
    assert out.getvalue() == "a" * 9 + "\n" + "b" * 9 + "\n"


def test_only_stream_handlers_printing_the_bare_message_are_written_in_batches():
    logger, _out = stream_logger("plain")
    assert AccessLines.suits(logger)
    other_format, _ = stream_logger("formatted", fmt="%(asctime)s %(message)s")
    assert not AccessLines.suits(other_format)
    syslog, _ = stream_logger("syslog")
    syslog.addHandler(logging.handlers.BufferingHandler(10))
    assert not AccessLines.suits(syslog)
    propagating, _ = stream_logger("propagating")
    propagating.propagate = True
    assert not AccessLines.suits(propagating)


def test_a_worker_with_held_lines_adds_to_them_instead_of_logging_each():
    records: list[logging.LogRecord] = []
    held = worker('%(h)s "%(r)s" %(s)s', records)
    logger, out = stream_logger("worker")
    held._access_lines = AccessLines(logger)
    for _ in range(2):
        FastGeventWorker._log_access(held, "10.0.0.1", "GET / HTTP/1.1", 200, 5, 0.001)  # type: ignore[arg-type]
    assert records == [] and out.getvalue() == ""
    held._access_lines.flush()
    assert out.getvalue() == '10.0.0.1 "GET / HTTP/1.1" 200\n' * 2


def test_the_clusters_own_calls_get_a_fast_path_line_at_debug_only():
    from app.cluster.agent import USER_AGENT

    for level, expected in (("info", 1), ("debug", 2)):
        records: list[logging.LogRecord] = []
        held = worker('"%(r)s"', records)
        held.cfg.loglevel = level
        for agent in ("curl/8.5.0", USER_AGENT):
            FastGeventWorker._log_access(
                held,  # type: ignore[arg-type]
                "10.0.0.1",
                "POST /nodes/register HTTP/1.1",
                200,
                5,
                0.001,
                agent,
            )
        assert len(records) == expected, level


def test_gunicorns_loop_leaves_the_clusters_calls_out_below_debug():
    from app.cluster.agent import USER_AGENT
    from app.server.access_log import is_shown

    assert is_shown("python-requests/2.32", "info")
    assert not is_shown(USER_AGENT, "info")
    assert is_shown(USER_AGENT, "DEBUG")
