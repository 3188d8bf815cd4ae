"""``/metrics``: the workers' counters and a role's scrape-time facts, in Prometheus text.

Under gunicorn the counters come from every worker's files (``MultiProcessCollector``);
without (the Flask test client, a single process) from this process' registry. The
role's facts (nodes up, blobs degraded, bytes stored, free bytes, scrub and repair
figures) are computed by the worker answering the scrape, from the database and disk all
workers share, and kept a few seconds (``ScrapeCache``): one figure, never a sum of
each worker's gauge, and a scraper polling often does not count the catalogue each time.
That is why no multiprocess gauge (``livesum``/``max``/``mostrecent``) is used: none of
those facts belongs to a worker.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.metrics.families import REQUEST_COUNTS
from app.metrics.process_dir import MULTIPROC_ENV

# Seconds a role's scrape-time facts are kept: several scrapers, or one every second,
# cost one computation per this long per worker.
SCRAPE_CACHE_SECONDS = 5.0

T = TypeVar("T")


class ScrapeCache(Generic[T]):
    """``compute()``'s value, recomputed when older than ``seconds``."""

    def __init__(self, compute: Callable[[], T], seconds: float = SCRAPE_CACHE_SECONDS) -> None:
        self._compute = compute
        self._seconds = seconds
        self._lock = threading.Lock()  # per scrape, not per request
        self._value: T | None = None
        self._at = -float("inf")

    def get(self) -> T:
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._at >= self._seconds:
                self._value = self._compute()
                self._at = now
            return self._value


class FactCollector:
    """A role's scrape-time gauges, from ``families()`` (kept by a ``ScrapeCache``)."""

    def __init__(self, families: Callable[[], list[Metric]]) -> None:
        self._cache = ScrapeCache(families)

    def collect(self) -> Iterable[Metric]:
        return self._cache.get()


class _ProcessFamilies:
    """This process' own registry, when there are no worker files to read."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render_metrics(facts: Collector) -> tuple[bytes, str]:
    """The exposition body and its content type: every worker's counters, then ``facts``."""
    REQUEST_COUNTS.flush()  # this worker's latest, at least
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessFamilies())
    registry.register(facts)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """A gauge family of one unlabelled sample."""
    return GaugeMetricFamily(name, documentation, value=value)


def labelled_gauge(
    name: str, documentation: str, label: str, values: Iterable[tuple[str, float]]
) -> GaugeMetricFamily:
    """A gauge family with one sample per value of ``label``."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for label_value, value in values:
        family.add_metric([label_value], value)
    return family
