"""Generated people to swap onto a face: candidates of a gender and age band from the face bank,
and the chosen person's face as a photo a face swapper can read.

A person is named by a stable id: a face-bank entry (``g0f3…``, see `ml.face_bank`) or a
generator seed (``seed:1234``). A bank entry made by this generator is rendered again from its
seed at PERSON_SIZE pixels (the bank keeps only a 256-px crop; the swapper wants a larger face);
other entries (an operator's consented donors, or faces of another generator) give their crop.
Consented (real) donors are offered only when the caller allows them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml.age_gender import BAND_NAMES, GENDERS
from ml.face_bank import KIND_CONSENTED, KIND_GENERATED, Donor, FaceBank
from ml.generator.base import DEFAULT_PSI, FaceGenerator, GeneratorError

RENDERED_KEPT = 8  # rendered people kept per process (1.2 MB each)
PERSON_SIZE = 640  # px of a rendered person: the face is ~330 px wide, under the swapper's 400
SEED_PREFIX = "seed:"
PERSON_ID = re.compile(r"(seed:[0-9]{1,10}|[0-9a-f]{16}|g[0-9a-f]{15})")
PERSON_PATTERN = PERSON_ID.pattern  # the job parameter's JSON Schema pattern


class UnknownPerson(LookupError):
    """No such person: not in the bank, not offered, or a seed out of range."""

    code = "unknown_person"


@dataclass(frozen=True)
class Person:
    """Who a person id names: a bank donor, or only a seed."""

    id: str
    seed: int | None
    donor: Donor | None

    @property
    def kind(self) -> str:
        """`generated` (no real person) or `consented` (an operator's real donor)."""
        return self.donor.kind if self.donor is not None else KIND_GENERATED

    def describe(self) -> dict:
        """The person as a job's details record it (no file names of real donors)."""
        out: dict = {"id": self.id, "kind": self.kind, "seed": self.seed}
        if self.donor is not None:
            out.update(gender=self.donor.gender, age_band=self.donor.band)
            if self.donor.kind == KIND_GENERATED:
                out.update(psi=self.donor.psi, model=self.donor.model)
        return out


def seed_of(person_id: str) -> int | None:
    """The seed a `seed:N` id names, or None for a bank id."""
    if person_id.startswith(SEED_PREFIX):
        seed = int(person_id[len(SEED_PREFIX) :])
        if not 0 <= seed < 2**32:
            raise UnknownPerson(f"a seed is an integer in [0, 2**32), not {seed}")
        return seed
    return None


def find_person(bank: FaceBank, person_id: str, allow_consented: bool = False) -> Person:
    """The person `person_id` names; UnknownPerson when it names nobody this caller may use."""
    if not PERSON_ID.fullmatch(person_id or ""):
        raise UnknownPerson(f"{person_id!r} is not a person id (a bank id, or seed:N)")
    seed = seed_of(person_id)
    if seed is not None:
        return Person(person_id, seed, None)
    bank.reload()
    donor = next((d for d in bank.donors if d.id == person_id), None)
    if donor is None or (donor.kind == KIND_CONSENTED and not allow_consented):
        raise UnknownPerson(f"the face bank has no person {person_id}")
    return Person(donor.id, donor.seed, donor)


def candidates(
    bank: FaceBank, gender: str, band: str, allow_consented: bool = False
) -> list[Donor]:
    """The bank's people of `gender` and age `band`, in the order they were added (so batches
    of them stay the same while the bank grows)."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(GENDERS)}")
    if band not in BAND_NAMES:
        raise ValueError(f"age band must be one of {', '.join(BAND_NAMES)}")
    bank.reload()
    kinds = {KIND_GENERATED, KIND_CONSENTED} if allow_consented else {KIND_GENERATED}
    return [d for d in bank.donors if d.gender == gender and d.band == band and d.kind in kinds]


class PersonFaces:
    """Renders a chosen person's face for a swap: one per process (the generator loads once)."""

    def __init__(
        self,
        bank: FaceBank,
        generator: Callable[[], FaceGenerator | None],
        psi: float = DEFAULT_PSI,
        allow_consented: bool = False,
    ) -> None:
        """`generator` is called on first need (None when no generator is installed)."""
        self.bank = bank
        self._make_generator = generator
        self._generator: FaceGenerator | None = None
        self._tried = False
        self.psi = psi
        self.allow_consented = allow_consented
        self._rendered: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def generator(self) -> FaceGenerator | None:
        """The generator, loaded on first use (None if it cannot be)."""
        if not self._tried:
            self._tried = True
            self._generator = self._make_generator()
        return self._generator

    def find(self, person_id: str) -> Person:
        """The person, or UnknownPerson."""
        return find_person(self.bank, person_id, self.allow_consented)

    def face(self, person: Person) -> np.ndarray:
        """The person's face as an RGB photo (the FFHQ frame, or a bank crop); the last few
        rendered are kept (a person is often used again: a retry, the next photo)."""
        key = (person.id, person.donor.psi if person.donor is not None else self.psi)
        with self._lock:
            if key in self._rendered:
                self._rendered.move_to_end(key)
                return self._rendered[key].copy()
        face = self._render(person)
        with self._lock:
            self._rendered[key] = face
            while len(self._rendered) > RENDERED_KEPT:
                self._rendered.popitem(last=False)
        return face.copy()

    def _render(self, person: Person) -> np.ndarray:
        donor = person.donor
        generator = None
        if donor is None or (donor.kind == KIND_GENERATED and donor.seed is not None):
            generator = self.generator()
        if donor is None:
            if generator is None:
                raise GeneratorError("no face generator is installed; a seed cannot be rendered")
            return generator.sample([person.seed], self.psi, size=PERSON_SIZE)[0].image
        if generator is not None and donor.model == getattr(generator, "name", None):
            psi = donor.psi if donor.psi is not None else self.psi
            return generator.sample([donor.seed], psi, size=PERSON_SIZE)[0].image
        return self.bank.crop(donor)
