"""Face generator benchmark: faces/s, the default bank's build time, strangers vs the recognizer.

Run with `.venv/bin/python bench/generator.py [--skip-bank] [--skip-strangers]`; prints Markdown
for bench/RESULTS.md, with the load average next to each figure (the machine is shared).

- Generator: MobileStyleGAN (OpenVINO IR) at 1024 px, seeds 0-15, psi 0.7: one request at a time
  and pipelined (the backend's AsyncInferQueue, throughput hint); load and mean-w times.
- Default bank: 200 generated faces (at least 8 per gender x age band) into an empty folder, as a
  studio worker's first start does; attempts and drops by reason; faces per band.
- Strangers (the flat rule: one threshold, no per-person calibration; bench/open_set.py measures
  the calibrated one): 200 generated faces (seeds 10000-10199) recognized against the
  5-celebrity train photos enrolled at the recognition threshold; how many reach it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, rss_mb  # noqa: E402

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
THRESHOLD = float(os.environ.get("RECOGNITION_THRESHOLD", "0.45"))


def load() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


def generator_section(out: list[str], cache: Path) -> None:
    """Faces/s one at a time and pipelined."""
    from ml.generator import load_generator

    started = time.perf_counter()
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=cache)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    generator.mean_w()
    mean_s = time.perf_counter() - started
    generator.sample([0], 0.7)  # warm-up
    single = []
    for seed in range(8):
        started = time.perf_counter()
        generator.sample([seed], 0.7)
        single.append(time.perf_counter() - started)
    load_single = load()
    started = time.perf_counter()
    generator.sample(list(range(16)), 0.7)
    batch_s = time.perf_counter() - started
    out += [
        f"Generator ({generator.version}, {generator.requests} requests in flight): loaded in "
        f"{load_s:.1f} s, mean w of 4096 mapped z in {mean_s:.1f} s; RSS {rss_mb():.0f} MB.",
        "",
        "| 1024-px faces | faces/s | load (1 min) |",
        "|---|---|---|",
        f"| one at a time (8, median) | **{1 / float(np.median(single)):.2f}** | {load_single} |",
        f"| pipelined batch of 16 | **{16 / batch_s:.2f}** | {load()} |",
        "",
    ]


def bank_section(out: list[str], cache: Path) -> None:
    """Build the default bank from nothing, timed."""
    from ml.face_bank import FaceBank
    from ml.generator import load_generator
    from ml.generator.donors import DonorGenerator, generated_donor_tools, plan_default_bank

    with tempfile.TemporaryDirectory() as folder:
        generator = load_generator(MODEL_DIR, "cpu", cache_dir=cache)
        tools = generated_donor_tools(MODEL_DIR)
        bank = FaceBank(Path(folder), tools)
        loads = [load()]

        def progress(added: int, total: int, attempts: int) -> None:
            if attempts % 25 == 0:
                loads.append(load())

        report = DonorGenerator(bank, generator, tools).fill(
            plan_default_bank(bank), progress=progress
        )
        counts = bank.counts()
    cells = ", ".join(f"{g}/{b} {n}" for (g, b), n in sorted(counts.items()))
    drops = ", ".join(f"{code} {n}" for code, n in sorted(report.drop_counts().items()))
    out += [
        f"Default bank: **{len(report.added)} faces in {report.seconds:.0f} s** "
        f"({report.attempts} generated; dropped: {drops or 'none'}; still short: "
        f"{report.missing}); load during the build {min(loads)}-{max(loads)}.",
        f"Faces per band: {cells}.",
        "",
    ]


def strangers_section(out: list[str], cache: Path) -> None:
    """200 generated strangers against the enrolled 5 celebrities."""
    from ml.classifier import OpenSetClassifier
    from ml.generator import load_generator
    from ml.images import decode_image
    from ml.recognition import FaceAnalyzer

    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    embeddings, labels = [], []
    for label, person in enumerate(sorted((DATASET / "train").iterdir())):
        for photo in sorted(person.iterdir()):
            try:
                _, templates = analyzer.enrollment_templates(decode_image(photo.read_bytes()))
            except ValueError:
                continue
            embeddings += [embedding for _, embedding in templates]
            labels += [label] * len(templates)
    classifier = OpenSetClassifier.fit(np.stack(embeddings), np.array(labels), THRESHOLD)
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=cache)
    similarities, accepted, missed = [], 0, 0
    seeds = list(range(10_000, 10_200))
    for start in range(0, len(seeds), 8):
        for face in generator.sample(seeds[start : start + 8], 0.7, size=512):
            faces = analyzer.analyze(face.image)
            if not faces:
                missed += 1
                continue
            match = classifier.predict(faces[0].embedding[None])[0]
            accepted += match.known
            similarities.append(match.similarity)
    out += [
        f"Strangers: **{accepted} of {len(similarities)} generated faces accepted** at threshold "
        f"{THRESHOLD} ({missed} not detected); similarity to the picked person: median "
        f"{np.median(similarities):.2f}, p99 {np.percentile(similarities, 99):.2f}, highest "
        f"{max(similarities):.2f}; load {load()}.",
        "",
    ]


def main() -> None:
    """Run the sections asked for and print the report."""
    out = [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, load at start {load()}.",
        "",
    ]
    with tempfile.TemporaryDirectory() as cache:
        generator_section(out, Path(cache))
        if "--skip-bank" not in sys.argv:
            bank_section(out, Path(cache))
        if "--skip-strangers" not in sys.argv:
            strangers_section(out, Path(cache))
    print("\n".join(out))


if __name__ == "__main__":
    main()
