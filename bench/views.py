"""Embedding views side by side: "box" (one FaceNet pass) vs "box+landmarks" (two, one batch).

Times `FaceAnalyzer.analyze` on the 25 val photos letterboxed to 640x480 with the kiosk preset,
both pipelines sharing one detector and one FaceNet and interleaved frame by frame, so the load
of the machine falls on both alike. Prints p50 / p90 / min of detect and embed per pipeline with
the load average. Run: `.venv/bin/python bench/views.py [--rounds 4]` (about a minute when quiet).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.recognition import DATASET, MODEL_DIR, letterbox_640x480  # noqa: E402
from ml.images import decode_image  # noqa: E402
from ml.recognition import BOX_VIEWS, TWO_VIEWS, FaceAnalyzer  # noqa: E402


def main() -> None:
    """Time both pipelines on the same frames and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    box = FaceAnalyzer.from_model_dir(MODEL_DIR, views=BOX_VIEWS)
    two = FaceAnalyzer(box.detectors["photo"], box.detectors["kiosk"], box.embedder, TWO_VIEWS)
    frames = [
        letterbox_640x480(decode_image(photo.read_bytes()))
        for person in sorted((DATASET / "val").iterdir())
        for photo in sorted(person.iterdir())
    ]
    for analyzer in (box, two):  # warm both
        analyzer.analyze(frames[0], "kiosk")
    times = {name: {"detect": [], "embed": []} for name in (BOX_VIEWS, TWO_VIEWS)}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for frame in frames:
            for analyzer in (box, two):
                timings: dict = {}
                analyzer.analyze(frame, "kiosk", timings)
                for stage in ("detect", "embed"):
                    times[analyzer.views_name][stage].append(1000 * timings[stage])
    load_after = os.getloadavg()[0]
    print(f"load average {load_before:.1f} at the start, {load_after:.1f} at the end")
    print(f"{len(frames)} frames x {args.rounds} rounds, kiosk preset, interleaved")
    print()
    print("| views | stage | p50 ms | p90 ms | min ms |")
    print("|---|---|---|---|---|")
    for name, stages in times.items():
        for stage, values in stages.items():
            p50, p90 = np.percentile(values, [50, 90])
            print(f"| {name} | {stage} | {p50:.1f} | {p90:.1f} | {min(values):.1f} |")


if __name__ == "__main__":
    main()
