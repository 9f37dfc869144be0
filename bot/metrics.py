"""Prometheus metrics (``GET /metrics``): what the bot is doing, never what anyone wrote.

Labels are channels, statuses, intent ids and urgencies — no text, no user ids.
Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (the shipped
deploy/gunicorn.conf.py does) and the counters of all workers are added up.
Queue depths are read from the database at scrape time.
"""

from __future__ import annotations

import os
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("tsunagu_requests_total", "HTTP requests by channel and status", ["channel", "status"])
TRIAGE_SECONDS = Histogram("tsunagu_triage_seconds", "Time to triage and answer one message", ["channel"],
                           buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
DECISIONS = Counter("tsunagu_decisions_total", "Decisions by intent and urgency", ["channel", "intent", "urgency"])
EMERGENCIES = Counter("tsunagu_emergencies_total", "Messages decided as emergencies", ["channel"])
DELIVERIES = Counter("tsunagu_deliveries_total", "Delivery attempts by channel, result and kind",
                     ["channel", "result", "kind"])
RETRIES = Counter("tsunagu_delivery_retries_total", "Deliveries scheduled for another attempt", ["channel"])
FAILURES = Counter("tsunagu_delivery_failures_total", "Deliveries given up for good", ["channel"])
DELIVERY_SECONDS = Histogram("tsunagu_event_to_delivery_seconds", "From the platform event to the delivered answer",
                             ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
RELOADS = Counter("tsunagu_reloads_total", "Knowledge reloads by result", ["result"])
REFUSED = Counter("tsunagu_webhook_events_refused_total",
                  "Webhook events (LINE) or requests (Slack) refused: stale (older than the replay window),"
                  " bad_signature, malformed", ["channel", "reason"])
ESCALATIONS = Counter("tsunagu_escalations_total", "Cases passed to staff with the family's consent")
DEAD_LETTERS = Counter("tsunagu_dead_letters_total", "Events set aside after failing every attempt", ["channel"])


def observe_worker(name: str, info: dict) -> None:
    """The worker's observe() callback (see bot/worker.py)."""
    if name == "processed":
        channel = info.get("channel", "")
        TRIAGE_SECONDS.labels(channel).observe(info.get("seconds", 0.0))
        if info.get("intent"):
            DECISIONS.labels(channel, info["intent"], info.get("urgency") or "").inc()
            if info.get("urgency") == "emergency":
                EMERGENCIES.labels(channel).inc()
        if info.get("escalated"):
            ESCALATIONS.inc()
    elif name == "dead_letter":
        DEAD_LETTERS.labels(info.get("channel", "")).inc()
    elif name == "delivery":
        channel = info.get("channel", "")
        DELIVERIES.labels(channel, info.get("status", ""), info.get("kind", "")).inc()
        if info.get("status") == "retry":
            RETRIES.labels(channel).inc()
        elif info.get("status") == "failed":
            FAILURES.labels(channel).inc()
        elif info.get("status") == "delivered" and info.get("age") is not None:
            DELIVERY_SECONDS.labels(channel).observe(max(0.0, info["age"]))


class _Depth:
    """Inbox and outbox depth, read from the database when Prometheus scrapes."""

    def __init__(self, depth: Callable[[], dict[str, int]]):
        self.depth = depth

    def collect(self):
        depth = self.depth()
        for name in ("inbox", "outbox"):
            g = GaugeMetricFamily(f"tsunagu_{name}_depth", f"Items waiting in the {name}")
            g.add_metric([], depth.get(name, 0))
            yield g


def exposition(depth: Callable[[], dict[str, int]]) -> tuple[bytes, str]:
    """The /metrics body: this process's metrics (or all workers' in multiprocess mode) plus depths."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    body = generate_latest(registry)
    depth_registry = CollectorRegistry()
    depth_registry.register(_Depth(depth))
    return body + generate_latest(depth_registry), CONTENT_TYPE_LATEST
