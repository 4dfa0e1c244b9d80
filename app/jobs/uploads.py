"""The uploads of queued jobs, in a folder every worker can read (a shared volume in production).

A job's video is the file ``<jobs_dir>/<job id>``; uploads arrive in ``<jobs_dir>/.incoming`` on
the same filesystem, so adopting one is a rename. A file leaves when its job ends (the worker or
the API removes it) and ``sweep`` removes what a crashed process left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.analysis.orphans import sweep_orphans
from app.jobs.records import is_job_id

log = logging.getLogger(__name__)

INCOMING = ".incoming"
# An upload still in .incoming after this long belongs to a request that died.
STALE_INCOMING_S = 6 * 3600


def default_jobs_dir() -> Path:
    return Path(tempfile.gettempdir()) / "videobert-jobs"


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming_dir = root / INCOMING

    def ensure(self) -> None:
        self.incoming_dir.mkdir(parents=True, exist_ok=True)

    def path(self, job_id: str) -> Path:
        if not is_job_id(job_id):  # the id names a file: never let it name anything else
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def adopt(self, upload_path: Path, job_id: str) -> Path:
        """Move a received upload to the job's name (a copy across filesystems)."""
        target = self.path(job_id)
        try:
            os.replace(upload_path, target)
        except OSError:
            shutil.copyfile(upload_path, target)
        return target

    def remove(self, job_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(job_id).unlink()

    async def sweep(self, older_than_s: float,
                    is_live: Callable[[str], Awaitable[bool]]) -> int:
        """Remove job files older than ``older_than_s`` whose job is gone or ended, stale
        incoming uploads, and the temp files of processes that died (``orphans.py``).
        Returns how many files went."""
        removed = 0
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root):
                if not entry.is_file() or not is_job_id(entry.name):
                    continue
                if now - entry.stat().st_mtime < older_than_s or await is_live(entry.name):
                    continue
                self.remove(entry.name)
                removed += 1
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.incoming_dir):
                if entry.is_file() and now - entry.stat().st_mtime > STALE_INCOMING_S:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        # A flight's hard link to a job's upload (``vbs-flight-*``), left by a killed process.
        removed += sweep_orphans(self.root, STALE_INCOMING_S)
        removed += sweep_orphans(self.incoming_dir, STALE_INCOMING_S)
        if removed:
            log.info("swept %d leftover job upload(s) from %s", removed, self.root)
        return removed
