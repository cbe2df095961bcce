"""Face swap onto a generated person: how fast the page's candidates come, and what a job adds.

Run with `.venv/bin/python bench/swap_people.py [--bank DIR] [--people 12]`. Prints Markdown for
bench/RESULTS.md.

- Bank: `--bank DIR` measures an existing face bank (e.g. MODEL_DIR/facebank once a worker
  filled it); without it, `--people` generated people (seeds from 0, the real tagger) are made
  into a temporary bank first, and the time that took is printed.
- Web side, through the Flask test client as a logged-in studio user: GET /people/candidates
  (4 per batch, the band with the most people) and a candidate's thumbnail (200 with the JPEG,
  and 304 on If-None-Match), p50/p90 over 100 requests each.
- Worker side: the generator's load, a chosen person rendered again from its seed at 640 px (up
  to 5 people), and the photo job's effect part on a 5-celebrity photo scaled to 1280 px: render
  + swap for a person this worker has not rendered yet, and swap alone for one it keeps. Then
  what a user waits for when a band is short: a worker's task making 4 more of the band.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, line  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, help="an existing face bank to measure")
    parser.add_argument("--people", type=int, default=12, help="people in a temporary bank")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tests.people_helpers import build_people_bank, cells

    print(f"## Face swap onto a generated person ({cpu_name()}, {os.cpu_count()} cores)\n")
    print(f"load at start: {Path('/proc/loadavg').read_text().split()[:3]}\n")
    temporary = tempfile.TemporaryDirectory()
    bank = args.bank
    if bank is None:
        started = time.perf_counter()
        bank = build_people_bank(Path(temporary.name) / "bank", args.people)
        print(f"- temporary bank of {args.people} generated people (loads included): "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    by_cell = cells(bank)
    (gender, band), donors = max(by_cell.items(), key=lambda item: len(item[1]))
    print(f"- bank: {sum(len(d) for d in by_cell.values())} generated people; measured band "
          f"{gender}/{band} ({len(donors)})\n")  # fmt: skip
    web(Path(temporary.name), bank, gender, band)
    worker(bank, donors)
    print()
    more_people(bank, gender, band)
    print(f"\nload at end: {Path('/proc/loadavg').read_text().split()[:3]}")


def web(folder: Path, bank: Path, gender: str, band: str) -> None:
    """Candidates and thumbnails through the test client."""
    from flask_migrate import upgrade

    from tests.studio_helpers import studio_client
    from tests.support import make_config
    from webapp import create_app

    (folder / "instance").mkdir(parents=True, exist_ok=True)
    app = create_app(make_config(folder / "instance", FACEBANK_DIR=str(bank),
                                 STUDIO_PEOPLE_LIMIT="100000 per minute"))  # fmt: skip
    with app.app_context():
        upgrade()
    client = studio_client(app)
    url = f"/api/v1/studio/people/candidates?gender={gender}&age_band={band}&count=4"
    listed, thumbs, cached = [], [], []
    body = client.get(url).get_json()
    thumb = body["candidates"][0]["thumbnail_url"]
    etag = client.get(thumb).headers["ETag"]
    for _ in range(100):
        started = time.perf_counter()
        assert client.get(url).status_code in (200, 202)
        listed.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert client.get(thumb).status_code == 200
        thumbs.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert client.get(thumb, headers={"If-None-Match": etag}).status_code == 304
        cached.append(time.perf_counter() - started)
    print("| web request | p50 ms | p90 ms | n |\n|---|---|---|---|")
    print(line("GET /people/candidates (4)", listed))
    print(line("GET /people/{id}/thumbnail (200, 160-px JPEG)", thumbs))
    print(line("GET /people/{id}/thumbnail (304)", cached))
    print()


def worker(bank: Path, donors) -> None:
    """The generator's load, a person's render, and render + swap on a 1280-px photo."""
    import cv2

    from ml.face_bank import FaceBank
    from ml.face_mesh import FaceMesher
    from ml.face_swap import FaceSwapper
    from ml.generator import load_generator
    from ml.generator.people import PersonFaces, find_person
    from ml.recognition import FaceAnalyzer
    from tests.studio_helpers import photo
    from tests.support import MODEL_DIR

    started = time.perf_counter()
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=bank)
    generator.mean_w()
    loaded = time.perf_counter() - started
    people = PersonFaces(FaceBank(bank), lambda: generator)
    renders = []
    for donor in donors[:5]:
        started = time.perf_counter()
        people.face(find_person(people.bank, donor.id))
        renders.append(time.perf_counter() - started)
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    swapper = FaceSwapper(analyzer.detectors["photo"], FaceMesher())
    target = photo("ben_afflek", 0)
    scale = 1280 / max(target.shape[:2])
    target = cv2.resize(target, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    person = find_person(people.bank, donors[0].id)
    swapper.swap_image(people.face(person), target)  # warm up
    first, again = [], []
    for _ in range(3):
        fresh = PersonFaces(FaceBank(bank), lambda: generator)  # nothing rendered yet
        started = time.perf_counter()
        swapper.swap_image(fresh.face(person), target)
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        swapper.swap_image(people.face(person), target)  # rendered before: kept
        again.append(time.perf_counter() - started)
    size = f"{target.shape[1]}x{target.shape[0]} photo"
    print("| worker step | p50 ms | p90 ms | n |\n|---|---|---|---|")
    print(f"| generator load (compile + mean w) | {loaded * 1000:.0f} | - | 1 |")
    print(line("render a chosen person at 640 px", renders))
    print(line(f"render + swap, {size} (the person's first job in this worker)", first))
    print(line(f"swap, {size} (the person kept from an earlier job)", again))
    print(f"\nmean render {np.mean(renders):.2f} s")


def more_people(bank: Path, gender: str, band: str) -> None:
    """What a user waits for when a band is short: the worker making 4 more (loads included)."""
    from tests.support import MODEL_DIR
    from webapp.studio.facebank import generate

    started = time.perf_counter()
    report = generate({"MODEL_DIR": str(MODEL_DIR), "FACEBANK_DIR": str(bank)}, 4, gender, band)
    print(
        f"- 4 more people of {gender}/{band} made by a worker's task (generator, tagger and "
        f"FaceNet loaded in it): {time.perf_counter() - started:.1f} s; {report.summary()}"
    )


if __name__ == "__main__":
    main()
