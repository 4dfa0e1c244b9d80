"""All service configuration: one pydantic-settings class, the only reader of the environment.

Every field can be set as ``VIDEOBERT_<FIELD_NAME>`` (upper case). Units live in the names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDEOBERT_", extra="ignore")

    # --- HTTP -------------------------------------------------------------------------------
    host: str = "0.0.0.0"
    port: int = 8000
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one object a line, each request's access line with its "
        "fields (request_id, method, path, route, status, ms, cache) as keys.")
    api_keys: list[str] = Field(default_factory=list, description="Empty: no authentication.")
    rate_limit_per_min: int = Field(0, ge=0, description="Per client; 0 turns it off.")

    # --- uploads ----------------------------------------------------------------------------
    max_upload_mb: float = Field(512.0, gt=0)
    body_timeout_s: float = Field(120.0, gt=0, description="Whole upload must arrive in time.")
    body_min_bytes_per_s: int = Field(
        8192, ge=0, description="After body_grace_s, an upload slower than this on average is "
        "cut off with 408 body_too_slow (nginx's client_body_timeout, Apache's mod_reqtimeout "
        "MinRate). 0: no minimum.")
    body_grace_s: float = Field(10.0, gt=0, description="How long an upload may be slow.")
    body_idle_s: float = Field(
        30.0, gt=0, description="Longest silence within a body (408 body_too_slow): a fast start "
        "earns no credit for a stall (nginx's client_body_timeout is such a silence).")
    max_head_bytes: int = Field(
        65536, ge=1024, description="Request line and headers together; more gets a JSON 431 "
        "head_too_large (64 labels of 200 characters fit in the query string).")
    head_timeout_s: float = Field(10.0, gt=0, description="The request line and headers must "
                                  "arrive within this, or a JSON 408 head_timeout.")
    upload_dir: Path | None = Field(None, description="Temp folder for uploads; system default.")

    # --- model ------------------------------------------------------------------------------
    model_store_dir: Path = REPO_ROOT / "model_store"
    default_model: str = "videobert-lite0"
    models: list[str] = Field(default_factory=list, description="Extra models to load: name[:ver].")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    instances_per_device: int = Field(
        0, ge=0, description="Model workers per device; 0: one per GPU, and on the CPU enough "
                             "that every core can run the model (cores / torch_threads).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    torch_threads: int = Field(0, ge=0, description="Model worker threads; 0 picks for you.")
    warmup: bool = True

    # --- video policy -----------------------------------------------------------------------
    max_duration_s: float = Field(3 * 3600.0, gt=0)
    max_width: int = Field(7680, gt=0)
    max_height: int = Field(4320, gt=0)
    max_pixels: int = Field(7680 * 4320, gt=0)
    max_streams: int = Field(32, gt=0)
    max_corrupt_packets: int = Field(64, ge=0)
    max_decoded_frames: int = Field(200_000, gt=0)
    decode_timeout_s: float = Field(60.0, gt=0)
    decode_workers: int = Field(0, ge=0, description="Decode processes; 0 picks for you.")
    decode_memory_mb: int = Field(2048, gt=0, description="RLIMIT_AS of a decode process.")

    # --- sampling defaults (per request overridable) ---------------------------------------
    sample_fps: float = Field(2.0, gt=0, le=30)
    max_frames: int = Field(256, ge=1, le=2048)

    # --- batching ---------------------------------------------------------------------------
    max_batch_size: int = Field(8, ge=1, description="Videos per Transformer batch.")
    max_batch_frames: int = Field(16, ge=1, description="Frames per CNN call; 8-16 best on CPU.")
    max_wait_ms: float = Field(10.0, ge=0)
    stream_chunk_frames: int = Field(
        16, ge=0, description="Frames per chunk streamed from a decoder to the CNN, so that "
        "the model starts on a video's first frames while the rest decode; 0 decodes the whole "
        "video first. Clip models always wait for the whole video.")
    max_queue_size: int = Field(64, ge=1)
    max_inflight_requests: int = Field(32, ge=1, description="Admission limit; more get 429.")
    max_open_requests: int = Field(
        0, ge=0, description="HTTP requests open at once (receiving, queued or computing) "
        "before more get a JSON 503 server_busy with Retry-After; /healthz, /readyz and "
        "/metrics are always answered. 0: max(64, 4 x max_inflight_requests).")
    request_timeout_s: float = Field(300.0, gt=0, description="Includes queueing time.")
    retry_after_s: int = Field(2, ge=1)

    # --- cache ------------------------------------------------------------------------------
    redis_url: str | None = None
    cache_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    cache_max_entries: int = Field(1024, ge=0, description="In-process LRU size.")
    redis_connect_timeout_ms: float = Field(50.0, gt=0)
    redis_timeout_ms: float = Field(50.0, gt=0)
    redis_breaker_failures: int = Field(3, ge=1)
    redis_breaker_cooldown_s: float = Field(5.0, gt=0)
    single_flight_lock_s: float = Field(10.0, gt=0, description="Renewed while computing.")

    # --- jobs -------------------------------------------------------------------------------
    jobs_dir: Path | None = Field(None, description="Uploads of queued jobs; shared by every "
                                  "worker. Default: <system temp>/videobert-jobs.")
    job_ttl_s: int = Field(24 * 3600, gt=0, description="How long a finished job is kept.")
    job_timeout_s: float = Field(3600.0, gt=0, description="Deadline of one attempt.")
    job_max_attempts: int = Field(3, ge=1, description="Then the job ends as failed.")
    job_claim_idle_s: float = Field(60.0, gt=0, description="A job whose worker has been "
                                    "silent this long is taken over by another worker.")
    worker_concurrency: int = Field(4, ge=1, description="Jobs in flight per worker process.")
    run_jobs_in_api: bool = Field(True, description="With Redis: the API process runs jobs "
                                  "too (a default consumer), so a job never waits for a worker "
                                  "nobody started. False for dedicated `videobert worker`s; "
                                  "then a submission with no live worker is a 503 "
                                  "no_job_workers. Without Redis the API always runs them.")
    jobs_redis_url: str | None = Field(None, description="Redis for the job queue and records; "
                                       "default redis_url. It must not evict queued jobs.")
    callback_hosts: list[str] = Field(default_factory=list, description="Hosts a job callback "
                                      "may go to: exact names/IPs, or *.suffix.")
    callback_timeout_s: float = Field(5.0, gt=0)
    callback_secret: str | None = Field(
        None, pattern=r"^whsec_[A-Za-z0-9+/]+={0,2}$",
        description="Signs job callbacks the Standard Webhooks way (webhook-signature): "
        "whsec_ + base64 of 24-64 random bytes, shared with the receivers (docs/jobs.md shows "
        "how to verify). Without it callbacks carry webhook-id and webhook-timestamp only.")

    # --- video library ----------------------------------------------------------------------
    data_dir: Path = Field(REPO_ROOT / "data", description="The service's own files: the "
                           "embedded video library (LanceDB) lives in <data_dir>/library and "
                           "survives restarts.")
    vector_url: str | None = Field(
        None, pattern=r"^(https?://|file:)", description="The library in a Qdrant server "
        "(http://qdrant:6333), which shards and replicates; file:/path is qdrant-client's local "
        "mode, for development only. Unset: the embedded LanceDB in data_dir.")
    library_timeout_s: float = Field(5.0, gt=0, description="A vector engine call slower than "
                                     "this answers 503 index_unavailable.")
    page_token_secret: str | None = Field(
        None, min_length=16, description="Signs page tokens; shared by every API replica. "
        "Default: a random secret kept in <data_dir>/library/.page-token-secret.")

    shutdown_grace_s: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.max_pixels > self.max_width * self.max_height:
            self.max_pixels = self.max_width * self.max_height
        if self.max_batch_frames < 1:
            raise ValueError("max_batch_frames must be at least 1")
        return self

    @property
    def library_is_shared(self) -> bool:
        """Whether every process reaches one library (a Qdrant server). The embedded LanceDB and
        qdrant-client's local mode are one process's: a job worker must not write them."""
        return bool(self.vector_url) and not str(self.vector_url).startswith("file:")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def open_request_limit(self) -> int:
        return self.max_open_requests or max(64, 4 * self.max_inflight_requests)
