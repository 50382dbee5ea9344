"""The server's Prometheus metrics, summed over its worker processes (prometheus_client's
multiprocess mode: each worker writes its values under PROMETHEUS_MULTIPROC_DIR, which the server
sets before the workers start; `/metrics` of any worker reads them all).

- paddle_electra_requests_total{route, code}: answered requests
- paddle_electra_errors_total{route, code}: requests answered with 4xx / 5xx
- paddle_electra_request_seconds{route}: latency histogram (from reading the body to the answer)
- paddle_electra_batch_rows: rows per model call (histogram)
- paddle_electra_queue_rows: rows waiting for the model (summed over live workers)
- paddle_electra_workers_ready: workers warmed up and taking requests
"""

import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """The metrics of one worker process (needs MULTIPROC_ENV set to an existing directory)."""

    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram, values

        # prometheus_client picks its multiprocess storage when first imported and keeps its files
        # per process: pick it again for this server's directory (another library, e.g. Ray, may
        # have imported it before the variable was set)
        values.ValueClass = values.get_value_class()
        # registry=None: `exposition` reads every worker's files; nothing is registered in-process
        self.requests = Counter(
            "paddle_electra_requests", "Answered requests", ["route", "code"], registry=None
        )
        self.errors = Counter(
            "paddle_electra_errors", "Requests answered with an error", ["route", "code"], registry=None
        )
        self.latency = Histogram(
            "paddle_electra_request_seconds",
            "Request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.batch_rows = Histogram(
            "paddle_electra_batch_rows", "Rows per model call", buckets=BATCH_BUCKETS, registry=None
        )
        live = {"multiprocess_mode": "livesum", "registry": None}
        self.queue_rows = Gauge("paddle_electra_queue_rows", "Rows waiting", **live)
        self.ready = Gauge("paddle_electra_workers_ready", "Workers taking requests", **live)

    def answered(self, route, code, seconds):
        self.requests.labels(route, str(code)).inc()
        if code >= 400:
            self.errors.labels(route, str(code)).inc()
        self.latency.labels(route).observe(seconds)


def exposition():
    """(body, content type) of /metrics: every worker's metrics, summed."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ[MULTIPROC_ENV])
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exited(pid):
    """Drop a dead worker's live gauges (its queue and readiness)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, os.environ[MULTIPROC_ENV])
