"""Temp files named by their owner: swept when the owner died or they outlived any request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from app.analysis.orphans import is_orphan, owned_temp_file, sweep_orphans


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_owners_files_go_and_the_living_stay(tmp_path: Path) -> None:
    fd, mine = owned_temp_file("vbs-flight", tmp_path)
    os.close(fd)
    host = mine.name.split("-")[2]
    now = int(time.time())
    dead = tmp_path / f"vbs-upload-{host}-{_dead_pid()}-{now}-abc"
    elsewhere_fresh = tmp_path / f"vbs-flight-otherhost-1-{now}-abc"
    elsewhere_old = tmp_path / f"vbs-flight-otherhost-1-{now - 7200}-abc"
    unrelated = tmp_path / "0123456789abcdef"
    for path in (dead, elsewhere_fresh, elsewhere_old, unrelated):
        path.write_bytes(b"x")
    assert sweep_orphans(tmp_path, max_age_s=3600) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, elsewhere_fresh.name, unrelated.name])


def test_names_that_are_not_owned_are_never_judged() -> None:
    now = time.time()
    assert not is_orphan("vbs-flight-abc", now, 0.0)
    assert not is_orphan("notes.txt", now, 0.0)
    assert is_orphan("vbs-flight-h-1-0-x", now, 60.0)  # from 1970: older than anything
