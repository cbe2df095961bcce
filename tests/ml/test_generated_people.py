"""Generated people for face swap (ml.generator.people): ids, filters, and the rendered face."""

from __future__ import annotations

import numpy as np
import pytest

from ml.face_bank import FaceBank
from ml.generator.people import PERSON_SIZE, PersonFaces, UnknownPerson, candidates, find_person
from tests.people_helpers import cells
from tests.support import MODEL_DIR


def test_ids_name_bank_people_or_seeds_and_nothing_else(people_bank):
    bank = FaceBank(people_bank)
    donor = bank.donors[0]
    assert find_person(bank, donor.id).donor == donor
    assert find_person(bank, "seed:7").seed == 7 and find_person(bank, "seed:7").donor is None
    for bad in ("", "seed:", "seed:-1", "seed:4294967296", "g123", donor.id.upper(), "../x"):
        with pytest.raises(UnknownPerson):
            find_person(bank, bad)


def test_candidates_are_the_bands_people_in_bank_order(people_bank):
    bank = FaceBank(people_bank)
    for (gender, band), donors in cells(people_bank).items():
        assert candidates(bank, gender, band) == donors
    with pytest.raises(ValueError):
        candidates(bank, "other", "young")
    with pytest.raises(ValueError):
        candidates(bank, "female", "old")


def test_a_person_is_rendered_from_its_seed_the_same_every_time(people_bank):
    from ml.generator import load_generator

    bank = FaceBank(people_bank)
    made = []
    people = PersonFaces(
        bank, lambda: made.append(1) or load_generator(MODEL_DIR, "cpu", cache_dir=people_bank)
    )
    donor = bank.donors[0]
    face = people.face(find_person(bank, donor.id))
    assert face.shape == (PERSON_SIZE, PERSON_SIZE, 3) and face.dtype == np.uint8
    again = people.face(find_person(bank, donor.id))  # kept: not rendered again, a copy
    assert np.array_equal(face, again) and again is not face
    # Another renderer gives the very same face: the seed decides it.
    fresh = PersonFaces(bank, people.generator).face(find_person(bank, donor.id))
    assert np.array_equal(fresh, face)
    assert made == [1]  # the generator loaded once
