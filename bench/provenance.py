"""Where and when a measurement was taken, recorded next to its figures in bench/results/.

A figure without its machine and load is hard to judge: the 2-core development machine is often
shared, and a run under a load average of 5 says little about an idle one. Every result file
writer stores these fields so that the docs tables (bench/doc_tables.py) can print them under
each table. Kept free of heavy imports: soak.py and the docs generator load it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def provenance() -> dict[str, Any]:
    """``date`` (UTC), ``cpu_model``, ``cores`` and ``load_avg_1m``, taken now: call it when the
    measurement starts, so the load average is the one the run started under."""
    return {"date": utc_now(), "cpu_model": cpu_model(), "cores": os.cpu_count() or 1,
            "load_avg_1m": round(os.getloadavg()[0], 2)}
