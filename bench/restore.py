"""Old-photo restore timings: colorize a 1024-px photo with hints (and with a reference), and
enhance x4 a 512-px photo with the fast and the quality Real-ESRGAN models (2 threads).

    .venv/bin/python -m bench.restore [--skip-quality]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2

from bench.common import cpu_name, rss_mb
from ml.restore.color import grey_rgb
from ml.restore.colorize import colorize
from ml.restore.enhance import EnhanceOptions, enhance
from ml.restore.super_resolution import RealEsrgan
from tests.ml.restore_photos import ab_rmse, colour_photos, load_rgb, sampled_strokes
from tests.support import DATASET, MODEL_DIR


def load() -> str:
    """The 1-minute load average, to write next to every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """The best wall time of `repeat` runs, and the last result; also prints the CPU seconds
    (all threads) of the best run, a figure the other helpers' load disturbs less."""
    best, result, cpu = float("inf"), None, 0.0
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu = wall, time.process_time() - cpu_started
    print(f"  (CPU time of that run: {cpu:.2f} s over all threads)")
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")

    path = colour_photos(DATASET, "val", "jerry_seinfeld")[0]
    original = cv2.resize(load_rgb(path), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    old = grey_rgb(original)
    strokes = sampled_strokes(original, 30, seed=0, width=20)
    seconds, result = timed(lambda: colorize(old, strokes=strokes), repeat=3)
    print(
        f"colorize 1024x1024, 30 hints: {seconds:.2f} s (best of 3; load {load()}); "
        f"ab RMSE {ab_rmse(result.rgb, original):.1f} vs grey {ab_rmse(old, original):.1f}"
    )
    reference = load_rgb(colour_photos(DATASET, "train", "jerry_seinfeld")[0])
    seconds, _ = timed(lambda: colorize(old, strokes=strokes, reference=reference), repeat=3)
    print(f"colorize 1024x1024, 30 hints + reference: {seconds:.2f} s (load {load()})")

    photo = cv2.resize(load_rgb(path), (512, 512), interpolation=cv2.INTER_CUBIC)
    options = EnhanceOptions(upscale=4)
    for which in ("fast4",) + (() if args.skip_quality else ("quality",)):
        started = time.perf_counter()
        model = RealEsrgan(MODEL_DIR / "realesrgan-ncnn", which)
        loaded = time.perf_counter() - started
        seconds, out = timed(lambda model=model: enhance(photo, options, model))
        print(
            f"enhance x4 512->{out.rgb.shape[1]} with {model.model.label}: {seconds:.1f} s "
            f"(model load {loaded:.2f} s; load {load()}; RSS {rss_mb():.0f} MB)"
        )
    steps = EnhanceOptions(upscale=1)
    seconds, _ = timed(lambda: enhance(photo, steps), repeat=2)
    print(f"enhance 512 without upscaling (scratches, denoise, contrast, sharpen): {seconds:.2f} s")


if __name__ == "__main__":
    main()
