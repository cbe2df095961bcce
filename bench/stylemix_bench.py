"""Style mixing bench: torch generator vs OpenVINO, truncated synthesis, projection speed,
FaceNet cosine curve on real photos, and a 640x360 video.

    .venv/bin/python -m bench.stylemix_bench [--iterations 100] [--resolution 256] [--photos 5]
        [--curve 0,50,100,300] [--curve-resolutions 256,1024] [--video-seconds 5]
        [--video-keyframes 4] [--skip-speed] [--skip-curve] [--skip-video] [--people a,b]

Prints the load with every figure: one 1024 px synthesis in torch and OpenVINO; per size the
truncated synthesis' PSNR against the full output downscaled (its tolerance) and one projection
step's time (truncated and full network); the projection time at the chosen resolution and
iteration count (target: 256 px x 100 it <= 60 s) with PSNR and FaceNet cosine on a generated
face; on one val photo per 5-celebrity person the FaceNet cosine of the projection (rendered at
1024 px) to the input face after each checkpoint iteration, per curve resolution (target >= 0.6
at 1024 px / 300 it); and the time to style-mix a 640x360 video (target <= 10 min on CPU).
"""

from __future__ import annotations

# isort: off
import bench.common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: on
import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ml.device import torch_device
from ml.stylemix.generator import TorchStyleGAN, downsample, to_rgb01, to_uint8_rgb
from ml.stylemix.projection import ProjectionSettings, identity_crop, project, psnr
from ml.stylemix.truncated import HEAD_SIZES, head_psnr

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "instance/models"))


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def _step_seconds(generator: TorchStyleGAN, size: int, truncated: bool, repeats: int = 3) -> float:
    """The median time of one forward + backward pass at `size` px."""
    w_plus = generator.broadcast(generator.w_average()).clone().requires_grad_(True)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        if truncated:
            image = generator.synthesize_at(w_plus, size)
        else:
            image = downsample(to_rgb01(generator.synthesize(w_plus)), size)
        image.square().mean().backward()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument(
        "--people", default="", help="comma-separated val folders (else the first --photos)"
    )
    parser.add_argument("--curve", default="0,50,100,300")
    parser.add_argument("--curve-resolutions", default="256,1024")
    parser.add_argument("--video-seconds", type=float, default=5.0)
    parser.add_argument("--video-keyframes", type=int, default=4)
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--skip-speed", action="store_true", help="only the curve and video")
    args = parser.parse_args()
    device = torch_device()
    print(
        f"torch threads {torch.get_num_threads()}, OMP_WAIT_POLICY {os.environ['OMP_WAIT_POLICY']}"
    )
    started = time.perf_counter()
    generator = TorchStyleGAN(MODEL_DIR / "mobilestylegan", device=device)
    generator.w_average()
    print(f"device {device}; torch generator load {time.perf_counter() - started:.1f} s "
          f"(load {_load()})")  # fmt: skip

    from ml.facenet import FaceNetEmbedder

    embedder = FaceNetEmbedder(MODEL_DIR / "facenet_keras.h5")
    if not args.skip_speed:
        _speed(generator, embedder, args)
    if not args.skip_curve:
        _curve(generator, embedder, args)
    if not args.skip_video:
        _video(generator, args)


def _speed(generator: TorchStyleGAN, embedder, args) -> None:
    """Synthesis in torch and OpenVINO, the truncated heads, one step, one projection."""
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

    # The truncated synthesis: its error against the full output, and a step's cost.
    for size in HEAD_SIZES:
        started = time.perf_counter()
        generator.head(size)
        fitted = time.perf_counter() - started
        scores = head_psnr(generator, size, samples=4)
        print(
            f"truncated {size} px (blocks to {size // 2}, {generator.active_layers(size)} of "
            f"{generator.num_layers} layers): PSNR vs full downscaled "
            f"min {min(scores):.1f} / mean {np.mean(scores):.1f} dB; head ready in {fitted:.1f} s;"
            f" step {_step_seconds(generator, size, True):.3f} s (load {_load()})"
        )
    for size in (256, 1024):
        print(f"full network step at {size} px: {_step_seconds(generator, size, False, 2):.2f} s "
              f"(load {_load()})")  # fmt: skip

    # Projection speed and quality on a generated face (its own latent is the ground truth).
    z = torch.from_numpy(np.random.RandomState(21).randn(1, 512).astype(np.float32))
    with torch.no_grad():
        target_w = generator.w_average() + 0.7 * (generator.map(z) - generator.w_average())
        target = to_uint8_rgb(generator.synthesize(generator.broadcast(target_w)))
    settings = ProjectionSettings(resolution=args.resolution, iterations=args.iterations)
    started = time.perf_counter()
    result = project(generator, target, None, settings, reconstruct=False)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        rendered = to_uint8_rgb(generator.synthesize(torch.from_numpy(result.w_plus)[None]))
    cosine = float(
        embedder.embed(identity_crop(rendered))[0] @ embedder.embed(identity_crop(target))[0]
    )
    print(
        f"projection {args.resolution} px x {args.iterations} it: {seconds:.1f} s "
        f"({seconds / max(args.iterations, 1):.2f} s/it; target <= 60 s), "
        f"PSNR {psnr(rendered, target):.1f} dB, FaceNet cosine {cosine:.2f} (load {_load()})"
    )


def _curve(generator: TorchStyleGAN, embedder, args) -> None:
    """FaceNet cosine of the projection to the input photo by iteration, per resolution."""
    from ml.detection import FaceDetector, dominant_face
    from ml.stylemix.align import align
    from ml.stylemix.pipeline import five_points

    detector = FaceDetector.for_photos()
    steps = sorted(int(s) for s in args.curve.split(","))
    people = sorted((MODEL_DIR / "5-celebrity-faces-dataset" / "val").iterdir())[: args.photos]
    if args.people:
        people = [
            MODEL_DIR / "5-celebrity-faces-dataset" / "val" / p for p in args.people.split(",")
        ]
    for resolution in (int(r) for r in args.curve_resolutions.split(",")):
        settings = ProjectionSettings(resolution=resolution, iterations=steps[-1])
        rows = []
        for person in people:
            photo = sorted(person.glob("*.jpg"))[0]
            rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
            aligned = align(rgb, five_points(dominant_face(detector.detect(rgb))))
            reference = embedder.embed(identity_crop(aligned.image))[0]
            started = time.perf_counter()
            fit = project(
                generator, aligned.image, aligned.points, settings,
                checkpoints=frozenset(steps), reconstruct=False,
            )  # fmt: skip
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
                f"{resolution} px {person.name}: cosine by iteration "
                + ", ".join(f"{s}: {c:.2f}" for s, c in zip(steps, cosines, strict=True))
                + f" ({seconds:.0f} s, load {_load()})",
                flush=True,
            )
        mean = np.mean(rows, axis=0)
        print(
            f"{resolution} px mean cosine ({len(rows)} photos): "
            + ", ".join(f"{s}: {c:.2f}" for s, c in zip(steps, mean, strict=True))
        )


def _video(generator: TorchStyleGAN, args) -> None:
    """Style-mix a 640x360 clip (a val photo panning, with sound) as the effect does."""
    from ml.detection import FaceDetector
    from ml.stylemix.pipeline import StyleMixer, VideoSettings
    from tests.ml.test_video import make_video

    folder = MODEL_DIR / "5-celebrity-faces-dataset" / "val" / "jerry_seinfeld"
    face = cv2.cvtColor(cv2.imread(str(sorted(folder.glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB)
    mixer = StyleMixer(generator, FaceDetector.for_photos())
    settings = VideoSettings(
        first=ProjectionSettings(resolution=128, iterations=30),
        iterations=3,
        keyframe_every=args.video_keyframes,
    )
    with tempfile.TemporaryDirectory() as scratch:
        src = make_video(Path(scratch) / "in.mp4", [face], seconds=args.video_seconds, fps=25,
                         size=(640, 360), face_height=240)  # fmt: skip
        started = time.perf_counter()
        made = mixer.mix_video(src, Path(scratch) / "out.mp4", mixer.generated_latent(11),
                               {"fine": 1.0}, settings)  # fmt: skip
        seconds = time.perf_counter() - started
    print(
        f"video 640x360 {args.video_seconds:g} s at 25 fps ({made.frames} frames, projection "
        f"128 px x 30 it then 3 it per keyframe, every {args.video_keyframes}): {seconds:.0f} s "
        f"= {seconds / 60:.1f} min (target <= 10 min), {made.frames / seconds:.2f} frames/s "
        f"(load {_load()})"
    )


if __name__ == "__main__":
    main()
