"""Faces by the generative prior (issue 11): automatic face colour and face restoration.

    .venv/bin/python bench/restore_faces.py [--photos 1] [--steps 40] [--out DIR]

1. Colour: 5-celebrity val colour photos turned grey (every person's first `--photos`); the
   face-region ab RMSE against the original of: automatic face colour (no hints), the grey photo
   (what colorize gives without it and without hints: nothing), a flat sepia print.
2. Time: one photo enlarged to 1024 px, colorized with automatic face colour (target <= 60 s).
3. Restoration: val photos degraded (blur, noise, scratches, dust; same size); face-region PSNR
   and FaceNet cosine to the clean original at face-restoration strengths 0...1.
Every figure is printed with the 1-minute load average. `--out` saves before/after PNGs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name  # noqa: E402
from ml.restore.color import grey_rgb  # noqa: E402
from ml.restore.colorize import colorize  # noqa: E402
from ml.restore.face_prior import FacePrior, PriorSettings, colour_seeds, five_points  # noqa: E402
from ml.stylemix.align import align  # noqa: E402
from ml.stylemix.generator import TorchStyleGAN  # noqa: E402
from ml.stylemix.projection import identity_crop  # noqa: E402
from tests.ml.restore_photos import (  # noqa: E402
    CELEBRITIES,
    SEPIA_AB,
    ab_rmse,
    colour_photos,
    degrade,
    face_skin,
    flat_chroma,
    load_rgb,
    psnr,
)
from tests.support import DATASET, MODEL_DIR  # noqa: E402

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def load() -> str:
    """The 1-minute load average, to write next to every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def colour_quality(prior: FacePrior, photos: int, out: Path | None) -> None:
    """Face-region ab RMSE: automatic face colour vs grey vs sepia."""
    rows = []
    for person in CELEBRITIES:
        for path in colour_photos(DATASET, "val", person)[:photos]:
            original = load_rgb(path)
            mask = face_skin(prior, original)
            if mask is None:
                continue
            old = grey_rgb(original)
            started = time.perf_counter()
            colours, report = prior.face_colours(old)
            if not report.faces_used:
                print(f"  {person} {path.name[:24]}: no face found in the grey photo")
                continue
            result = colorize(old, face_seeds=lambda rgb, grid, c=colours: colour_seeds(
                c, rgb.shape[:2], grid))  # fmt: skip
            seconds = time.perf_counter() - started
            row = (
                ab_rmse(result.rgb, original, mask),
                ab_rmse(old, original, mask),
                ab_rmse(flat_chroma(original, SEPIA_AB), original, mask),
            )
            rows.append(row)
            print(
                f"  {person} {path.name[:24]} {original.shape[1]}x{original.shape[0]}: face ab "
                f"RMSE prior {row[0]:.1f}, grey {row[1]:.1f}, sepia {row[2]:.1f} "
                f"({seconds:.1f} s, load {load()})",
                flush=True,
            )
            if out is not None:
                Image.fromarray(np.hstack([original, old, result.rgb])).save(
                    out / f"colour_{person}.png"
                )
    mean = np.mean(rows, axis=0)
    print(
        f"face-region ab RMSE over {len(rows)} photos: automatic face colour {mean[0]:.1f}, "
        f"grey (no colour source) {mean[1]:.1f}, flat sepia {mean[2]:.1f}"
    )


def colour_time(prior: FacePrior) -> None:
    """Colorize a 1024-px grey photo with automatic face colour, end to end."""
    path = colour_photos(DATASET, "val", "jerry_seinfeld")[0]
    original = cv2.resize(load_rgb(path), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    old = grey_rgb(original)
    started, cpu = time.perf_counter(), time.process_time()
    colours, report = prior.face_colours(old)
    result = colorize(old, face_seeds=lambda rgb, grid: colour_seeds(colours, rgb.shape[:2], grid))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"colorize 1024x1024 with automatic face colour ({prior.settings.iterations} steps at "
        f"{prior.settings.resolution} px, {report.faces_used} face): {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU (load {load()}); face prior {report.seconds:.1f} s; sources "
        f"{result.sources}"
    )


def restoration(prior: FacePrior, analyzer, photos: int, steps: int, out: Path | None) -> None:
    """Face PSNR and FaceNet cosine to the clean original, by restoration strength."""
    psnrs = {s: [] for s in STRENGTHS}
    cosines = {s: [] for s in STRENGTHS}
    for number, person in enumerate(CELEBRITIES[:photos]):
        clean = load_rgb(colour_photos(DATASET, "val", person)[0])
        faces = prior.faces(clean)
        if not faces:
            continue
        points = five_points(faces[0])
        old, _ = degrade(clean, 1, seed=number)
        mask = face_skin(prior, clean)
        reference = analyzer.embedder.embed(identity_crop(align(clean, points, 256).image)[None])
        started = time.perf_counter()
        fitted, _ = prior.fit_faces(old, iterations=steps)
        seconds = time.perf_counter() - started
        images = []
        for strength in STRENGTHS:
            restored = prior.blend_faces(old, fitted, strength)
            images.append(restored)
            psnrs[strength].append(psnr(restored[mask], clean[mask]))
            crop = identity_crop(align(restored, points, 256).image)
            cosines[strength].append(float(analyzer.embedder.embed(crop[None])[0] @ reference[0]))
        print(
            f"  {person}: face PSNR "
            + ", ".join(f"{s:.2f}: {psnrs[s][-1]:.2f}" for s in STRENGTHS)
            + "; FaceNet cos "
            + ", ".join(f"{s:.2f}: {cosines[s][-1]:.3f}" for s in STRENGTHS)
            + f" ({seconds:.1f} s, load {load()})",
            flush=True,
        )
        if out is not None:
            Image.fromarray(np.hstack([clean, old, images[2], images[-1]])).save(
                out / f"restore_{person}.png"
            )
    print(
        "face restoration, mean over photos by strength: "
        + "; ".join(
            f"{s:.2f}: PSNR {np.mean(psnrs[s]):.2f} dB, FaceNet cos {np.mean(cosines[s]):.3f}"
            for s in STRENGTHS
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=1, help="colour photos per person")
    parser.add_argument("--steps", type=int, default=30, help="colour projection steps per face")
    parser.add_argument("--restore-photos", type=int, default=3)
    parser.add_argument("--restore-steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None, help="save before/after PNGs here")
    parser.add_argument("--skip", nargs="*", default=[], choices=["colour", "time", "restore"])
    args = parser.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    import torch  # OMP_WAIT_POLICY is set by bench.common, imported first

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; torch threads {torch.get_num_threads()}")
    from ml.recognition import FaceAnalyzer

    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    generator = TorchStyleGAN(MODEL_DIR / "mobilestylegan")
    prior = FacePrior(generator, analyzer.detectors["photo"], PriorSettings(iterations=args.steps))
    if "colour" not in args.skip:
        colour_quality(prior, args.photos, args.out)
    if "time" not in args.skip:
        colour_time(prior)
    if "restore" not in args.skip:
        restoration(prior, analyzer, args.restore_photos, args.restore_steps, args.out)


if __name__ == "__main__":
    main()
