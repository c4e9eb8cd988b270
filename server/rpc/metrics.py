"""Prometheus metrics of one server, on their own registry, served over HTTP when asked.

| metric | type | what |
|---|---|---|
| ``peaksql_active_streams`` | gauge | StreamBatches calls now open |
| ``peaksql_batches_total`` | counter | batch messages sent (``rate()`` gives batches/s) |
| ``peaksql_batch_bytes_total`` | counter | bytes of batch messages sent (bytes/s) |
| ``peaksql_rpcs_total{method,code}`` | counter | finished calls by method and status code |
| ``peaksql_errors_total{code}`` | counter | calls that ended with a status other than OK |
| ``peaksql_plan_compile_seconds`` | histogram | time to compile a dataset plan (cache misses) |
| ``peaksql_plans_cached`` | gauge | plans in the cache |
"""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

COMPILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The metric objects; a registry per server so several servers share one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_streams = Gauge(
            "peaksql_active_streams", "StreamBatches calls now open", registry=r
        )
        self.batches = Counter("peaksql_batches", "Batch messages sent", registry=r)
        self.batch_bytes = Counter(
            "peaksql_batch_bytes", "Bytes of batch messages sent", registry=r
        )
        self.rpcs = Counter(
            "peaksql_rpcs",
            "Finished calls by method and status code",
            ["method", "code"],
            registry=r,
        )
        self.errors = Counter(
            "peaksql_errors", "Calls that ended with a status other than OK", ["code"], registry=r
        )
        self.compile_seconds = Histogram(
            "peaksql_plan_compile_seconds",
            "Time to compile a dataset plan",
            buckets=COMPILE_BUCKETS,
            registry=r,
        )
        self.plans_cached = Gauge("peaksql_plans_cached", "Plans in the cache", registry=r)

    def track_plans(self, count: Callable[[], int]) -> None:
        """Report the plan cache's size, read at scrape time."""
        self.plans_cached.set_function(count)

    def finished(self, method: str, code: str) -> None:
        self.rpcs.labels(method=method, code=code).inc()
        if code != "OK":
            self.errors.labels(code=code).inc()

    def serve_http(self, host: str, port: int) -> tuple[WSGIServer, int]:
        """Start the ``/metrics`` HTTP endpoint in a thread; returns the server and its port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server, server.server_port
