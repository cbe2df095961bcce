"""Studio benchmark: what each effect does to faces (measured) and how fast it runs here.

One section per effect; `main()` runs every section and prints Markdown for bench/RESULTS.md.
Run with `.venv/bin/python bench/studio.py` (or `make bench`); `--only face_swap` or
`--only anonymize` runs one section; `--save DIR` writes the face swap's before/after PNGs (one
per source and target person) to look at.

- face swap: identity moved (FaceNet cosine to the source and to the original target, before and
  after, over every cross-person pair of the 5-celebrity photos), face still detected; time per
  1280-px photo (p50/p90, with the stages) and frames per second on 640x360 videos.
- anonymize: bench/studio_anonymize.py (every non-kept face replaced, identity hidden, time per
  1280-px photo with 10 faces, frames per second per mode, age/gender accuracy).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, pct  # noqa: E402
from ml.errors import FaceError  # noqa: E402
from ml.images import decode_image  # noqa: E402
from ml.recognition import FaceAnalyzer  # noqa: E402

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
THRESHOLD = float(os.environ.get("RECOGNITION_THRESHOLD", "0.45"))


def photos(split: str, person: str) -> list[Path]:
    """A person's photos in one split, sorted."""
    return sorted((DATASET / split / person).glob("*.jpg"))


def load(path: Path) -> np.ndarray:
    """Decode a photo to RGB."""
    return decode_image(path.read_bytes())


def to_long_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize so that the longer side is `side` pixels."""
    scale = side / max(rgb.shape[:2])
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


# -- face swap -----------------------------------------------------------------------------------


_SOURCES: dict[str, np.ndarray] = {}
SOURCE_NAMES: dict[str, str] = {}


def source_photo(person: str, analyzer: FaceAnalyzer | None = None) -> np.ndarray:
    """A person's source photo: the train photo (the targets are val photos) that is the best
    swap source by `source_fitness` (the most frontal, mouth closed, no hand on the face), as a
    user would pick one."""
    if person not in _SOURCES:
        from ml.face_mesh import FaceMesher
        from ml.face_swap import source_fitness

        analyzer = analyzer or FaceAnalyzer.from_model_dir(MODEL_DIR)
        mesher = FaceMesher()
        best, best_score = None, float("inf")
        for path in photos("train", person):
            rgb = load(path)
            faces = analyzer.detectors["photo"].detect(rgb)
            landmarks = mesher.landmarks(rgb, faces[0].box) if faces else None
            if landmarks is None:
                continue
            score = source_fitness(landmarks, rgb)
            if score < best_score:
                best, best_score, SOURCE_NAMES[person] = rgb, score, path.name
        _SOURCES[person] = best
    return _SOURCES[person]


def save_example(folder: Path, name: str, source: np.ndarray, target, result) -> None:
    """Source | target | result, 360 px tall, as a PNG to look at."""
    row = [cv2.resize(x, (round(x.shape[1] * 360 / x.shape[0]), 360)) for x in (source, target)]
    row.append(cv2.resize(result, (row[1].shape[1], 360)))
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(np.hstack(row), cv2.COLOR_RGB2BGR))


def bench_face_swap(analyzer: FaceAnalyzer, save: Path | None = None) -> None:
    """Identity moved, face kept, time per 1280-px photo and frames/s on 640x360 videos."""
    from ml.face_mesh import FaceMesher
    from ml.face_swap import FaceSwapper, VideoSwapper
    from ml.video import transform_video

    swapper = FaceSwapper(analyzer.detectors["photo"], FaceMesher())
    print("## bench/studio.py — face swap\n")
    print(f"Engine: {swapper.version}.\n")

    # 1. Identity: every source person onto every other person's val photos.
    before_src, after_src, after_tgt, kept_face, pairs = [], [], [], 0, 0
    recognized_as_source, recognized_as_target = 0, 0
    for source_person in PEOPLE:
        source = source_photo(source_person, analyzer)
        e_source = analyzer.analyze(source)[0].embedding
        for target_person in PEOPLE:
            if target_person == source_person:
                continue
            for path in photos("val", target_person):
                target = load(path)
                original = analyzer.analyze(target)
                if not original:
                    continue
                result = swapper.swap_image(source, target, [0])
                if not result.swapped_ids:
                    continue
                pairs += 1
                if save is not None and path == photos("val", target_person)[0]:
                    name = f"{source_person}_on_{target_person}"
                    save_example(save, name, source, target, result.image)
                found = analyzer.analyze(result.image)
                if not found:
                    continue
                kept_face += 1
                e_target, e_result = original[0].embedding, found[0].embedding
                before_src.append(float(e_source @ e_target))
                after_src.append(float(e_source @ e_result))
                after_tgt.append(float(e_target @ e_result))
                recognized_as_source += after_src[-1] >= THRESHOLD
                recognized_as_target += after_tgt[-1] >= THRESHOLD
    moved = sum(a > b for a, b in zip(after_src, before_src, strict=True))
    chosen = ", ".join(f"{person} {SOURCE_NAMES.get(person, '?')[:32]}…" for person in PEOPLE)
    print(f"Sources (one train photo a person, the best by `source_fitness`): {chosen}.\n")
    print(
        "Identity, over every (source person, other person's val photo) pair; cosines of "
        f"FaceNet embeddings (threshold {THRESHOLD}):\n"
    )
    print("| measure | result |")
    print("|---|---|")
    print(f"| pairs swapped | {pairs} |")
    print(f"| swapped face still found by MTCNN | {kept_face}/{pairs} |")
    print(f"| cosine to the source: before → after (median) | "
          f"{np.median(before_src):.2f} → {np.median(after_src):.2f} |")  # fmt: skip
    print(f"| cosine to the source went up | {moved}/{len(after_src)} |")
    print(f"| cosine to the original target after (median, p90) | "
          f"{np.median(after_tgt):.2f}, {np.percentile(after_tgt, 90):.2f} |")  # fmt: skip
    print(f"| still recognized as the target (cos ≥ {THRESHOLD}) | "
          f"{recognized_as_target}/{len(after_tgt)} |")  # fmt: skip
    print(f"| recognized as the source (cos ≥ {THRESHOLD}) | "
          f"{recognized_as_source}/{len(after_src)} |\n")  # fmt: skip

    # 2. Photos: every val photo brought to 1280 px on its long side (large faces: worst case).
    source = source_photo("jerry_seinfeld", analyzer)
    swapper.swap_image(source, to_long_side(load(photos("val", "madonna")[0]), 1280))  # warm-up
    totals: list[float] = []
    missed: list[str] = []
    stages: dict[str, list[float]] = {"source": [], "detect": [], "mesh": [], "swap": []}
    for person in PEOPLE:
        for path in photos("val", person):
            target = to_long_side(load(path), 1280)
            started = time.perf_counter()
            try:
                result = swapper.swap_image(source, target)
            except FaceError:
                missed.append(f"{person}/{path.name}")
                continue
            totals.append(time.perf_counter() - started)
            if not result.swapped_ids:
                missed.append(f"{person}/{path.name} (no mesh)")
                continue
            # The stages, timed again one by one.
            t0 = time.perf_counter()
            prepared = swapper.prepare_source(source)
            t1 = time.perf_counter()
            faces = swapper.detect(target)
            t2 = time.perf_counter()
            landmarks = swapper.mesher.landmarks(target, faces[result.swapped_ids[0]].box)
            t3 = time.perf_counter()
            swapper.swap_face(target, prepared, landmarks)
            t4 = time.perf_counter()
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[name].append(seconds)
    print(
        f"Photo: {len(totals)} val photos resized to 1280 px on the long side (one face of "
        "~450-900 px), source Jerry Seinfeld (his train photo above), `swap_image` end to end:\n"
    )
    print("| stage | p50 ms | p90 ms | n |")
    print("|---|---|---|---|")
    print(f"| **swap_image, 1280-px photo** (target ≤ 1500 ms) | **{pct(totals, 50):.0f}** | "
          f"{pct(totals, 90):.0f} | {len(totals)} |")  # fmt: skip
    labels = {
        "source": "prepare the source (detect, mesh, hair, triangulate, inpaint rim)",
        "detect": "detect target faces (MTCNN, photo preset)",
        "mesh": "target face mesh (crop → MediaPipe)",
        "swap": "one face: shape, liquify, warp, segment, hands, hair, colour, light, blend",
    }
    for name, values in stages.items():
        print(f"| {labels[name]} | {pct(values, 50):.0f} | {pct(values, 90):.0f} | {len(values)} |")
    if missed:
        print(f"\nNo face found at 1280 px (MTCNN), not timed: {', '.join(missed)}.")
    print()

    # 3. Videos: 640x360 H.264, the photos panning, decode → swap → H.264 + AAC.
    from tests.ml.test_video import make_video  # the same clips the tests make

    print("Video: 640x360 at 25 fps, 4 s (100 frames), faces panning, with an AAC track; "
          "`transform_video` with `VideoSwapper` (decode, detect, track, mesh, smooth, swap, "
          "encode H.264):\n")  # fmt: skip
    print("| video | frames | seconds | frames/s (target ≥ 8) | frames with every chosen face "
          "swapped |")  # fmt: skip
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for label, people, face_height, target_ids in (
            ("one face, 200 px tall", ["ben_afflek"], 200, None),
            ("two faces, 160 px, swap both", ["ben_afflek", "madonna"], 160, None),
            ("two faces, 160 px, swap one", ["ben_afflek", "madonna"], 160, [0]),
        ):
            faces = [load(photos("val", p)[1]) for p in people]
            clip = make_video(
                Path(folder) / "clip.mp4", faces, seconds=4.0, fps=25, face_height=face_height
            )
            fn = VideoSwapper(swapper, source, target_ids=target_ids, fps=25)
            started = time.perf_counter()
            info = transform_video(clip, Path(folder) / "out.mp4", fn)
            seconds = time.perf_counter() - started
            wanted = len(people) if target_ids is None else len(target_ids)
            complete = sum(len(ids) == wanted for ids in fn.swapped_per_frame)
            print(f"| {label} | {info.frames} | {seconds:.1f} | **{info.frames / seconds:.1f}** | "
                  f"{complete}/{info.frames} |")  # fmt: skip
    print()

    # 4. Stability: a still shot with sensor noise; frame-to-frame change inside the face.
    target = load(photos("val", "ben_afflek")[1])
    rng = np.random.default_rng(3)
    frames = [
        np.clip(target + rng.normal(0.0, 3.0, target.shape), 0, 255).astype(np.uint8)
        for _ in range(25)
    ]
    video = VideoSwapper(swapper, source, fps=25)
    out = [video(frame, index) for index, frame in enumerate(frames)]
    single = [swapper.swap_image(source, frame).image for frame in frames]
    landmarks = swapper.mesher.landmarks(target, swapper.detect(target)[0].box)
    from ml.face_mesh import FACE_OVAL, polygon_mask

    face = polygon_mask(target.shape[:2], landmarks, FACE_OVAL) > 0

    def flicker(sequence: list[np.ndarray]) -> float:
        steps = itertools.pairwise(sequence[2:])
        return float(np.mean([np.abs(b[face].astype(int) - a[face]).mean() for a, b in steps]))

    print(
        "Stability: a still shot (a val photo, 25 frames, Gaussian noise sigma 3 added to each), "
        "mean absolute change from one frame to the next inside the face (0-255):\n"
    )
    print("| input | `VideoSwapper` (tracked, smoothed) | each frame swapped on its own |")
    print("|---|---|---|")
    print(f"| {flicker(frames):.2f} | **{flicker(out):.2f}** | {flicker(single):.2f} |\n")


# -- anonymize -----------------------------------------------------------------------------------


def bench_anonymize(analyzer: FaceAnalyzer) -> None:
    """Anonymize bystanders: bench/studio_anonymize.py (replaced share, identity, timings)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from studio_anonymize import run

    run(analyzer)


SECTIONS = {"face_swap": bench_face_swap, "anonymize": bench_anonymize}


def main() -> None:
    """Load the recognizer once and run the sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--save", type=Path, help="face swap: write before/after PNGs here")
    args = parser.parse_args()
    started = time.perf_counter()
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    load1, _, _ = os.getloadavg()
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load1:.1f} at the start.\n"
    )
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        if name == "face_swap":
            section(analyzer, save=args.save)
        else:
            section(analyzer)
    load1, _, _ = os.getloadavg()
    print(f"Whole run {time.perf_counter() - started:.0f} s; load average {load1:.1f} at the end.")


if __name__ == "__main__":
    main()
