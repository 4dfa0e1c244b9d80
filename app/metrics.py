"""Prometheus metrics, one registry per app instance (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("videobert_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=r)
        self.request_latency = Histogram("videobert_request_seconds", "HTTP request latency",
                                         ["route", "method", "status"],
                                         buckets=LATENCY_BUCKETS_S, registry=r)
        self.stage_seconds = Histogram("videobert_stage_seconds",
                                       "Time per request spent in a stage",
                                       ["stage"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.batch_videos = Histogram("videobert_batch_videos", "Videos per model batch",
                                      buckets=BATCH_BUCKETS, registry=r)
        self.batch_frames = Histogram("videobert_batch_frames", "Frames per model batch",
                                      buckets=(1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
                                      registry=r)
        self.queue_depth = Gauge("videobert_queue_depth",
                                 "Work waiting for a model worker: videos, or chunks of "
                                 "frames when streaming", registry=r)
        self.inflight = Gauge("videobert_inflight_requests", "Admitted requests in progress",
                              registry=r)
        self.rejected = Counter("videobert_rejected_total", "Requests refused by error code",
                                ["code"], registry=r)
        self.cache_events = Counter("videobert_cache_events_total",
                                    "Cache lookups and failures",
                                    ["backend", "event"], registry=r)  # hit|miss|error|set
        self.cache_breaker_open = Gauge("videobert_cache_breaker_open",
                                        "1 while the Redis circuit breaker is open",
                                        registry=r)
        self.decode_restarts = Counter("videobert_decode_worker_restarts_total",
                                       "Decode processes killed or replaced", ["reason"],
                                       registry=r)
        self.inference_errors = Counter("videobert_inference_errors_total",
                                        "Model batches that raised", registry=r)
        self.library_writes = Counter("videobert_library_writes_total",
                                      "Videos written to the library, by outcome "
                                      "(indexed, failed: the index was unavailable)",
                                      ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
