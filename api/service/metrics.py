"""Operations made visible: Prometheus metrics of the write path, the group commit and the projections.

One registry per service (tests build many services in one process). Counters and histograms are
updated where things happen; projection positions and lag are read from the store and the views
when scraped, so they are true at that moment.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MAX_LAG = int(os.environ.get("KAOHE_HEALTH_MAX_LAG", "1000"))  # events behind the store: /health says degraded


class Metrics:
    def __init__(self, service: Any):
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.writes = Histogram("kaohe_write_seconds", "Time a command takes, from role check to saved",
                                ["command"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Histogram("kaohe_http_request_seconds", "Time an HTTP request takes to answer",
                                  ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batches = Histogram("kaohe_group_commit_batch_size", "Commands saved together in one transaction",
                                 buckets=BATCH_BUCKETS, registry=self.registry)
        self.conflicts = Counter("kaohe_write_conflicts_retried", "Concurrent-write conflicts retried",
                                 registry=self.registry)
        self.registry.register(_ProjectionCollector(service))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def projection_state(service: Any) -> dict[str, Any]:
    """Each projection's position against the store's head, and how long the views have lagged."""
    head = service.recorder.max_notification_id() or 0
    positions = service.catchup.positions()
    if service.log_integration is not None:  # the Merkle log: in step with every write, unless events came around it
        positions.update(service.log_integration.positions())
    behind = max((head - p for p in positions.values()), default=0)
    runner = service.runner
    since = runner.behind_since if runner is not None else None
    lag_seconds = max(0.0, time.monotonic() - since) if behind and since is not None else 0.0
    return {"store_head": head, "projections": positions, "lag_events": behind, "lag_seconds": round(lag_seconds, 3),
            "catch_up": runner.role if runner is not None else "none"}


class _ProjectionCollector:
    def __init__(self, service: Any):
        self.service = service

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = projection_state(self.service)
        head = GaugeMetricFamily("kaohe_store_head_position", "The store's newest notification id")
        head.add_metric([], state["store_head"])
        positions = GaugeMetricFamily("kaohe_projection_position", "How far each projection has read", labels=["projection"])
        for name, position in state["projections"].items():
            positions.add_metric([name], position)
        events = GaugeMetricFamily("kaohe_projection_lag_events", "Events the slowest projection is behind the store")
        events.add_metric([], state["lag_events"])
        seconds = GaugeMetricFamily("kaohe_projection_lag_seconds", "How long the views have been behind the store")
        seconds.add_metric([], state["lag_seconds"])
        leading = GaugeMetricFamily("kaohe_projection_leader",
                                    "1 if this process catches the views up for the store (PostgreSQL's leader)")
        leading.add_metric([], 1 if state["catch_up"] in ("leader", "alone") else 0)
        rejected = CounterMetricFamily(
            "kaohe_snapshots_rejected", "Snapshots this process refused on load (seal or head did not check out; "
            "their events were folded instead: `kaohe verify` names them)")
        rejected.add_metric([], getattr(self.service.repository, "rejected", 0))
        yield from (head, positions, events, seconds, leading, rejected)
