"""The bounds on client connections, apart from a worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.server.limits import AddressCap, HeadLimits, RequestFraming


def head(*fields: bytes, line: bytes = b"GET / HTTP/1.1") -> tuple[bytes, int]:
    data = b"\r\n".join([line, *fields]) + b"\r\n\r\n"
    return data, len(data) - 4


@pytest.mark.parametrize(
    ("fields", "line", "admitted"),
    [
        ([b"Host: x"], b"GET / HTTP/1.1", True),
        ([b"X-%d: 1" % n for n in range(99)], b"GET / HTTP/1.1", True),
        ([b"X-%d: 1" % n for n in range(100)], b"GET / HTTP/1.1", False),  # gunicorn decides
        ([b"X: " + b"a" * 8100], b"GET / HTTP/1.1", True),
        ([b"X: " + b"a" * 8190], b"GET / HTTP/1.1", False),
        ([b"Host: x"], b"GET /" + b"a" * 4094 + b" HTTP/1.1", False),
    ],
)
def test_head_limits_admit_only_what_gunicorn_surely_accepts(fields, line, admitted):
    assert HeadLimits().admits(*head(*fields, line=line)) is admitted


def test_the_address_cap_counts_open_connections_per_address():
    cap = AddressCap(2)
    assert cap.admit("a") and cap.admit("a") and cap.admit("b")
    assert not cap.admit("a") and cap.refused == 1
    cap.release("a")
    assert cap.admit("a")


def test_no_cap_admits_everything():
    cap = AddressCap(0)
    assert all(cap.admit("a") for _ in range(10_000))


def test_framing_tells_whether_the_bytes_end_within_a_request():
    framing = RequestFraming()
    framing.feed(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nab")
    assert framing.within  # the body is not all in
    framing.feed(b"c")
    assert not framing.within
    framing.feed(b"GET /b HTTP/1.1\r\nHo")  # a pipelined head begins
    assert framing.within
    framing.feed(b"st: x\r\n\r\n")
    assert not framing.within


def test_framing_that_cannot_follow_counts_as_within_a_request():
    framing = RequestFraming()
    framing.feed(b"\x00\x01 not http\r\n\r\n")
    assert framing.within


def test_the_soft_open_file_limit_is_raised_up_to_the_hard_one():
    code = (
        "import resource\n"
        "from app.server.limits import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "assert raise_open_file_limit(300) == 300\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE) == (300, hard)\n"
        "assert raise_open_file_limit(100) == 300  # never lowered\n"
        "if hard != resource.RLIM_INFINITY:\n"
        "    assert raise_open_file_limit(hard + 1000) == hard\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
