"""A small face bank of generated people (real generator, real tagger) for face swap's tests."""

from __future__ import annotations

from pathlib import Path

from tests.support import MODEL_DIR

PEOPLE = 10  # generated people in the test bank, kept as they come (seeds from 0)


def build_people_bank(folder: Path, count: int = PEOPLE) -> Path:
    """Fill `folder` with `count` generated people, tagged like the default bank (no FaceNet:
    it only keeps near-copies out, and seeds 0.. are distinct people)."""
    from ml.face_bank import FaceBank
    from ml.generator import load_generator
    from ml.generator.donors import CELLS, DonorGenerator, FillPlan, generated_donor_tools

    generator = load_generator(MODEL_DIR, "cpu", cache_dir=folder)
    tools = generated_donor_tools(MODEL_DIR, facenet=False)
    bank = FaceBank(folder, tools)
    report = DonorGenerator(bank, generator, tools).fill(FillPlan(count, CELLS, {}))
    assert len(report.added) == count, report.summary()
    return folder


def cells(folder: Path) -> dict[tuple[str, str], list]:
    """The bank's generated people by (gender, age band), in the order they were added."""
    from ml.face_bank import KIND_GENERATED, FaceBank

    found: dict[tuple[str, str], list] = {}
    for donor in FaceBank(folder).donors:
        if donor.kind == KIND_GENERATED:
            found.setdefault((donor.gender, donor.band), []).append(donor)
    return found
