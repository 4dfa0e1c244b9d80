"""Asynchronous jobs: queue a video, let any worker compute it, poll or get called back.

    records.py   the job record and its states
    store.py     records in Redis hashes (shared) or a dict (one process)
    queue.py     the queue: a Redis Stream + consumer group, or an asyncio queue
    uploads.py   the shared folder holding queued uploads
    execute.py   one job through the shared pipeline and result cache, with progress
    runner.py    pulls jobs and runs several at once (``videobert worker``)
    callbacks.py POSTs a finished job to an allowlisted host
    manager.py   the facade the API and the worker use
"""

from __future__ import annotations

from app.jobs.manager import JobManager
from app.jobs.records import TERMINAL, JobRecord, JobStatus, new_job_id
from app.jobs.runner import JobRunner, RunnerConfig

__all__ = ["TERMINAL", "JobManager", "JobRecord", "JobRunner", "JobStatus", "RunnerConfig",
           "new_job_id"]
