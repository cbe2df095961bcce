"""Anonymize with generated faces (synthetic mode, the default) on a filled default bank.

Run with `.venv/bin/python bench/anonymize_generated.py BANK_DIR [OUT_DIR]` (OUT_DIR: each
layout before | after as a JPEG, to look at) where BANK_DIR holds a default
bank (e.g. one `bench/generator.py` or a worker built; `flask studio facebank generate` fills
one). Group photos as in bench/studio_anonymize.py (1280x800, 10 faces, layouts 5-7, no face
kept), 3 timed runs each after a warm-up; generation is not in the time (the bank is filled).
Prints, per face: replaced or blurred and why (no_mesh, mesh_disagrees, too_small,
identity_check_failed, a bank error), whether it is one of the real pasted faces (a blurred
non-real detection is a false detection, e.g. a hand on a chin), the identity check's cosine and
the FaceNet cosine of the re-detected result to its original (target <= 0.35), gender before ->
after (age/gender ONNX). Then per layout and in total: replaced / blurred, distinct faces, time
per photo (p50/max) and the load.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
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


def main(bank_dir: Path, out_dir: Path | None = None) -> None:
    """Print the section: per face, per layout, and the totals the targets name."""
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    anonymizer = Anonymizer.from_model_dir(MODEL_DIR, analyzer=analyzer, bank_dir=bank_dir)
    generated = sum(1 for d in anonymizer.bank.donors if d.kind == KIND_GENERATED)
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores. Bank: {generated} generated faces.")
    print(f"Engine: {anonymizer.version}. Load at start: {load()}.\n")
    rows, table = [], []
    all_times = []
    for seed in LAYOUTS:
        image, placed = group_photo(DATASET, analyzer.detectors["photo"], seed=seed)
        faces = anonymizer.detect(image)
        anonymizer.anonymize_image(image, [], "synthetic")  # warm-up (fills the caches)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            result = anonymizer.anonymize_image(image, [], "synthetic")
            times.append(time.perf_counter() - started)
        all_times += times
        timings = result.details["timings"]
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            both = cv2.cvtColor(np.hstack([image, result.image]), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(out_dir / f"layout-{seed}.jpg"), both)
        records = {r["id"]: r for r in result.details["faces"]}
        after = analyzer.detectors["photo"].detect(result.image)
        done = []
        for face in faces:
            record = records[face.id]
            real = any(iou(p.box, face.box) > 0.3 for p in placed)
            row = {"layout": seed, "id": face.id, "real": real, "mode": record["mode"]}
            row["why"] = record.get("reason", "") or record.get("fallback", "")
            check = record.get("identity_check") or {}
            row["check"] = check.get("cosine_to_original")
            if record["mode"] == "synthetic":
                done.append(record["donors"][0])
                match = max(after, key=lambda f, box=face.box: iou(f.box, box), default=None)
                if match is None or iou(match.box, face.box) < 0.4:
                    row["why"] = "not re-detected as a face"
                else:
                    original = embed_face(analyzer, image, face.as_detected())
                    row["cosine"] = float(embed_face(analyzer, result.image, match) @ original)
                    five = np.array([match.keypoints[name] for name in KEYPOINT_NAMES])
                    after_gender = anonymizer.age_gender.estimate(result.image, five).gender
                    row["gender"] = f"{record['gender']} -> {after_gender}"
                    row["gender_kept"] = after_gender == record["gender"]
            rows.append(row)
        table.append(
            f"| {seed} | {len(faces)} | {len(done)} / {len(faces) - len(done)} | "
            f"{len(set(done))} | **{np.median(times):.2f}** | {max(times):.2f} | "
            f"{timings['detect']:.2f} / {timings['replace']:.2f} | {load()} |"
        )
    print("| layout | face | real face | result | why blurred | cosine to original "
          "(check / re-detected) | gender (before -> after) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cosine = row.get("cosine")
        print(
            f"| {row['layout']} | {row['id']} | {'yes' if row['real'] else 'no'} | "
            f"{'replaced' if row['mode'] == 'synthetic' else row['mode']} | {row['why']} | "
            f"{row['check'] if row['check'] is not None else '-'} / "
            f"{'-' if cosine is None else f'{cosine:.2f}'} | {row.get('gender', '-')} |"
        )
    print(
        "\n| layout | faces | generated / blurred | distinct faces | p50 s | max s | "
        "detect / replace s (last run) | load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(table))
    real = [row for row in rows if row["real"]]
    replaced_real = [row for row in real if row["mode"] == "synthetic"]
    cosines = [row["cosine"] for row in rows if "cosine" in row]
    kept = [row["gender_kept"] for row in rows if "gender_kept" in row]
    blurred = [f"{r['layout']}/{r['id']} {r['why']}" for r in rows if r["mode"] != "synthetic"]
    print(
        f"\nTotals: real faces replaced by a generated face {len(replaced_real)}/{len(real)} "
        f"(target 100%); all detections {len(rows) - len(blurred)}/{len(rows)} (blurred: "
        f"{', '.join(blurred) or 'none'})."
    )
    if cosines:
        print(
            f"Identity: FaceNet cosine of the re-detected result to the original: median "
            f"{np.median(cosines):.2f}, max {max(cosines):.2f} ({sum(c > 0.35 for c in cosines)}"
            f" of {len(cosines)} above 0.35, target none). Gender kept: {sum(kept)}/{len(kept)}."
        )
    print(
        f"Time per photo over all layouts ({RUNS} runs each after a warm-up): p50 "
        f"{np.median(all_times):.2f} s, max {max(all_times):.2f} s (target <= 3 s); "
        f"load now {load()}."
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
