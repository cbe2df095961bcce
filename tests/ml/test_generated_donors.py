"""Generated donors in the face bank: tagged, dropped with reasons, steered to short bands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.face_bank import KIND_CONSENTED, KIND_GENERATED, FaceBank
from ml.generator import load_generator
from ml.generator.donors import (
    CELLS,
    DROP_CODES,
    GENERATE_SIZE,
    DonorGenerator,
    FillPlan,
    FillReport,
    LatentTagModel,
    _Wanted,
    generated_donor_tools,
    plan_default_bank,
    plan_generate,
)
from tests.support import DATASET, MODEL_DIR


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return load_generator(MODEL_DIR, "cpu", cache_dir=tmp_path_factory.mktemp("generator"))


@pytest.fixture(scope="module")
def tools():
    return generated_donor_tools(MODEL_DIR)


def test_plans_spread_faces_over_the_bands_and_check_their_arguments():
    plan = plan_generate(20)
    assert plan.total == 20 and len(plan.cells) == 10 and set(plan.minimums.values()) == {1}
    plan = plan_generate(7, gender="male")
    assert plan.cells == tuple(("male", b) for b in ("child", "teen", "young", "adult", "senior"))
    assert sum(plan.minimums.values()) == 3
    one = plan_generate(3, gender="female", band="senior")
    assert one.minimums == {("female", "senior"): 3} and one.cells == (("female", "senior"),)
    for bad in ({"gender": "other"}, {"band": "old"}):
        with pytest.raises(ValueError):
            plan_generate(3, **bad)
    with pytest.raises(ValueError):
        plan_generate(0)


def test_fill_adds_tagged_generated_donors_beside_consented_ones(tmp_path, generator, tools):
    bank = FaceBank(tmp_path / "bank", tools)
    # A consented real donor first: it stays and is marked as such.
    report = bank.add_folder(DATASET / "train" / "madonna")
    assert report.added
    donors = DonorGenerator(bank, generator, tools)
    wanted = {("female", "young"): 2, ("male", "adult"): 1}
    plan = FillPlan(3, tuple(wanted), dict(wanted))
    fill = donors.fill(plan, max_attempts=30)
    assert not fill.short and not fill.missing, fill.summary()
    assert fill.attempts == len(fill.added) + len(fill.dropped)
    generated = [d for d in bank.donors if d.kind == KIND_GENERATED]
    assert len(generated) == 3
    assert {d.kind for d in bank.donors} == {KIND_GENERATED, KIND_CONSENTED}
    for donor in generated:
        assert donor.person == f"generated-{donor.seed}" and donor.model == generator.name
        assert (donor.gender, donor.band) in wanted
        assert abs(donor.yaw) <= 25 and -60 < donor.pitch < 60 and -45 < donor.roll < 45
        crop = bank.crop(donor)
        assert crop.shape == (256, 256, 3) and crop.std() > 20
        mesh, embedding = bank.geometry(donor)
        assert mesh.shape == (468, 2) and embedding is not None and embedding.shape == (128,)
    for seed, code, message in fill.dropped:
        assert code in DROP_CODES and message, (seed, code, message)
    # The index keeps the kind, seed and pose; an old entry without them still loads.
    index = json.loads((tmp_path / "bank" / "index.json").read_text())
    assert {entry["kind"] for entry in index["donors"]} == {"generated", "consented"}
    reread = FaceBank(tmp_path / "bank")
    assert [d.seed for d in reread.donors] == [d.seed for d in bank.donors]
    # A second generator on the same bank never draws a seed that is already in it.
    again = DonorGenerator(reread, generator, tools)
    seeds = again._propose({("female", "young"): 1}, 4)
    assert not set(seeds) & {d.seed for d in generated}
    # A face FaceNet takes for a donor already in the bank is not kept (here: the same seed).
    first = generated[0]
    face = generator.sample([first.seed], again.psi, size=GENERATE_SIZE)[0]
    twice = FillReport()
    again._consider(face, _Wanted({}, 1, set(CELLS)), twice)
    assert [code for _, code, _ in twice.dropped] == ["looks_like_donor"]
    assert twice.dropped[0][2].endswith(f"to {first.person}") and not twice.added


def test_default_bank_plan_counts_generated_faces_per_band(tmp_path):
    plan = plan_default_bank(FaceBank(tmp_path / "empty"), 200)
    assert plan.total == 200 and set(plan.cells) == set(CELLS)
    assert set(plan.minimums) == set(CELLS) and set(plan.minimums.values()) == {8}


def test_latent_model_predicts_the_tags_it_was_fitted_on(generator):
    # Gender and age are among the directions along which w varies most. Stand-in tags along w's
    # first principal direction (no tagger needed): fitted on 80 latents, it must predict 200
    # held-out ones, and its cell probabilities must be proper distributions.
    rng = np.random.default_rng(0)
    w = generator.mapping(rng.standard_normal((280, 512)).astype(np.float32))
    centred = w - w.mean(axis=0)
    direction = np.linalg.svd(centred[:80], full_matrices=False)[2][0]
    score = centred @ direction
    genders = ["male" if s > 0 else "female" for s in score]
    ages = list(35 + 15 * score / score.std())
    model = LatentTagModel()
    model.fit(w[:80], genders[:80], ages[:80])
    assert model.ready
    probabilities = model.cell_probabilities(w[80:])
    assert probabilities.shape == (200, len(CELLS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    p_male = probabilities[:, 5:].sum(axis=1)
    agree = np.mean((p_male > 0.5) == (np.array(genders[80:]) == "male"))
    assert agree >= 0.85, agree
    # Older predicted ages put more weight on the senior band.
    senior = probabilities[:, [4, 9]].sum(axis=1)
    assert np.corrcoef(senior, score[80:])[0, 1] > 0.5


def _index_bank(folder, rows) -> FaceBank:
    """A bank whose index lists generated donors (gender, band, yaw); no images needed to choose."""
    donors = [
        {
            "id": f"g{i}", "person": f"generated-{i}", "source": "generated", "sha256": str(i),
            "gender": gender, "gender_confidence": 0.9, "age": 30.0, "band": band, "yaw": yaw,
            "added": "2026-01-01T00:00:00+00:00", "kind": kind, "seed": i, "psi": 0.7,
            "model": "m",
        }
        for i, (gender, band, yaw, kind) in enumerate(rows)
    ]  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "index.json").write_text(json.dumps({"version": 1, "donors": donors}))
    return FaceBank(folder)


def test_choose_generated_matches_cell_and_pose_and_never_repeats(tmp_path):
    from ml.face_bank import FaceBankError

    bank = _index_bank(
        tmp_path / "bank",
        [
            ("female", "young", -20.0, KIND_GENERATED),
            ("female", "young", 0.0, KIND_GENERATED),
            ("female", "young", 2.0, KIND_GENERATED),
            ("female", "young", 4.0, KIND_GENERATED),
            ("female", "young", 22.0, KIND_GENERATED),
            ("female", "adult", 0.0, KIND_GENERATED),
            ("male", "young", 0.0, KIND_GENERATED),
            ("female", "young", 0.0, KIND_CONSENTED),  # a real donor: never given out here
        ],
    )
    rng = np.random.default_rng(0)
    picks = {bank.choose_generated("female", "young", 1.0, rng).donors[0].id for _ in range(30)}
    assert picks == {"g1", "g2", "g3"}  # the three closest in yaw, drawn at random
    turned = bank.choose_generated("female", "young", 25.0, rng, frozenset())
    assert turned.donors[0].id in {"g4", "g3", "g2"} and not turned.widened
    # Faces already given out are skipped; then the nearest band of the same gender; then the
    # other gender; then a clear error.
    used = frozenset({"g0", "g1", "g2", "g3", "g4"})
    widened = bank.choose_generated("female", "young", 0.0, rng, used)
    assert widened.donors[0].id == "g5" and widened.widened == ("female/adult",)
    other = bank.choose_generated("female", "young", 0.0, rng, used | {"g5"})
    assert other.donors[0].id == "g6"
    with pytest.raises(FaceBankError) as caught:
        bank.choose_generated("female", "young", 0.0, rng, used | {"g5", "g6"})
    assert caught.value.code == "face_bank_empty"
    assert "flask studio facebank generate" in caught.value.message
