"""Temp files that name their owner, so that a crashed process's files can be swept.

An upload or a flight's link to it is ``<prefix>-<host>-<pid>-<unix time>-<random>``. A sweep
removes such a file when its owner is a process of this host that no longer runs, or, from any
host (a shared jobs volume), once it is older than any request or job may live. A pid reused by
an unrelated process only keeps a file until that age: the safe side.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"
_NAME = re.compile(r"^(vbs-[a-z]+)-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-(?P<ts>\d+)-")


def owned_temp_file(prefix: str, folder: Path | None) -> tuple[int, Path]:
    """``tempfile.mkstemp`` with the owner in the name; returns (fd, path)."""
    fd, name = tempfile.mkstemp(prefix=f"{prefix}-{_HOST}-{os.getpid()}-{int(time.time())}-",
                                dir=folder)
    return fd, Path(name)


def is_orphan(name: str, now: float, max_age_s: float) -> bool:
    match = _NAME.match(name)
    if match is None:
        return False  # not ours to judge
    if now - int(match["ts"]) > max_age_s:
        return True
    return match["host"] == _HOST and not _running(int(match["pid"]))


def sweep_orphans(folder: Path, max_age_s: float) -> int:
    """Remove the owned temp files in ``folder`` whose owner died or that outlived
    ``max_age_s``; returns how many went."""
    removed = 0
    now = time.time()
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False) and is_orphan(entry.name, now, max_age_s):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True
