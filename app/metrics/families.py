"""The metric families every role's processes count into, and the one call that counts
a request, from either path (the Flask views or the overlay below them).

prometheus-client keeps its families per process, as Prometheus' own clients do; under
gunicorn each worker writes them to its mmap'd files in ``PROMETHEUS_MULTIPROC_DIR``
(``app.metrics.process_dir``) and ``/metrics`` sums the files of every worker. So these
are module-level objects, made once per process, not per app (a test's second app
counts on). Labels are bounded: an endpoint is a Flask endpoint name or an overlay
route's declared one, never a raw path; a status is its class (``2xx``).

Facts about the cluster or the disk (nodes up, blobs degraded, bytes stored) are not
here: they are computed when scraped (``app.metrics.exposition``), so no worker's stale
gauge is summed with another's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from prometheus_client import Counter, Histogram

# Below a millisecond (an overlay read) up to a large upload streamed for a minute.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# The endpoint of a request no route matched (a 404 or 405 before any view).
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "mdbx_http_requests_total",
    "HTTP requests answered, by endpoint and status class.",
    ["endpoint", "status"],
)
LATENCY = Histogram(
    "mdbx_http_request_duration_seconds",
    "Seconds from a request's head read to its response sent, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
BYTES_IN = Counter(
    "mdbx_http_request_bytes_total",
    "Request body bytes received (as their Content-Length says), by endpoint.",
    ["endpoint"],
)
BYTES_OUT = Counter(
    "mdbx_http_response_bytes_total",
    "Response body bytes sent (as their Content-Length says), by endpoint.",
    ["endpoint"],
)
GC_COLLECTED = Counter(
    "mdbx_gc_blobs_collected_total",
    "Blobs the master's garbage collection purged (no file, upload or user item holds them).",
)
REPAIR_COPIES = Counter(
    "mdbx_repair_copies_total",
    "Copies the master's repair passes made (copied), removed (trimmed) or failed to make.",
    ["action"],
)
REPAIR_PASSES = Counter(
    "mdbx_repair_passes_total", "Repair passes run by the master, by trigger.", ["trigger"]
)
SEEDREAM_CALLS = Counter(
    "mdbx_seedream_calls_total",
    "Calls to the Seedream image API, by outcome (ok, or the error code answered).",
    ["outcome"],
)
SCRUB_CORRUPT = Counter(
    "mdbx_scrub_corrupt_blobs_total",
    "Blobs a node's scrub found rotten (quarantined, then repaired from a replica).",
)


class _Pending:
    """One endpoint's counts since the last flush, in plain numbers."""

    __slots__ = ("buckets", "bytes_in", "bytes_out", "by_class", "seconds")

    def __init__(self) -> None:
        self.by_class = [0] * 6  # index: the status' first digit
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: +Inf
        self.seconds = 0.0
        self.bytes_in = 0
        self.bytes_out = 0


class RequestCounts:
    """The request metrics of this process, added up in plain numbers and written to the
    families by ``flush`` (every second from the worker, and before each scrape).

    Measured under wrk, writing each request into the families (a lock, a pid check and
    an mmap write per value, four values a request) took a third more CPU per overlay
    read; adding numbers takes none of that. Only the hub's thread counts (requests are
    greenlets), so no lock: a swap of the table is the flush's only step that matters.
    """

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def observe(
        self, endpoint: str, status: int, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        """Count one answered request of ``endpoint`` (a declared name: bounded)."""
        pending = self._pending.get(endpoint)
        if pending is None:
            pending = self._pending[endpoint] = _Pending()
        klass = status // 100
        if 1 <= klass <= 5:
            pending.by_class[klass] += 1
        pending.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        pending.seconds += seconds
        pending.bytes_in += bytes_in
        pending.bytes_out += bytes_out

    def flush(self) -> None:
        """Write the counts since the last flush into the families."""
        pending, self._pending = self._pending, {}
        for endpoint, counts in pending.items():
            for klass, count in enumerate(counts.by_class):
                if count:
                    REQUESTS.labels(endpoint, f"{klass}xx").inc(count)
            latency = LATENCY.labels(endpoint)
            # prometheus-client observes one value at a time; its buckets (==-pinned)
            # take a whole second's worth at once.
            for index, count in enumerate(counts.buckets):
                if count:
                    latency._buckets[index].inc(count)
            latency._sum.inc(counts.seconds)
            if counts.bytes_in:
                BYTES_IN.labels(endpoint).inc(counts.bytes_in)
            if counts.bytes_out:
                BYTES_OUT.labels(endpoint).inc(counts.bytes_out)

    def flush_every(self, seconds: float, sleep: Callable[[float], object]) -> None:
        """Flush every ``seconds`` until killed (a greenlet of the worker)."""
        while True:
            sleep(seconds)
            self.flush()


# This process' counts (see the module docstring for why module level).
REQUEST_COUNTS = RequestCounts()


def observe_request(
    endpoint: str, status: int, seconds: float, bytes_in: int, bytes_out: int
) -> None:
    """Count one answered request of ``endpoint`` (written within a second, or at a scrape)."""
    REQUEST_COUNTS.observe(endpoint, status, seconds, bytes_in, bytes_out)
