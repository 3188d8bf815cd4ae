"""Idle and slow clients against real gunicorn workers: thousands of half-open
connections leave reads fast, heads and bodies have bounded times, an address may be
capped, and the fast path answers at the HTTP level as gunicorn and Flask do."""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from localcluster.launcher import Cluster, Role, wait_until

HALF_OPEN = 2000
HALF_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: never complete
# Every connection of the capacity test, both ends in this process's table or the roles'.
FILES_NEEDED = 2 * HALF_OPEN + 1000


@contextlib.contextmanager
def open_file_limit(soft: int) -> Iterator[None]:
    """This process's soft RLIMIT_NOFILE set to ``soft`` (at most the hard one) meanwhile;
    processes started meanwhile inherit it."""
    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < soft:
        pytest.skip(f"the hard open file limit {hard} is below {soft}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (before, hard))


@contextlib.contextmanager
def held(
    port: int, count: int, data: bytes = HALF_HEAD, source: str = "127.0.0.1"
) -> Iterator[list[socket.socket]]:
    """``count`` connections to ``port``, each having sent ``data``, made within 20 s;
    all closed after."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + 20
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(socks)} of {count} connections made in 20 s")
            sock = socket.create_connection(("127.0.0.1", port), 5, (source, 0))
            socks.append(sock)
            sock.sendall(data)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def wait_closed(sock: socket.socket, deadline: float) -> tuple[float, bytes]:
    """Seconds until the peer closes ``sock`` (at most ``deadline``), and what it sent."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.05)
    while time.monotonic() - started < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        return deadline, received
    return time.monotonic() - started, received


def is_open(sock: socket.socket) -> bool:
    """True while the peer has neither closed ``sock`` nor sent anything on it."""
    sock.settimeout(0)
    try:
        return not sock.recv(1)  # b"": closed
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False


def timed_get(url: str, **kwargs: object) -> float:
    """GET ``url`` on a new connection; its seconds (it must answer 2xx or 3xx)."""
    started = time.monotonic()
    response = requests.get(url, timeout=5, allow_redirects=False, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 400, (url, response.status_code, response.text[:200])
    return time.monotonic() - started


def error_of(answer: bytes) -> tuple[int, str, bytes]:
    """(status, error code, content type) of a raw answer in our JSON error shape."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), json.loads(body)["error"]["code"], headers[b"content-type"]


def put(node_url: str, body: bytes) -> str:
    reply = requests.put(f"{node_url}/upload", params={"name": "c.bin"}, data=body, timeout=10)
    reply.raise_for_status()
    return str(reply.json()["hash"])


@pytest.fixture(scope="module")
def held_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and two nodes started with the usual soft limit of 1024 open files (`mdbx
    serve` raises it), half-open heads held 30 s, and nodes probed every half second."""
    env = {
        "MDBX_HEADER_TIMEOUT": "30",
        # A node that stops answering would stay up for a minute by its heartbeats alone.
        "MDBX_NODE_TIMEOUT": "60",
        "MDBX_NODE_PROBE_INTERVAL": "0.5",
        "MDBX_NODE_PROBE_TIMEOUT": "1",
    }
    cluster = Cluster(tmp_path_factory.mktemp("held"), env=env)
    try:
        with open_file_limit(1024):
            cluster.start(nodes=2)
        yield cluster
    finally:
        cluster.kill()


def test_thousands_of_half_open_connections_leave_reads_fast(held_cluster: Cluster):
    node, master = held_cluster.nodes[0], held_cluster.master
    limits = Path(f"/proc/{node.process.pid}/limits").read_text()  # type: ignore[union-attr]
    soft = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert int(soft.split()[3]) > FILES_NEEDED
    digest = put(node.url, b"kept while 2,000 clients hang")
    reads = [
        f"{node.url}/retrieve?hash={digest}",
        f"{node.url}/health",
        f"{master.url}/health",
        f"{master.url}/download?hash={digest}",
    ]
    started = time.monotonic()
    with (
        open_file_limit(FILES_NEEDED + 1000),
        held(node.port, HALF_OPEN) as on_node,
        held(master.port, HALF_OPEN) as on_master,
    ):
        assert time.monotonic() - started < 15
        for _round in range(3):
            for url in reads:
                assert timed_get(url) < 1, url
        # Still held, not dropped: the reads got through beside them; and the master's
        # probes of the node got through too.
        assert all(is_open(sock) for sock in on_node[::50] + on_master[::50])
        assert node_state(master, node) == "up"
    assert time.monotonic() - started < 30


def node_state(master: Role, node: Role) -> str:
    states = {n["id"]: n["state"] for n in requests.get(f"{master.url}/nodes", timeout=5).json()}
    return str(states[str(node.port)])


def test_a_node_that_beats_but_does_not_answer_gets_no_reads_until_it_answers(
    held_cluster: Cluster,
):
    master = held_cluster.master
    stopped, serving = held_cluster.nodes
    payload = b"two copies, one of them on a node about to stop"
    reply = requests.post(f"{master.url}/upload", files={"file": ("s.bin", payload)}, timeout=10)
    assert reply.json()["copies"] == 2
    digest = reply.json()["hash"]
    download = f"{master.url}/download?hash={digest}"
    # Stopped, the node's kernel still accepts connections, and nothing answers them;
    # its heartbeats stop too, but NODE_TIMEOUT (60 s) keeps it "up" by them.
    stopped.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        # A proxied read that tries it first gives up after the read timeout (3 s).
        read = requests.get(download + "&proxy=1", timeout=10)
        assert read.content == payload and time.monotonic() - started < 5
        wait_until(lambda: node_state(master, stopped) == "unresponsive", deadline=5)
        assert time.monotonic() - started < 6
        assert node_state(master, serving) == "up"
        for _ in range(10):  # both workers of the master leave it out, every time
            assert timed_get(download + "&proxy=1") < 1
            redirect = requests.get(download, allow_redirects=False, timeout=5)
            assert redirect.headers["Location"].startswith(serving.url + "/")
            assigned = requests.post(f"{master.url}/assign?count=2", timeout=5).json()
            assert [n["url"] for n in assigned["nodes"]] == [serving.url]
        assert requests.get(f"{master.url}/cluster/health", timeout=5).json()["nodes_up"] == 1
    finally:
        stopped.signal(signal.SIGCONT)
    wait_until(lambda: node_state(master, stopped) == "up", deadline=10)
    redirects = {
        requests.get(download, allow_redirects=False, timeout=5).headers["Location"].split("/")[2]
        for _ in range(20)
    }
    assert len(redirects) == 2  # both replicas again (each a 1 in 2 chance per read)


@pytest.fixture(scope="module")
def timed_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and a node whose heads, idle waits and body reads end after 1-3 s."""
    env = {"MDBX_HEADER_TIMEOUT": "1", "MDBX_IDLE_TIMEOUT": "3", "MDBX_READ_TIMEOUT": "1"}
    cluster = Cluster(tmp_path_factory.mktemp("timed"), env=env).start(nodes=1)
    try:
        yield cluster
    finally:
        cluster.kill()


def silence_after(port: int, *sends: bytes) -> tuple[float, bytes]:
    """Connect, send each of ``sends`` 0.3 s apart, then wait for the peer to close:
    (seconds from the last send, what it sent)."""
    with held(port, 1, sends[0]) as (sock,):
        for data in sends[1:]:
            time.sleep(0.3)
            sock.sendall(data)
        return wait_closed(sock, 6)


def at_once(*calls: tuple[object, ...]) -> list[tuple[float, bytes]]:
    """``silence_after(*call)`` for every call, side by side."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: silence_after(*call), calls))  # type: ignore[arg-type]


def test_a_head_gets_header_timeout_on_either_loop_and_an_idle_connection_idle_timeout(
    timed_cluster: Cluster,
):
    node = timed_cluster.nodes[0]
    digest = put(node.url, b"timed")
    fast = f"GET /retrieve?hash={digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    flask = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"  # the fast path declines it
    # What each connection sends, 0.3 s apart, before it goes silent.
    cases = {
        "nothing": (b"",),
        "half a first head": (HALF_HEAD,),
        "half a head after a fast answer": (fast, HALF_HEAD),
        "half a head after a Flask answer": (flask, HALF_HEAD),  # on gunicorn's loop
        # gunicorn's loop has the next head's start in its buffer before it waits.
        "half a head pipelined behind a Flask request": (flask + HALF_HEAD,),
        "idle after a Flask answer": (flask,),
    }
    results = at_once(*((node.port, *sends) for sends in cases.values()))
    for case, (seconds, received) in zip(cases, results, strict=True):
        assert received.count(b"HTTP/1.1 200") == sum(s.count(b"\r\n\r\n") for s in cases[case])
        if case.startswith("idle"):
            assert 2.5 <= seconds < 5, (case, seconds)  # IDLE_TIMEOUT, 3 s
        else:
            assert 0.8 <= seconds < 2.5, (case, seconds)  # HEADER_TIMEOUT, 1 s


def test_a_body_shorter_than_its_length_gets_the_same_408_on_every_path(
    timed_cluster: Cluster,
):
    node, master = timed_cluster.nodes[0], timed_cluster.master
    json_head = "POST {} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    cases = {
        "node fast path": (
            node.port,
            b"PUT /upload?name=s HTTP/1.1\r\nContent-Length: 100\r\n\r\n",
        ),
        "node Flask": (
            node.port,
            b"POST /upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 1000\r\n\r\n--b\r\n"
            b'Content-Disposition: form-data; name="file"; filename="s"\r\n\r\n',
        ),
        "master fast path": (master.port, json_head.format("/nodes/register").encode()),
        "master Flask": (master.port, json_head.format("/register").encode()),
    }
    results = at_once(*((port, head + b'{"a":') for port, head in cases.values()))
    for case, (seconds, answer) in zip(cases, results, strict=True):
        # READ_TIMEOUT (1 s) after the last byte, then the answer and the connection's end.
        assert 0.8 <= seconds < 3, (case, seconds)
        assert error_of(answer) == (408, "request_timeout", b"application/json"), case


@pytest.mark.parametrize(
    "fields",
    [
        {"X-Long": "a" * 9 * 1024},  # one field of 9 KiB (the limit is 8190 bytes)
        {f"X-Field-{n}": "1" for n in range(200)},  # 200 fields (the limit is 100)
    ],
    ids=["9 KiB field", "200 fields"],
)
def test_a_head_beyond_the_limits_gets_the_same_431_from_node_and_master(cluster, fields):
    node, master = cluster.nodes[0], cluster.master
    digest = put(node.url, b"limits")
    targets = [
        f"{node.url}/retrieve?hash={digest}",  # the node's fast path would take it
        f"{node.url}/health",
        f"{master.url}/health",
    ]
    for url in targets:
        response = requests.get(url, headers=fields, timeout=10)
        assert response.status_code == 431, url
        assert response.headers["Content-Type"] == "application/json", url
        assert response.json()["error"]["code"] == "request_header_fields_too_large", url
    assert requests.post(f"{master.url}/assign", headers=fields, timeout=10).status_code == 431


def test_a_request_line_beyond_the_limit_gets_the_same_414_from_node_and_master(cluster):
    """schemathesis found it (tests/api/test_fuzz_findings.py): 414 for any operation,
    listed by every one, its code in snake_case as every other."""
    query = "x" * 5000  # the request line's limit is 4094 bytes
    for url in (f"{cluster.nodes[0].url}/retrieve", f"{cluster.master.url}/api/search"):
        response = requests.get(url, params={"q": query}, timeout=10)
        assert response.status_code == 414, url
        assert response.headers["Content-Type"] == "application/json", url
        assert response.json()["error"]["code"] == "request_uri_too_long", url


def test_connections_over_the_per_address_cap_are_closed_at_accept(spawn):
    cluster: Cluster = spawn(nodes=0)
    node = cluster.add_node(env={"MDBX_MAX_CONNECTIONS_PER_ADDRESS": "5"})
    cluster.wait_nodes_up()
    with held(node.port, 5, source="127.0.0.2") as kept:
        # A sixth from that address is closed at once, unread and unanswered...
        with held(node.port, 1, HALF_HEAD, source="127.0.0.2") as (extra,):
            seconds, received = wait_closed(extra, 5)
        assert seconds < 1 and received == b""
        # ... while other addresses are served, and those five stay open.
        assert timed_get(f"{node.url}/health") < 1
        assert all(is_open(sock) for sock in kept)
        kept.pop().close()
        # One closed: that address may connect again (the count is back under the cap).
        deadline = time.monotonic() + 5
        while True:
            with held(node.port, 1, b"GET /health HTTP/1.1\r\n\r\n", "127.0.0.2") as (again,):
                _seconds, received = wait_closed(again, 2)
            if received.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
        assert received.startswith(b"HTTP/1.1 200")


def test_a_graceful_stop_ends_idle_kept_alive_connections_at_once(spawn):
    # Kept-alive connections waiting for their next request, one after a fast-path answer
    # (POST /assign) and one after a Flask view's (GET /nodes), held the worker to the
    # end of GRACEFUL_TIMEOUT (5 s here) before a stop closed them.
    cluster = spawn(nodes=1, env={"MDBX_GRACEFUL_TIMEOUT": "5"})
    master = cluster.master.url
    sessions = [requests.Session() for _ in range(4)]
    for index, http in enumerate(sessions):
        if index % 2:
            assert http.post(f"{master}/assign", timeout=10).status_code == 200
        else:
            assert http.get(f"{master}/nodes", timeout=10).status_code == 200
    started = time.monotonic()
    assert cluster.master.stop() == 0
    stopped_in = time.monotonic() - started
    assert stopped_in < 3.0, f"the stop took {stopped_in:.2f}s"
    # Each connection ended as closed, not as an error logged with its traceback.
    log = cluster.master.log_path.read_text()
    assert "Socket error processing request" not in log and "Traceback" not in log, log
