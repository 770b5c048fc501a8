"""Prometheus metrics of the service (one registry per app, so tests can build several apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

STATUSES = ("queued", "probing", "running", "done", "failed", "cancelled")


class _JobsCollector:
    def __init__(self, counts: Callable[[], dict[str, int]], queue_depth: Callable[[], int]) -> None:
        self._counts = counts
        self._queue_depth = queue_depth

    def collect(self):
        jobs = GaugeMetricFamily("sparkfleet_video_jobs", "Jobs in the store by status", labels=["status"])
        try:
            counts = self._counts()
        except Exception:  # a closed store while shutting down: report nothing rather than fail the scrape
            counts = {}
        for status in STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        yield GaugeMetricFamily("sparkfleet_video_queue_depth",
                                "Segments of active jobs waiting for a slot to vLLM", value=self._queue_depth())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sparkfleet_video_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram("sparkfleet_video_http_request_duration_seconds",
                                         "HTTP request duration by route and method", ["route", "method"],
                                         registry=self.registry)
        self.errors = Counter("sparkfleet_video_errors", "Errors answered or jobs failed, by error code", ["code"],
                              registry=self.registry)
        self.vllm_seconds = Histogram("sparkfleet_video_vllm_call_duration_seconds",
                                      "Duration of calls to vLLM's chat API by kind (segment, summary) and outcome",
                                      ["kind", "outcome"], registry=self.registry,
                                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))

    def watch_jobs(self, counts: Callable[[], dict[str, int]], queue_depth: Callable[[], int]) -> None:
        self.registry.register(_JobsCollector(counts, queue_depth))
