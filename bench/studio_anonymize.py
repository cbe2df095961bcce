"""Anonymize benchmark: every non-kept face replaced? identity hidden? how fast on this machine?

Run with `.venv/bin/python bench/studio_anonymize.py` (bench/studio.py runs it as its anonymize
section). Prints Markdown for bench/RESULTS.md.

- Donor bank: built like tests/ml/test_anonymize.py: 3 train photos of each of the 5 celebrities
  (a folder per person) and 3 rendered people (FaceNet merges them into one person): 6 people.
- Group photos: 1280x800, 10 faces of 36-190 px (celebrity val photos and rendered stills, pasted
  by tests/ml/studio_scenes.py), three layouts; every face replaced, none kept, in each mode.
  A face counts as replaced when its inner box differs from the original by > 12 grey levels
  (mean absolute). Identity: FaceNet cosine of the re-detected replaced face to the original
  face, to each of its donors, and to the person's centroid over 8 train photos.
- Video: 640x360, a still face and a bystander walking past; per-frame time of VideoAnonymizer
  (detect, track, replace), without decoding and encoding.
- Age and gender on the 25 val photos.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name  # noqa: E402
from ml.anonymize import Anonymizer, VideoAnonymizer  # noqa: E402
from ml.images import decode_image  # noqa: E402
from ml.recognition import FaceAnalyzer  # noqa: E402
from tests.ml.studio_scenes import (  # noqa: E402
    GESTURES,
    embed_face,
    group_photo,
    iou,
    moving_scene,
    person_centroids,
)

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
GENDER = {"ben_afflek": "male", "elton_john": "male", "jerry_seinfeld": "male"}
RENDERED = (
    "enroll/v1/v1_waist_standby_e2.jpg",
    "enroll/v2/v2_waist_standby_e1.jpg",
    "stills/v3_waist_O.jpg",
)
THRESHOLD = float(os.environ.get("RECOGNITION_THRESHOLD", "0.45"))
LAYOUTS = (5, 6, 7)  # group_photo seeds
RUNS = 3  # timed runs per layout and mode (after one warm-up)


def donor_folder(root: Path) -> Path:
    """The donor photos, one folder per person."""
    for person in PEOPLE:
        (root / person).mkdir(parents=True)
        for path in sorted((DATASET / "train" / person).glob("*.jpg"))[:3]:
            shutil.copy(path, root / person / path.name)
    for relative in RENDERED:
        person = Path(relative).name.split("_")[0]
        (root / person).mkdir(exist_ok=True)
        shutil.copy(GESTURES / relative, root / person / Path(relative).name)
    return root


def percentile(values: list[float], q: float) -> float:
    """Percentile (same unit as the values), or nan for no values."""
    return float(np.percentile(values, q)) if values else float("nan")


def run(analyzer: FaceAnalyzer) -> None:
    """Print the anonymize section."""
    print("## bench/studio_anonymize.py — anonymize bystanders\n")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        anonymizer = Anonymizer.from_model_dir(
            MODEL_DIR, analyzer=analyzer, bank_dir=folder / "bank", threshold=THRESHOLD
        )
        donors = donor_folder(folder / "donors")
        started = time.perf_counter()
        report = anonymizer.bank.add_folder(donors)
        bank_seconds = time.perf_counter() - started
        photos = len(report.added) + len(report.skipped)
        cells = ", ".join(f"{g}/{b} {n}" for (g, b), n in sorted(anonymizer.bank.counts().items()))
        print(
            f"Bank: {len(report.added)} donors of {len(anonymizer.bank.persons())} people from "
            f"{photos} photos ({len(report.skipped)} refused: "
            + ", ".join(sorted({code for _, code, _ in report.skipped}))
            + f"), {bank_seconds / photos * 1000:.0f} ms a photo; people per cell: {cells}.\n"
        )
        photo_section(anonymizer, analyzer)
        video_section(anonymizer, analyzer)
        age_gender_section(anonymizer, analyzer)


def photo_section(anonymizer: Anonymizer, analyzer: FaceAnalyzer) -> None:
    """Group photos in each mode: time, replaced share, identity."""
    known = person_centroids(analyzer, DATASET, PEOPLE)
    vectors = anonymizer.bank.embeddings()
    rows = []
    identity: dict[str, list[float]] = {"original": [], "donor": [], "centroid": []}
    redetected = synthetic = 0
    fallbacks: list[str] = []
    detect_stats: list[dict] = []
    for seed in LAYOUTS:
        image, placed = group_photo(DATASET, analyzer.detectors["photo"], seed=seed)
        faces = anonymizer.detect(image)
        originals = {f.id: embed_face(analyzer, image, f.as_detected()) for f in faces}
        for mode in ("synthetic", "blur", "pixelate"):
            anonymizer.anonymize_image(image, [], mode)  # warm-up
            times, stage = [], []
            for _ in range(RUNS):
                started = time.perf_counter()
                result = anonymizer.anonymize_image(image, [], mode)
                times.append(time.perf_counter() - started)
                stage.append(result.details["timings"])
                detect_stats.append(result.details["detectors"])
            replaced = 0
            for face in faces:
                x, y, w, h = face.box
                ys = slice(round(y + 0.2 * h), round(y + 0.8 * h))
                xs = slice(round(x + 0.2 * w), round(x + 0.8 * w))
                diff = np.abs(result.image[ys, xs].astype(int) - image[ys, xs].astype(int))
                replaced += diff.mean() > 12
            rows.append((seed, mode, len(placed), len(faces), replaced, times, stage))
            if mode != "synthetic":
                continue
            after = analyzer.detectors["photo"].detect(result.image)
            records = {r["id"]: r for r in result.details["faces"]}
            for face in faces:
                record = records[face.id]
                pasted = any(iou(p.box, face.box) > 0.3 for p in placed)
                if record["mode"] != "synthetic":
                    reason = record.get("fallback", "")
                    fallbacks.append(
                        ("pasted face" if pasted else "false detection") + ": " + reason
                    )
                    continue
                synthetic += 1
                match = max(after, key=lambda f, box=face.box: iou(f.box, box), default=None)
                if match is None or iou(match.box, face.box) < 0.4:
                    continue
                redetected += 1
                new = embed_face(analyzer, result.image, match)
                identity["original"].append(float(new @ originals[face.id]))
                identity["donor"].append(max(float(new @ vectors[d]) for d in record["donors"]))
                person = next(p.person for p in placed if iou(p.box, face.box) > 0.5)
                if person in known:
                    identity["centroid"].append(float(new @ known[person]))
    print(
        "Group photos: 1280x800, 10 faces of 36-190 px, three layouts, no face kept; "
        f"{RUNS} timed runs each after a warm-up.\n"
    )
    print(
        "| layout | mode | faces pasted / found | replaced | p50 s | max s | detect s | replace s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed, mode, pasted, found, replaced, times, stage in rows:
        detect = np.median([s["detect"] for s in stage])
        replace = np.median([s["replace"] for s in stage])
        print(
            f"| {seed} | {mode} | {pasted} / {found} | {replaced}/{found} | "
            f"**{np.median(times):.2f}** | {max(times):.2f} | {detect:.2f} | {replace:.2f} |"
        )
    mtcnn = [s["mtcnn"] for s in detect_stats]
    wide = [s["mediapipe"] for s in detect_stats]
    print(
        f"\nDetectors per photo: MTCNN {min(mtcnn)}-{max(mtcnn)}, MediaPipe full range "
        f"(whole + tiles) {min(wide)}-{max(wide)} of 10.\n"
    )
    print("Synthetic faces, identity (FaceNet cosine of the re-detected face; threshold 0.45):\n")
    print("| measure | result |")
    print("|---|---|")
    print(f"| faces given a synthetic face / blurred instead | {synthetic} / {len(fallbacks)} |")
    print(f"| synthetic face found again by MTCNN | {redetected}/{synthetic} |")
    for key, label in (
        ("original", "to the original face"),
        ("donor", "to the most similar of its 5 donors"),
        ("centroid", "to the person's centroid (celebrities)"),
    ):
        values = identity[key]
        above = sum(v >= THRESHOLD for v in values)
        print(
            f"| cosine {label}: median, max | {percentile(values, 50):.2f}, {max(values):.2f} "
            f"({above}/{len(values)} ≥ 0.45) |"
        )
    for reason in sorted(set(fallbacks)):
        print(f"\nBlurred instead ({fallbacks.count(reason)}): {reason}")
    print()


def video_section(anonymizer: Anonymizer, analyzer: FaceAnalyzer) -> None:
    """Per-frame time of VideoAnonymizer on a 640x360 scene."""
    frames, still, walker = moving_scene(DATASET, analyzer.detectors["photo"], frames=40, step=6)
    first = anonymizer.detect(frames[0])
    keep = [f.id for f in first if iou(f.box, still[0]) > 0.5]
    print("Video: 640x360, 40 frames, one face kept, a bystander walking past (no codec time):\n")
    print("| mode | frames/s | bystander covered in | kept face untouched in |")
    print("|---|---|---|---|")
    for mode in ("synthetic", "blur", "pixelate"):
        video = VideoAnonymizer(anonymizer, keep, mode)
        covered = untouched = 0
        started = time.perf_counter()
        outputs = [video(frame, index) for index, frame in enumerate(frames)]
        seconds = time.perf_counter() - started
        for out, frame, s_box, w_box in zip(outputs, frames, still, walker, strict=True):
            x, y, w, h = s_box
            untouched += np.array_equal(out[y : y + h, x : x + w], frame[y : y + h, x : x + w])
            x, y, w, h = w_box
            inner = (slice(y + h // 5, y + h - h // 5), slice(x + w // 5, x + w - w // 5))
            covered += np.abs(out[inner].astype(int) - frame[inner].astype(int)).mean() > 8
        print(
            f"| {mode} | **{len(frames) / seconds:.1f}** | {covered}/{len(frames)} | "
            f"{untouched}/{len(frames)} |"
        )
    print()


def age_gender_section(anonymizer: Anonymizer, analyzer: FaceAnalyzer) -> None:
    """Gender accuracy and ages on the val photos."""
    right, total, ages, times = 0, 0, {}, []
    for path in sorted((DATASET / "val").glob("*/*.jpg")):
        rgb = decode_image(path.read_bytes())
        face = analyzer.detectors["photo"].detect(rgb)[0]
        started = time.perf_counter()
        estimate = anonymizer.age_gender.estimate(rgb, face.keypoints)
        times.append(time.perf_counter() - started)
        person = path.parent.name
        right += estimate.gender == GENDER.get(person, "female")
        total += 1
        ages.setdefault(person, []).append(estimate.age)
    spread = ", ".join(f"{p} {min(a):.0f}-{max(a):.0f}" for p, a in sorted(ages.items()))
    print(
        f"Age and gender, 25 val photos: gender right {right}/{total}; ages (min-max) {spread}; "
        f"{percentile(times, 50) * 1000:.1f} ms a face (both networks).\n"
    )


def main() -> None:
    """Load the recognizer and run."""
    started = time.perf_counter()
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    load1, _, _ = os.getloadavg()
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load1:.1f} at the start.\n"
    )
    run(analyzer)
    load1, _, _ = os.getloadavg()
    print(f"Whole run {time.perf_counter() - started:.0f} s; load average {load1:.1f} at the end.")


if __name__ == "__main__":
    main()
