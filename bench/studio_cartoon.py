"""Cartoon effect benchmark: time per photo (1280 px) and frames per second (640x360 video frames).

Run with `.venv/bin/python bench/studio_cartoon.py`; prints Markdown for bench/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, pct  # noqa: E402
from ml.cartoon import VideoCartoonizer, cartoonize  # noqa: E402
from tests.studio_helpers import two_people  # noqa: E402


def timed(fn, runs: int) -> list[float]:
    """Seconds per call over `runs` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    """Print the figures."""
    load = os.getloadavg()[0]
    photo = two_people(1280, 720)
    frame = two_people(640, 360)
    video = VideoCartoonizer(0.8)
    photo_times = timed(lambda: cartoonize(photo, 0.8), 10)
    frame_times = timed(lambda: video(frame, 0), 30)
    end_load = os.getloadavg()[0]
    print(f"## bench/studio_cartoon.py — cartoon — {time.strftime('%Y-%m-%d')}\n")
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load:.1f} at the start, {end_load:.1f} at the end.\n"
    )
    print("| what | p50 | p90 |\n|---|---|---|")
    print(
        f"| 1280x720 photo, strength 0.8 | {pct(photo_times, 50):.0f} ms | "
        f"{pct(photo_times, 90):.0f} ms |"
    )
    fps = float(np.median([1.0 / t for t in frame_times]))
    print(
        f"| 640x360 video frame | {pct(frame_times, 50):.0f} ms ({fps:.1f} fps) | "
        f"{pct(frame_times, 90):.0f} ms |"
    )


if __name__ == "__main__":
    main()
