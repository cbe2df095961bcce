"""Style mixing bench: torch generator vs OpenVINO, projection speed, FaceNet cosine curve.

    .venv/bin/python -m bench.stylemix_bench [--iterations 100] [--resolution 256] [--photos 5]
        [--curve 0,5,10,25] [--curve-resolution 1024]

Prints load (torch generator), one synthesis in torch and OpenVINO, the projection time at the
chosen resolution and iteration count, and on one val photo per 5-celebrity person the FaceNet
cosine of the projection to the input face after each checkpoint iteration.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ml.device import torch_device
from ml.stylemix.generator import TorchStyleGAN, to_uint8_rgb
from ml.stylemix.projection import ProjectionSettings, identity_crop, project, psnr

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "instance/models"))


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--curve", default="0,5,10,25")
    parser.add_argument("--curve-resolution", type=int, default=1024)
    args = parser.parse_args()
    device = torch_device()
    started = time.perf_counter()
    generator = TorchStyleGAN(MODEL_DIR / "mobilestylegan", device=device)
    generator.w_average()
    print(
        f"device {device}; torch generator load {time.perf_counter() - started:.1f} s "
        f"(load {_load()})"
    )

    w_plus = generator.broadcast(generator.w_average())
    with torch.no_grad():
        generator.synthesize(w_plus)
        started = time.perf_counter()
        generator.synthesize(w_plus)
    print(f"torch synthesis 1024 px: {time.perf_counter() - started:.2f} s (load {_load()})")
    import openvino as ov

    synthesis = ov.Core().compile_model(
        str(MODEL_DIR / "mobilestylegan" / "SynthesisNetwork.xml"), "CPU"
    )
    w = generator.w_average().cpu().numpy()
    synthesis(w)
    started = time.perf_counter()
    synthesis(w)
    print(f"openvino synthesis 1024 px: {time.perf_counter() - started:.2f} s (load {_load()})")

    # Projection speed on a generated face (its own latent is the ground truth).
    z = torch.from_numpy(np.random.RandomState(21).randn(1, 512).astype(np.float32))
    with torch.no_grad():
        target_w = generator.w_average() + 0.7 * (generator.map(z) - generator.w_average())
        target = to_uint8_rgb(generator.synthesize(generator.broadcast(target_w)))
    settings = ProjectionSettings(resolution=args.resolution, iterations=args.iterations)
    started = time.perf_counter()
    result = project(generator, target, None, settings)
    seconds = time.perf_counter() - started
    per_iteration = seconds / max(args.iterations, 1)
    quality = psnr(result.reconstruction, target)
    print(
        f"projection {args.resolution} px x {args.iterations} it: {seconds:.1f} s "
        f"({per_iteration:.2f} s/it), PSNR {quality:.1f} dB (load {_load()})"
    )

    # FaceNet cosine curve on real photos.
    from ml.detection import FaceDetector, dominant_face
    from ml.facenet import FaceNetEmbedder
    from ml.stylemix.align import align
    from ml.stylemix.pipeline import five_points

    detector = FaceDetector.for_photos()
    embedder = FaceNetEmbedder(MODEL_DIR / "facenet_keras.h5")
    steps = sorted(int(s) for s in args.curve.split(","))
    curve_settings = ProjectionSettings(resolution=args.curve_resolution, iterations=steps[-1])
    people = sorted((MODEL_DIR / "5-celebrity-faces-dataset" / "val").iterdir())[: args.photos]
    rows = []
    for person in people:
        photo = sorted(person.glob("*.jpg"))[0]
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        aligned = align(rgb, five_points(dominant_face(detector.detect(rgb))))
        reference = embedder.embed(identity_crop(aligned.image))[0]
        started = time.perf_counter()
        fit = project(
            generator, aligned.image, aligned.points, curve_settings, checkpoints=frozenset(steps)
        )
        seconds = time.perf_counter() - started
        cosines = []
        for step in steps:
            with torch.no_grad():
                image = to_uint8_rgb(
                    generator.synthesize(torch.from_numpy(fit.snapshots[step])[None])
                )
            cosines.append(float(embedder.embed(identity_crop(image))[0] @ reference))
        rows.append(cosines)
        print(
            f"{person.name}: cosine by iteration "
            + ", ".join(f"{s}: {c:.2f}" for s, c in zip(steps, cosines, strict=True))
            + f" ({seconds:.0f} s, load {_load()})"
        )
    mean = np.mean(rows, axis=0)
    print("mean cosine: " + ", ".join(f"{s}: {c:.2f}" for s, c in zip(steps, mean, strict=True)))


if __name__ == "__main__":
    main()
