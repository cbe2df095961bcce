"""Animate a photo: living portrait, reenactment and talking photo, timed end to end.

    .venv/bin/python -m bench.animate [--out DIR]

Prints a Markdown section for bench/RESULTS.md: the machine, its load before and after each
figure, wall time and frames/s (encoding included), and how well the reenacted face follows
the driving face. With --out, saves the videos and a contact sheet PNG of each.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.common import cpu_name, rss_mb

SOURCE = ("train", "jerry_seinfeld", 9)
DRIVER = ("train", "mindy_kaling", 0)


def load() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


def sheet(path: Path, out: Path, count: int = 8) -> None:
    """A 2-row contact sheet of `count` frames of a video."""
    from ml.video import iter_frames

    frames = list(iter_frames(path))
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, count).astype(int)]
    half = count // 2
    grid = np.concatenate(
        [np.concatenate(picks[:half], axis=1), np.concatenate(picks[half:], axis=1)], axis=0
    )
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="bench-animate-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    from ml.animate.animator import Animator
    from ml.animate.encode import write_video
    from ml.animate.rig import Expression, Pose, place
    from ml.detection import FaceDetector
    from ml.device import torch_device
    from ml.face_mesh import NUM_MESH_POINTS, FaceMesher
    from tests.ml.test_animate import photo

    dataset = Path("instance/models/5-celebrity-faces-dataset")
    device = torch_device(os.environ.get("DEVICE", "auto"))
    animator = Animator(FaceDetector.for_photos(), FaceMesher(), device=device)
    source = photo(dataset, *SOURCE, side=512)
    animator.prepare(source)  # warm the detector and mesh graphs

    rows = []
    print(f"## Animate a photo ({cpu_name()}, {os.cpu_count()} cores, torch on {device})\n")

    before = load()
    started = time.perf_counter()
    portrait = animator.living_portrait(source, out_dir / "portrait.mp4", "portrait", 5.0, 25, 1)
    wall = time.perf_counter() - started
    rows.append(
        f"| living portrait {portrait.width}x{portrait.height}, 5 s at 25 fps | {wall:.1f} s "
        f"| {portrait.frames / wall:.1f} | ≤ 20 s | {before} / {load()} |"
    )

    # Driving video: another person's photo turned and talking, 640x360, 5 s at 25 fps.
    canvas = np.full((360, 640, 3), 90, dtype=np.uint8)
    face = photo(dataset, *DRIVER, side=340)
    x = (640 - face.shape[1]) // 2
    canvas[10 : 10 + face.shape[0], x : x + face.shape[1]] = face
    prepared = animator.prepare(canvas)
    frames = []
    for i in range(125):
        phase = i / 124
        pose = Pose(yaw=10 * np.sin(2 * np.pi * phase), pitch=6 * np.sin(4 * np.pi * phase))
        jaw = max(0.0, np.sin(5 * np.pi * phase)) * 0.8
        expression = prepared.rig.displacement(Expression(jaw=jaw, smile=0.3 * phase))
        target = place(
            prepared.landmarks, prepared.frame, pose, prepared.frame.to_pixels(expression)
        )
        blink = 1.0 if abs(phase - 0.5) < 0.02 else 0.0
        frames.append(prepared.warper.render(target, (blink, blink)))
    driving = out_dir / "driving.mp4"
    write_video(driving, frames, 25)

    before = load()
    started = time.perf_counter()
    reenacted = animator.reenact(source, driving, out_dir / "reenacted.mp4")
    wall = time.perf_counter() - started
    rows.append(
        f"| reenactment, 640x360 driving video, 125 frames | {wall:.1f} s "
        f"| {reenacted.frames / wall:.1f} | ≥ 5 frames/s | {before} / {load()} |"
    )
    from ml.video import iter_frames

    errors = []
    width = animator.prepare(source).frame.width
    for frame, (target, _) in zip(iter_frames(reenacted.path), reenacted.targets, strict=True):
        pts = target[:NUM_MESH_POINTS, :2]
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        found = animator.mesher.landmarks(frame, (x0, y0, x1 - x0, y1 - y0))
        if found is not None:
            errors.append(np.linalg.norm(found[:NUM_MESH_POINTS, :2] - pts, axis=1).mean() / width)

    before = load()
    started = time.perf_counter()
    text = "Hello, my name is Jerry. This photo speaks offline, with subtitles."
    talk = animator.talk(source, text, out_dir / "talk.mp4", burn_subtitles=True, seed=1)
    wall = time.perf_counter() - started
    rows.append(
        f"| talking photo, {talk.duration:.1f} s of English speech | {wall:.1f} s "
        f"| {talk.frames / wall:.1f} | - | {before} / {load()} |"
    )

    print("| animation | wall time | frames/s | target | load before / after |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\nReenactment: the animated face's mesh vs its targets, mean error per frame "
        f"{np.mean(errors):.3f} face widths (max {np.max(errors):.3f}, {len(errors)} frames)."
        f" Timings: portrait render {portrait.timings['render']:.1f} s of "
        f"{portrait.timings['total']:.1f} s; reenactment driving landmarks "
        f"{reenacted.timings['driving_landmarks']:.1f} s, render {reenacted.timings['render']:.1f}"
        f" s of {reenacted.timings['total']:.1f} s. Peak RSS {rss_mb():.0f} MB."
    )
    for name in ("portrait", "driving", "reenacted", "talk"):
        sheet(out_dir / f"{name}.mp4", out_dir / f"{name}.png")
    print(f"\n(videos and contact sheets in {out_dir})")


if __name__ == "__main__":
    main()
