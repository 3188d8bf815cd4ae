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


class _EndpointSeries:
    """One endpoint's children, resolved once: ``labels()`` takes the family's lock on
    every call, and the overlay answers tens of thousands of requests a second."""

    __slots__ = ("bytes_in", "bytes_out", "by_class", "latency")

    def __init__(self, endpoint: str) -> None:
        self.latency = LATENCY.labels(endpoint)
        self.bytes_in = BYTES_IN.labels(endpoint)
        self.bytes_out = BYTES_OUT.labels(endpoint)
        self.by_class = {klass: REQUESTS.labels(endpoint, f"{klass}xx") for klass in range(1, 6)}


_series: dict[str, _EndpointSeries] = {}


def observe_request(
    endpoint: str, status: int, seconds: float, bytes_in: int, bytes_out: int
) -> None:
    """Count one answered request of ``endpoint`` (a declared name: bounded)."""
    series = _series.get(endpoint)
    if series is None:
        series = _series[endpoint] = _EndpointSeries(endpoint)
    counter = series.by_class.get(status // 100)
    if counter is not None:
        counter.inc()
    series.latency.observe(seconds)
    if bytes_in:
        series.bytes_in.inc(bytes_in)
    if bytes_out:
        series.bytes_out.inc(bytes_out)
