"""Anonymizing bystanders, measured with our own models: detector, FaceNet, the face bank.

The donor bank for these tests is built from what we have offline: 3 train photos of each of the
5 celebrities (one folder per person) and 3 rendered people (tests/data/gestures), which FaceNet
takes for one person (cosine 0.6-0.7 between them), so the bank holds 6 distinct people. That is
enough for k = 5 only by widening across bands and genders (the details say so); an operator's
bank needs many more (docs/face-bank.md). Bystanders come from the val photos and rendered
stills, never the photos the donors came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.anonymize import AnonymizeError, Anonymizer, VideoAnonymizer
from ml.face_bank import KIND_GENERATED, FaceBank, FaceBankError
from ml.generator import load_generator
from ml.generator.donors import CELLS, DonorGenerator, FillPlan
from ml.images import decode_image
from tests.ml.studio_scenes import (
    GESTURES,
    embed_face,
    group_photo,
    iou,
    moving_scene,
    person_centroids,
)
from tests.support import MODEL_DIR

THRESHOLD = 0.45  # RECOGNITION_THRESHOLD's default: cosine at which a face is "known"
IDENTITY_TARGET = 0.35  # a generated face's FaceNet cosine to the bystander it replaced, at most
CELEBRITIES = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
RENDERED_DONORS = (
    "enroll/v1/v1_waist_standby_e2.jpg",
    "enroll/v2/v2_waist_standby_e1.jpg",
    "stills/v3_waist_O.jpg",
)


@pytest.fixture(scope="module")
def analyzer(loaded_models):
    return loaded_models.get("faces")


@pytest.fixture(scope="module")
def donor_folder(tmp_path_factory, dataset) -> Path:
    folder = tmp_path_factory.mktemp("donors")
    for person in CELEBRITIES:
        (folder / person).mkdir()
        for path in sorted((dataset / "train" / person).glob("*.jpg"))[:3]:
            shutil.copy(path, folder / person / path.name)
    for relative in RENDERED_DONORS:
        person = Path(relative).name.split("_")[0]
        (folder / person).mkdir(exist_ok=True)
        shutil.copy(GESTURES / relative, folder / person / Path(relative).name)
    return folder


@pytest.fixture(scope="module")
def anonymizer(analyzer, donor_folder, tmp_path_factory) -> Anonymizer:
    bank_dir = tmp_path_factory.mktemp("bank")
    anonymizer = Anonymizer.from_model_dir(MODEL_DIR, analyzer=analyzer, bank_dir=bank_dir)
    report = anonymizer.bank.add_folder(donor_folder)
    assert len(anonymizer.bank.persons()) >= 5, report.lines()
    # And 12 generated faces (as the default bank has, only fewer): synthetic mode's donors.
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=bank_dir)
    fill = DonorGenerator(anonymizer.bank, generator, anonymizer.bank.tools).fill(
        FillPlan(12, CELLS, {}), max_attempts=40
    )
    assert len(fill.added) == 12, fill.summary()
    return anonymizer


@pytest.fixture(scope="module")
def group(analyzer, dataset):
    return group_photo(dataset, analyzer.detectors["photo"])


@pytest.fixture(scope="module")
def centroids(analyzer, dataset) -> dict[str, np.ndarray]:
    """What our recognizer compares with: each celebrity's mean embedding over train photos."""
    return person_centroids(analyzer, dataset, CELEBRITIES)


def _assert_untouched_outside(result, original) -> np.ndarray:
    """Every pixel outside the replaced faces' regions is the original's; returns the mask."""
    allowed = np.zeros(original.shape[:2], bool)
    for record in result.details["faces"]:
        if record["action"] == "replaced":
            x0, y0, x1, y1 = record["region"]
            allowed[y0:y1, x0:x1] = True
    changed = np.any(result.image != original, axis=2)
    assert not (changed & ~allowed).any()
    return allowed


def _holds(box, x, y) -> bool:
    return box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]


def _inner(box, fraction=0.6):
    x, y, w, h = box
    dx, dy = w * (1 - fraction) / 2, h * (1 - fraction) / 2
    return slice(round(y + dy), round(y + h - dy)), slice(round(x + dx), round(x + w - dx))


def test_detect_finds_every_pasted_face_largest_first(anonymizer, group):
    image, placed = group
    stats: dict = {}
    faces = anonymizer.detect(image, stats)
    assert [face.id for face in faces] == list(range(len(faces)))
    areas = [face.box[2] * face.box[3] for face in faces]
    assert areas == sorted(areas, reverse=True)
    for item in placed:
        assert max(iou(item.box, face.box) for face in faces) >= 0.5, item
    assert len(faces) == len(placed) == 10
    # Measured: MTCNN finds all 10 (down to 36 px), MediaPipe full range 10 with its tiles.
    assert stats["mtcnn"] == 10 and stats["mediapipe"] >= 7


def test_mediapipe_finds_tilted_heads_mtcnn_misses(anonymizer, dataset):
    """Val photos turned 75 degrees (a head on a shoulder, someone lying down)."""
    found_mtcnn = found_merged = 0
    paths = [sorted((dataset / "val" / person).glob("*.jpg"))[i] for person in CELEBRITIES
             for i in (0, 1)]  # fmt: skip
    for path in paths:
        rgb = decode_image(path.read_bytes())
        height, width = rgb.shape[:2]
        x, y, w, h = anonymizer.detector.detect(rgb)[0].box
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), 75, 1.0)
        turned = cv2.warpAffine(rgb, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
        cx, cy = turn @ np.array([x + w / 2, y + h / 2, 1.0])
        found_mtcnn += any(_holds(f.box, cx, cy) for f in anonymizer.detector.detect(turned))
        found_merged += any(_holds(f.box, cx, cy) for f in anonymizer.detect(turned))
    # Measured: MTCNN 3 of these 10, merged 8.
    assert found_merged >= found_mtcnn + 3, (found_mtcnn, found_merged)


def test_a_mediapipe_only_box_needs_the_mesh(anonymizer):
    """MediaPipe's one extra box on our photos is a pair of hands over a head: not a face."""
    rgb = decode_image((GESTURES / "stills" / "v2_knees_O.jpg").read_bytes())
    stats: dict = {}
    faces = anonymizer.detect(rgb, stats)
    assert len(faces) == 1 and faces[0].source == "both"
    assert stats["mediapipe_unconfirmed"] == 1


def test_k_same_replaces_every_other_face_and_hides_identity(
    anonymizer, analyzer, group, centroids
):
    image, placed = group
    faces = anonymizer.detect(image)
    keep = [faces[0].id, faces[3].id]
    result = anonymizer.anonymize_image(image, keep, "k-same")
    assert result.kept_ids == sorted(keep)
    assert sorted(result.replaced_ids) == sorted(f.id for f in faces if f.id not in keep)
    assert len(result.replaced_ids) == 8
    _assert_untouched_outside(result, image)
    records = {record["id"]: record for record in result.details["faces"]}
    for face_id in keep:
        y, x = _inner(faces[face_id].box, 1.0)
        assert np.array_equal(result.image[y, x], image[y, x])
    redetected = analyzer.detectors["photo"].detect(result.image)
    bank_vectors = anonymizer.bank.embeddings()
    donors_by_id = {donor.id: donor for donor in anonymizer.bank.donors}
    synthetic = 0
    for face in faces:
        if face.id in keep:
            continue
        record = records[face.id]
        y, x = _inner(face.box)
        difference = np.abs(result.image[y, x].astype(int) - image[y, x].astype(int)).mean()
        assert difference > 12, (face.id, difference)
        person = next(p.person for p in placed if iou(p.box, face.box) > 0.5)
        original = embed_face(analyzer, image, face.as_detected())
        if record["mode"] != "k-same":
            # Only after every donor set failed the identity check; the details say why.
            assert record["mode"] == "blur" and "identity check" in record["fallback"]
            continue
        synthetic += 1
        donors = [donors_by_id[d] for d in record["donors"]]
        assert len({d.person for d in donors}) == anonymizer.k == 5
        assert person not in {d.person for d in donors}  # never the bystander's own face
        # Still a face to MTCNN ...
        match = max(redetected, key=lambda f: iou(f.box, face.box))
        assert iou(match.box, face.box) >= 0.4, face.id
        # ... but not the bystander, to FaceNet, nor any single real donor (resembling one of
        # the generated donors among the k is allowed, as in the anonymizer's own check: the
        # average goes through the face swap's core, which keeps more of its sharpest donor).
        replaced = embed_face(analyzer, result.image, match)
        assert float(replaced @ original) < THRESHOLD, (face.id, float(replaced @ original))
        for donor in donors:
            if donor.kind != KIND_GENERATED:
                assert float(replaced @ bank_vectors[donor.id]) < THRESHOLD, (face.id, donor.id)
        if person in centroids:
            assert float(original @ centroids[person]) >= THRESHOLD  # the test could fail
            assert float(replaced @ centroids[person]) < THRESHOLD, (face.id, person)
    # Measured on this photo: 8 of 8 synthetic (a blur fallback is allowed, but not for most).
    assert synthetic >= 6


def test_generated_faces_replace_every_other_face_each_its_own(
    anonymizer, analyzer, group, centroids
):
    """Synthetic mode: each bystander gets a generated face of their own, of their gender."""
    image, placed = group
    faces = anonymizer.detect(image)
    keep = [faces[0].id]
    result = anonymizer.anonymize_image(image, keep, "synthetic")
    assert sorted(result.replaced_ids) == sorted(f.id for f in faces if f.id not in keep)
    _assert_untouched_outside(result, image)
    records = {record["id"]: record for record in result.details["faces"]}
    donors_by_id = {donor.id: donor for donor in anonymizer.bank.donors}
    redetected = analyzer.detectors["photo"].detect(result.image)
    given, genders_kept, cosines = [], 0, []
    for face in faces:
        if face.id in keep:
            continue
        record = records[face.id]
        # Every face replaced by a generated face: nothing blurred, nothing left.
        assert record["mode"] == "synthetic", (face.id, record)
        (donor_id,) = record["donors"]
        assert donors_by_id[donor_id].kind == KIND_GENERATED
        given.append(donor_id)
        y, x = _inner(face.box)
        assert np.abs(result.image[y, x].astype(int) - image[y, x].astype(int)).mean() > 12
        match = max(redetected, key=lambda f: iou(f.box, face.box))
        assert iou(match.box, face.box) >= 0.4, face.id  # still a face to MTCNN
        original = embed_face(analyzer, image, face.as_detected())
        replaced = embed_face(analyzer, result.image, match)
        cosines.append(float(replaced @ original))
        # Issue 9's target, re-detected and re-embedded: identity moved as far as in the face swap.
        assert cosines[-1] <= IDENTITY_TARGET, (face.id, cosines[-1], record["identity_check"])
        person = next(p.person for p in placed if iou(p.box, face.box) > 0.5)
        if person in centroids:
            assert float(replaced @ centroids[person]) < THRESHOLD, (face.id, person)
        five = np.array([match.keypoints[n] for n in ("left_eye", "right_eye", "nose",
                                                        "mouth_left", "mouth_right")])  # fmt: skip
        after = anonymizer.age_gender.estimate(result.image, five)
        genders_kept += after.gender == record["gender"]
    assert len(set(given)) == len(given)  # no two bystanders share a generated face
    # The tagger reads the gender of the result as the bystander's on most faces (a blend of
    # the bystander's outline and a generated face of their estimated gender).
    assert genders_kept >= len(given) - 1, (genders_kept, len(given))


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_blur_and_pixelate_hide_identity(anonymizer, analyzer, group, mode):
    """FaceNet cosine of each covered real face to its original, at the same box, below 0.45.

    The rendered people are left out of the cosine check, and that is a limit of these modes,
    not of the test: blur and pixelate keep the hair, head outline and clothes, and on the
    rendered man v3 (bowl cut) FaceNet still gives 0.43 (blur) and 0.48 (pixelate) to his
    original, about what it gives between two different rendered people (0.41 here). Synthetic
    mode brings him to 0.2-0.35. Real faces: -0.2 to 0.2.
    """
    image, placed = group
    faces = anonymizer.detect(image)
    result = anonymizer.anonymize_image(image, [faces[1].id], mode)
    assert len(result.replaced_ids) == len(faces) - 1
    _assert_untouched_outside(result, image)
    originals = {face.id: embed_face(analyzer, image, face.as_detected()) for face in faces}
    rendered = {
        face.id
        for face in faces
        if any(iou(p.box, face.box) > 0.5 and p.source.startswith("gestures") for p in placed)
    }
    for face in faces:
        if face.id == faces[1].id:
            continue
        y, x = _inner(face.box)
        assert np.abs(result.image[y, x].astype(int) - image[y, x].astype(int)).mean() > 5
        if face.id in rendered:
            continue
        covered = embed_face(analyzer, result.image, face.as_detected())
        cosine = float(covered @ originals[face.id])
        assert cosine < THRESHOLD, (mode, face.id, cosine)


def test_unknown_ids_and_modes_are_refused(anonymizer, group):
    image, _ = group
    with pytest.raises(AnonymizeError) as caught:
        anonymizer.anonymize_image(image, [42], "blur")
    assert caught.value.code == "unknown_face"
    with pytest.raises(AnonymizeError) as caught:
        anonymizer.anonymize_image(image, [], "cartoon")
    assert caught.value.code == "unknown_mode"


def test_a_bank_with_too_few_people_fails_or_falls_back(anonymizer, tmp_path, group):
    image, _ = group
    empty = Anonymizer(
        anonymizer.detector,
        anonymizer.wide,
        anonymizer.mesher,
        anonymizer.age_gender,
        FaceBank(tmp_path / "bank"),
        anonymizer.embed,
    )
    with pytest.raises(AnonymizeError) as caught:
        empty.anonymize_image(image, [], "k-same")
    assert caught.value.code == "face_bank_too_small"
    assert "0 usable donor people" in caught.value.message
    assert "flask studio facebank add" in caught.value.message
    with pytest.raises(AnonymizeError) as caught:
        empty.anonymize_image(image, [], "synthetic")
    assert caught.value.code == "face_bank_empty"
    assert "flask studio facebank generate" in caught.value.message
    result = empty.anonymize_image(image, [], "k-same", fallback="blur")
    assert len(result.replaced_ids) == 10
    assert all(
        r["mode"] == "blur" and "face bank" in r["fallback"] for r in result.details["faces"]
    )


def test_face_bank_tags_groups_and_deduplicates(anonymizer, donor_folder, dataset, tmp_path):
    bank = anonymizer.bank
    people = bank.persons()
    assert set(CELEBRITIES) <= set(people)
    expected = {"madonna": "female", "mindy_kaling": "female", "jerry_seinfeld": "male"}
    for person, gender in expected.items():
        assert all(d.gender == gender for d in people[person]), person
    # FaceNet takes the three rendered people for one person: they count once.
    rendered = {d.person for d in bank.donors if d.source.split("/")[0] in {"v1", "v2", "v3"}}
    assert len(rendered) == 1
    # The same files again: every one is a duplicate, nothing is added.
    again = bank.add_folder(donor_folder)
    assert again.added == [] and all(code in {"duplicate", "face_too_small", "not_frontal",
                                              "multiple_faces", "no_face"}
                                     for _, code, _ in again.skipped)  # fmt: skip
    consented = [d for d in bank.donors if d.kind != KIND_GENERATED]
    assert sum(code == "duplicate" for _, code, _ in again.skipped) == len(consented)
    # Refusals say why: not an image, no face, and a loose photo FaceNet knows joins its person.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "notes.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(extra / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    shutil.copy(sorted((dataset / "train" / "madonna").glob("*.jpg"))[5], extra / "loose.jpg")
    report = FaceBank(bank.root, bank.tools).add_folder(extra)
    codes = {name: code for name, code, _ in report.skipped}
    assert codes["notes.jpg"] == "not_an_image" and codes["wall.png"] == "no_face"
    assert [item["person"] for item in report.added] == ["madonna"], report.lines()
    assert report.merged and report.merged[0][1] == "madonna"


def _bank_with(tmp_path: Path, cells: list[tuple[str, str, str]]) -> FaceBank:
    """A bank index (no images needed for choosing) with one donor per (person, gender, band)."""
    import json

    donors = [
        {"id": f"d{n}", "person": person, "source": f"{person}.jpg", "sha256": f"{n:064x}",
         "gender": gender, "gender_confidence": 1.0, "age": 30.0, "band": band, "yaw": 0.0,
         "added": "2026-01-01T00:00:00+00:00"}
        for n, (person, gender, band) in enumerate(cells)
    ]  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "index.json").write_text(json.dumps({"version": 1, "donors": donors}))
    return FaceBank(tmp_path)


def test_choose_widens_to_neighbouring_bands_then_the_other_gender(tmp_path):
    rng = np.random.default_rng(0)
    bank = _bank_with(
        tmp_path,
        [
            ("a", "female", "teen"),
            ("b", "female", "teen"),
            ("c", "female", "young"),
            ("d", "female", "senior"),
            ("e", "male", "teen"),
            ("f", "male", "teen"),
            ("f", "male", "young"),  # a second photo of f: still one person
        ],
    )
    choice = bank.choose("female", "teen", 5, rng)
    assert len({d.person for d in choice.donors}) == 5
    # teen, then young (one band away), then senior (three away), then male teen.
    assert {d.person for d in choice.donors} >= {"a", "b", "c", "d"}
    assert choice.widened[:2] == ("female/young", "female/senior")
    assert choice.widened[-1] == "male/teen"
    assert "had 2 of the 5" in choice.note
    with pytest.raises(FaceBankError) as caught:
        bank.choose("female", "teen", 5, rng, exclude_persons=frozenset({"a", "b"}))
    assert caught.value.code == "face_bank_too_small"
    assert "4 usable donor people" in caught.value.message


def test_video_keeps_the_kept_face_and_covers_the_bystander_in_every_frame(
    anonymizer, analyzer, dataset
):
    frames, still_boxes, walker_boxes = moving_scene(dataset, analyzer.detectors["photo"])
    first = anonymizer.detect(frames[0])
    keep = [f.id for f in first if iou(f.box, still_boxes[0]) > 0.5]
    assert len(keep) == 1 and len(first) == 2

    class MissesOnce:
        """The real anonymizer, but its detector misses the bystander in frame 5."""

        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def detect(self, rgb):
            faces = self.inner.detect(rgb)
            self.calls += 1
            if self.calls == 6:
                faces = [f for f in faces if iou(f.box, walker_boxes[5]) < 0.3]
                assert len(faces) == 1
            return faces

        def __getattr__(self, name):
            return getattr(self.inner, name)

    for mode in ("synthetic", "k-same", "blur"):
        video = VideoAnonymizer(MissesOnce(anonymizer), keep, mode)
        for index, frame in enumerate(frames):
            out = video(frame, index)
            y, x = _inner(still_boxes[index], 1.0)
            assert np.array_equal(out[y, x], frame[y, x]), (mode, index)
            y, x = _inner(walker_boxes[index])
            difference = np.abs(out[y, x].astype(int) - frame[y, x].astype(int)).mean()
            assert difference > 8, (mode, index, difference)
        assert video.stats["frames"] == len(frames)
        assert video.stats["coasted"] >= 1
        assert video.stats["replaced"] >= len(frames)
        if mode == "synthetic":
            # The bystander's track got one generated face and kept it for its whole life.
            identities = [i for i in video._identities.values() if i is not None]
            assert len(identities) == 1 and identities[0].choice.donors[0].kind == "generated"
            assert video.stats["fallbacks"] == 0
            # ... and the face swap's per-track smoothing: one mesh filter and one colour state,
            # carried from frame to frame (the colour statistics are a running average).
            (track,) = [t for t, i in video._identities.items() if i is not None]
            assert set(video._states) == {track} and set(video._filters) == {track}
            assert video._states[track].colour is not None
