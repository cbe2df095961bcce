"""Pose + gesture benchmark: time per 640x480 frame, and how steady the readings are under jitter.

Times PoseEstimator.estimate (with and without the frame margin) and classify_rules on the
rendered stills in tests/data/gestures, and on blank frames (what an idle kiosk sends); then reads
every still shifted, scaled and re-lit at random, as a live camera would see it, and counts the
readings that match the label. Run with `.venv/bin/python bench/gestures.py`.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct  # noqa: E402
from ml.gestures import classify_rules  # noqa: E402
from ml.pose import PoseEstimator  # noqa: E402

GESTURES = ROOT / "tests" / "data" / "gestures"
REPEATS = 3
JITTERS = 10


def jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame shifted by up to 16 px, scaled 0.9-1.1, rotated up to 3 degrees, re-lit."""
    height, width = rgb.shape[:2]
    angle, scale = rng.uniform(-3, 3), rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-16, 16, 2)
    moved = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    gain = rng.uniform(0.8, 1.2)
    return np.clip(moved.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def main() -> None:
    """Print the figures."""
    with (GESTURES / "labels.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file"].startswith("stills/")]
    frames = [(np.asarray(Image.open(GESTURES / r["file"]).convert("RGB")), r) for r in rows]
    blank = np.full((480, 640, 3), 128, dtype=np.uint8)

    for margin in (0.125, 0.0):
        estimator = PoseEstimator(frame_margin=margin)
        estimator.warmup()
        times, blank_times, rule_times, found = [], [], [], 0
        for _ in range(REPEATS):
            for rgb, _row in frames:
                started = time.perf_counter()
                pose = estimator.estimate(rgb)
                times.append(time.perf_counter() - started)
                if pose is not None:
                    found += 1
                    started = time.perf_counter()
                    classify_rules(pose.landmarks)
                    rule_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                estimator.estimate(blank)
                blank_times.append(time.perf_counter() - started)
        print(
            f"frame_margin={margin}: estimate p50 {pct(times, 50):.1f} ms, p90 {pct(times, 90):.1f}"
            f" ms per 640x480 still; blank frame p50 {pct(blank_times, 50):.1f} ms; "
            f"classify_rules p50 {pct(rule_times, 50):.3f} ms; "
            f"pose found {found // REPEATS}/{len(frames)}"
        )
        estimator.close()

    for margin in (0.125, 0.0):
        steadiness(PoseEstimator(frame_margin=margin), frames, margin)


def steadiness(estimator: PoseEstimator, frames: list, margin: float) -> None:
    """Read every still under random jitter; print how many readings match the label."""
    rng = np.random.default_rng(0)
    outcome: Counter[str] = Counter()
    by_still: dict[str, Counter[str]] = {}
    for rgb, row in frames:
        tally = by_still.setdefault(Path(row["file"]).stem, Counter())
        for _ in range(JITTERS):
            pose = estimator.estimate(jitter(rgb, rng))
            if pose is None:
                result = "no pose"
            else:
                gesture = classify_rules(pose.landmarks).gesture
                result = "right" if gesture == row["gesture"] else f"read {gesture}"
            outcome[result] += 1
            tally[result] += 1
    total = sum(outcome.values())
    print(
        f"frame_margin={margin}, jittered stills ({JITTERS} each, {total} frames): "
        + ", ".join(f"{key} {count}" for key, count in outcome.most_common())
    )
    for stem, tally in by_still.items():
        if tally["right"] < JITTERS:
            print(f"  {stem}: {dict(tally)}")
    estimator.close()


if __name__ == "__main__":
    main()
