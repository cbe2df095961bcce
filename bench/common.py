"""Helpers the benchmark scripts share: the machine's name, percentiles, memory.

Every bench imports this before any model library, so it also makes OpenMP threads (torch,
ncnn) sleep while they wait, as the served processes do (why: wsgi.py).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cpu_name() -> str:
    """The processor's model name."""
    for row in Path("/proc/cpuinfo").read_text().splitlines():
        if row.startswith("model name"):
            return row.split(":", 1)[1].strip()
    return platform.machine()


def pct(values: list[float], q: float) -> float:
    """Percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def line(label: str, values: list[float]) -> str:
    """A Markdown latency row: p50 / p90 / n."""
    return f"| {label} | {pct(values, 50):.1f} | {pct(values, 90):.1f} | {len(values)} |"


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")
