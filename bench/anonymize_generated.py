"""Anonymize with generated faces (synthetic mode, the default) on a filled default bank.

Run with `.venv/bin/python bench/anonymize_generated.py BANK_DIR` where BANK_DIR holds a default
bank (e.g. one `bench/generator.py` or a worker built; `flask studio facebank generate` fills
one). Group photos as in bench/studio_anonymize.py (1280x800, 10 faces, layouts 5-7, no face
kept), 3 timed runs each after a warm-up; generation is not in the time (the bank is filled).
Prints: faces replaced by a generated face / blurred, FaceNet cosine of each re-detected result
to its original (target <= 0.35), gender kept (age/gender ONNX on the result), distinct faces.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name  # noqa: E402
from ml.anonymize import Anonymizer  # noqa: E402
from ml.detection import KEYPOINT_NAMES  # noqa: E402
from ml.face_bank import KIND_GENERATED  # noqa: E402
from ml.recognition import FaceAnalyzer  # noqa: E402
from tests.ml.studio_scenes import embed_face, group_photo, iou  # noqa: E402

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
LAYOUTS = (5, 6, 7)
RUNS = 3


def load() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


def main(bank_dir: Path) -> None:
    """Print the section."""
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    anonymizer = Anonymizer.from_model_dir(MODEL_DIR, analyzer=analyzer, bank_dir=bank_dir)
    generated = sum(1 for d in anonymizer.bank.donors if d.kind == KIND_GENERATED)
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores. Bank: {generated} generated faces.\n")
    print("| layout | faces | generated / blurred | distinct faces | p50 s | max s | load |")
    print("|---|---|---|---|---|---|---|")
    cosines, kept_gender, checked = [], 0, 0
    for seed in LAYOUTS:
        image, _ = group_photo(DATASET, analyzer.detectors["photo"], seed=seed)
        faces = anonymizer.detect(image)
        anonymizer.anonymize_image(image, [], "synthetic")  # warm-up (fills the caches)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            result = anonymizer.anonymize_image(image, [], "synthetic")
            times.append(time.perf_counter() - started)
        records = {r["id"]: r for r in result.details["faces"]}
        done = [r for r in records.values() if r["mode"] == "synthetic"]
        donors = [r["donors"][0] for r in done]
        after = analyzer.detectors["photo"].detect(result.image)
        for face in faces:
            record = records[face.id]
            if record["mode"] != "synthetic":
                continue
            match = max(after, key=lambda f, box=face.box: iou(f.box, box), default=None)
            if match is None or iou(match.box, face.box) < 0.4:
                continue
            original = embed_face(analyzer, image, face.as_detected())
            cosines.append(float(embed_face(analyzer, result.image, match) @ original))
            five = np.array([match.keypoints[name] for name in KEYPOINT_NAMES])
            checked += 1
            kept_gender += (
                anonymizer.age_gender.estimate(result.image, five).gender == record["gender"]
            )
        print(
            f"| {seed} | {len(faces)} | {len(done)} / {len(faces) - len(done)} | "
            f"{len(set(donors))} | **{np.median(times):.2f}** | {max(times):.2f} | {load()} |"
        )
    print(
        f"\nIdentity: FaceNet cosine of the re-detected result to the original face: median "
        f"{np.median(cosines):.2f}, max {max(cosines):.2f} ({sum(c > 0.35 for c in cosines)} of "
        f"{len(cosines)} above 0.35). Gender kept (age/gender ONNX on the result): "
        f"{kept_gender}/{checked}.\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
