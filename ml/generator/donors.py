"""Generated donors for the face bank: faces of no real person, tagged, and spread over the bands.

Each candidate face is generated from a seed, then read like any donor photo
(`DonorTools.prepare`: MTCNN, face mesh, head pose, dlib's age and gender, FaceNet when loaded).
A face that cannot be read is dropped with the reason (`no_face`, `not_frontal`, ...), as is one
whose gender the tagger is unsure of (`tagger_unsure`) or that FaceNet takes for a person already
in the bank (`looks_like_donor`), so no two donors are the same person.

Bands are filled by rejection sampling on the tags: each (gender, age band) cell has a minimum
(the default bank: 8 of its 200 faces in each of the 10 cells), the rest of the faces are kept as
they come, and a face whose cell is not wanted any more is not kept (`band_full`). So that rare
cells (children, teenagers, seniors) do not cost hundreds of syntheses, candidates are proposed
in latent space first: a linear model fitted on the faces tagged so far (logistic regression of
gender on w, ridge regression of age on w) predicts each candidate's cell from its w (the mapping
is cheap, the synthesis is not), and the candidates most likely to land in the neediest cell are
synthesized.
The model only proposes; the kept tags are always the tagger's own reading of the generated image.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.age_gender import AGE_BANDS, BAND_NAMES, GENDERS, age_band
from ml.errors import FaceError
from ml.face_bank import (
    KIND_GENERATED,
    Donor,
    DonorRefused,
    DonorTools,
    FaceBank,
    PreparedDonor,
)
from ml.generator.base import DEFAULT_PSI, FaceGenerator

Cell = tuple[str, str]
CELLS: tuple[Cell, ...] = tuple((g, b) for g in GENDERS for b in BAND_NAMES)
DEFAULT_BANK_SIZE = 200  # faces in the default bank
DEFAULT_PER_CELL = 8  # of them at least this many in each gender x age band
GENERATE_SIZE = 512  # px of the generated image the donor is read from
MIN_GENDER_CONFIDENCE = 0.7  # below this the tagger is unsure and the face is dropped
CANDIDATES = 512  # latents proposed per pick (mapping them costs ~0.2 s)
MIN_FIT = 24  # tagged faces before the latent model starts proposing
BATCH = 2  # faces synthesized together (the generator pipelines its requests)
# FaceNet cosine at which a generated face counts as a near-copy of a donor already in the bank.
# Not the recognition threshold (0.45): FaceNet puts generated faces closer together than real
# people (measured: different seeds at 0.47-0.76 to their nearest of 45 generated donors), so at
# 0.45 a bank of 45 turned away 12 of 13 new faces; 0.75 drops only the near-copies.
DUPLICATE_COSINE = 0.75
# Why a generated face is not kept (FaceError codes from the detector and DonorRefused codes).
DROP_CODES = frozenset(
    {"no_face", "multiple_faces", "face_too_small", "no_landmarks", "not_frontal"}
    | {"tagger_unsure", "looks_like_donor", "band_full"}
)


@dataclass
class FillReport:
    """What a fill did: faces added, faces dropped (with why), attempts, time."""

    added: list[Donor] = field(default_factory=list)
    dropped: list[tuple[int, str, str]] = field(default_factory=list)  # (seed, code, message)
    attempts: int = 0
    seconds: float = 0.0
    short: dict[Cell, int] = field(default_factory=dict)  # cells that did not reach their minimum
    missing: int = 0  # faces short of the total (including the cells' shortfall)

    def drop_counts(self) -> dict[str, int]:
        """Dropped faces by reason."""
        counts: dict[str, int] = {}
        for _, code, _ in self.dropped:
            counts[code] = counts.get(code, 0) + 1
        return counts

    def summary(self) -> str:
        """One line for the command line and the worker log."""
        drops = ", ".join(f"{code} {n}" for code, n in sorted(self.drop_counts().items()))
        line = (
            f"added {len(self.added)} generated faces from {self.attempts} tries in "
            f"{self.seconds:.0f} s" + (f"; dropped: {drops}" if drops else "")
        )
        if self.missing:
            line += f"; {self.missing} short of the total"
        if self.short:
            line += (
                " (bands short: "
                + ", ".join(f"{g}/{b} {n}" for (g, b), n in sorted(self.short.items()))
                + ")"
            )
        return line


def matching_cells(gender: str | None = None, band: str | None = None) -> list[Cell]:
    """The cells of `gender` and `band` (None: any); raises ValueError for an unknown one."""
    if gender is not None and gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, not {gender!r}")
    if band is not None and band not in BAND_NAMES:
        raise ValueError(f"age band must be one of {BAND_NAMES}, not {band!r}")
    return [c for c in CELLS if gender in (None, c[0]) and band in (None, c[1])]


@dataclass(frozen=True)
class FillPlan:
    """How many faces to add, the cells they may be of, and each cell's minimum among them."""

    total: int
    cells: tuple[Cell, ...]
    minimums: dict[Cell, int]


def plan_generate(count: int, gender: str | None = None, band: str | None = None) -> FillPlan:
    """`count` faces of the matching cells: half of them spread evenly, the rest as they come."""
    if count < 1:
        raise ValueError("count must be at least 1")
    cells = matching_cells(gender, band)
    base, extra = divmod(count // 2 if len(cells) > 1 else count, len(cells))
    minimums = {cell: base + (1 if i < extra else 0) for i, cell in enumerate(cells)}
    return FillPlan(count, tuple(cells), {c: n for c, n in minimums.items() if n > 0})


def plan_default_bank(
    bank: FaceBank, size: int = DEFAULT_BANK_SIZE, per_cell: int = DEFAULT_PER_CELL
) -> FillPlan | None:
    """What the default bank still lacks (generated faces only), or None when it is filled."""
    have: dict[Cell, int] = {}
    for donor in bank.donors:
        if donor.kind == KIND_GENERATED:
            cell = (donor.gender, donor.band)
            have[cell] = have.get(cell, 0) + 1
    minimums = {c: per_cell - have.get(c, 0) for c in CELLS if have.get(c, 0) < per_cell}
    total = max(size - sum(have.values()), sum(minimums.values()))
    if total <= 0:
        return None
    return FillPlan(total, CELLS, minimums)


class LatentTagModel:
    """Predicts a face's (gender, band) from its w: proposes candidates, never tags a donor."""

    def __init__(self) -> None:
        """Empty until `fit` has enough of both genders."""
        self._gender = None
        self._age = None
        self._sigma = 10.0

    @property
    def ready(self) -> bool:
        """Whether it has been fitted."""
        return self._gender is not None

    def fit(self, w: np.ndarray, genders: Sequence[str], ages: Sequence[float]) -> None:
        """Fit on tagged faces (w, gender, age); needs both genders."""
        from sklearn.linear_model import LogisticRegression, Ridge

        labels = np.array([GENDERS.index(g) for g in genders])
        if len(w) < MIN_FIT or len(set(labels.tolist())) < 2:
            return
        self._gender = LogisticRegression(C=0.05, max_iter=500).fit(w, labels)
        ages = np.asarray(ages, np.float64)
        self._age = Ridge(alpha=30.0).fit(w, ages)
        residual = ages - self._age.predict(w)
        self._sigma = max(5.0, 1.5 * float(np.sqrt(np.mean(residual**2))))

    def cell_probabilities(self, w: np.ndarray) -> np.ndarray:
        """(N, len(CELLS)) probability of each cell, in CELLS order."""
        p_gender = self._gender.predict_proba(w)  # columns: female, male
        age = self._age.predict(w)
        bands = []
        for _, low, high in AGE_BANDS:
            upper = 1.0 if math.isinf(high) else _normal_cdf((high - age) / self._sigma)
            lower = 0.0 if low <= 0 else _normal_cdf((low - age) / self._sigma)
            bands.append(np.clip(upper - lower, 0.0, 1.0))
        p_band = np.stack(bands, axis=1)
        return np.concatenate([p_gender[:, [0]] * p_band, p_gender[:, [1]] * p_band], axis=1)


@dataclass
class _Wanted:
    """During a fill: each cell's remaining minimum, and the faces any wanted cell may have."""

    need: dict[Cell, int]
    free: int
    cells: set[Cell]

    def open(self) -> bool:
        """Whether any face is still wanted."""
        return bool(self.need) or self.free > 0

    def wants(self, cell: Cell) -> bool:
        """Whether a face of `cell` would be kept now."""
        return self.need.get(cell, 0) > 0 or (self.free > 0 and cell in self.cells)

    def take(self, cell: Cell) -> None:
        """Count a kept face of `cell`."""
        if self.need.get(cell, 0) > 0:
            self.need[cell] -= 1
            if not self.need[cell]:
                del self.need[cell]
        else:
            self.free -= 1

    def targets(self) -> dict[Cell, int] | None:
        """Cells to steer the proposals to: the short ones, else the wanted ones if restricted."""
        if self.need:
            return dict(self.need)
        if len(self.cells) < len(CELLS):
            return {cell: 1 for cell in self.cells}
        return None


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, elementwise."""
    from scipy.special import ndtr

    return ndtr(x)


class DonorGenerator:
    """Fills a face bank with generated donors; one instance per bank and process."""

    def __init__(
        self,
        bank: FaceBank,
        generator: FaceGenerator,
        tools: DonorTools,
        psi: float = DEFAULT_PSI,
    ) -> None:
        """`tools` read each face (their FaceNet, when given, keeps donors distinct)."""
        self.bank = bank
        self.generator = generator
        self.tools = tools
        self.psi = psi
        self.model = LatentTagModel()
        self._tagged: list[tuple[np.ndarray, str, float]] = []
        model_name = getattr(generator, "name", "generator")
        # Seeds already in the bank (from this model) are never drawn again.
        self._used = {
            d.seed for d in bank.donors if d.kind == KIND_GENERATED and d.model == model_name
        }
        self._model_name = model_name
        self._next_seed = max((s for s in self._used if s is not None), default=-1) + 1
        self._learn_from_bank()

    def _learn_from_bank(self) -> None:
        """Start the latent model from the bank's generated donors (their w is recomputed)."""
        donors = [
            d for d in self.bank.donors
            if d.kind == KIND_GENERATED and d.model == self._model_name and d.seed is not None
        ]  # fmt: skip
        if not donors:
            return
        w = self.generator.styles([d.seed for d in donors], donors[0].psi or self.psi)
        self._tagged = [(w[i], d.gender, d.age) for i, d in enumerate(donors)]
        self._refit()

    def _refit(self) -> None:
        if len(self._tagged) >= MIN_FIT:
            self.model.fit(
                np.stack([t[0] for t in self._tagged]),
                [t[1] for t in self._tagged],
                [t[2] for t in self._tagged],
            )

    def fill(
        self,
        plan: FillPlan,
        max_attempts: int | None = None,
        progress: Callable[[int, int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> FillReport:
        """Add `plan.total` generated donors, each cell's minimum among them, or stop after
        `max_attempts` faces (default 5 per wanted face). `progress(added, total, attempts)`."""
        started = time.monotonic()
        need = {cell: n for cell, n in plan.minimums.items() if n > 0}
        state = _Wanted(need, plan.total - sum(need.values()), set(plan.cells))
        max_attempts = max_attempts if max_attempts is not None else max(40, 5 * plan.total)
        report = FillReport()
        since_fit = 0
        while state.open() and report.attempts < max_attempts:
            if should_stop is not None and should_stop():
                break
            seeds = self._propose(state.targets(), min(BATCH, max_attempts - report.attempts))
            faces = self.generator.sample(seeds, self.psi, size=GENERATE_SIZE)
            for face in faces:
                self._used.add(face.seed)
                if not state.open():
                    break  # the batch's last face was not needed
                report.attempts += 1
                self._consider(face, state, report)
                since_fit += 1
                if progress is not None:
                    progress(len(report.added), plan.total, report.attempts)
            if since_fit >= 12 or (not self.model.ready and len(self._tagged) >= MIN_FIT):
                self._refit()
                since_fit = 0
        report.short = dict(state.need)
        report.missing = plan.total - len(report.added)
        report.seconds = time.monotonic() - started
        return report

    def _consider(self, face, state: _Wanted, report: FillReport) -> None:
        """Read one generated face; keep it if it is readable, distinct and its cell needs it."""
        try:
            prepared = self.tools.prepare(face.image)
        except DonorRefused as exc:
            report.dropped.append((face.seed, exc.code, str(exc)))
            return
        except FaceError as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            report.dropped.append((face.seed, code, str(exc)))
            return
        self._tagged.append((face.w, prepared.gender, prepared.age))
        if prepared.gender_confidence < MIN_GENDER_CONFIDENCE:
            report.dropped.append(
                (face.seed, "tagger_unsure", f"gender {prepared.gender_confidence:.2f} sure")
            )
            return
        cell = (prepared.gender, age_band(prepared.age))
        if not state.wants(cell):
            report.dropped.append((face.seed, "band_full", f"{cell[0]}/{cell[1]} is full"))
            return
        if prepared.embedding is not None:
            match = self.bank.same_person(prepared.embedding, DUPLICATE_COSINE)
            if match is not None:
                report.dropped.append(
                    (face.seed, "looks_like_donor", f"FaceNet {match[1]:.2f} to {match[0]}")
                )
                return
        donor = self._donor(face.seed, prepared)
        self.bank.add_prepared(donor, prepared)
        report.added.append(donor)
        state.take(cell)

    def _donor(self, seed: int, prepared: PreparedDonor) -> Donor:
        name = f"{self._model_name}:seed={seed}:psi={self.psi}"
        digest = hashlib.sha256(name.encode()).hexdigest()
        return Donor.from_prepared(
            prepared,
            id=f"g{digest[:15]}",
            person=f"generated-{seed}",
            source=f"generated {name}",
            sha256=digest,
            kind=KIND_GENERATED,
            seed=int(seed),
            psi=float(self.psi),
            model=self._model_name,
        )

    def _propose(self, need: dict[Cell, int] | None, n: int) -> list[int]:
        """The next `n` seeds: in order while no steering is needed or the latent model is not
        ready, else the candidates most likely to fall in the cells of `need`."""
        steer = bool(need) and self.model.ready
        pool = []
        while len(pool) < (CANDIDATES if steer else n):
            if self._next_seed not in self._used:
                pool.append(self._next_seed)
            self._next_seed += 1
        if not steer:
            return pool
        probabilities = self.model.cell_probabilities(self.generator.styles(pool, self.psi))
        # Round-robin over the needy cells, neediest (by remaining quota over how often the
        # latent model expects it) first; each pick the candidate most likely to land there.
        expected = probabilities.mean(axis=0) + 1e-3
        order = sorted(need, key=lambda c: -need[c] / expected[CELLS.index(c)])
        chosen: list[int] = []
        taken: set[int] = set()
        for i in range(n):
            column = probabilities[:, CELLS.index(order[i % len(order)])]
            for index in np.argsort(-column):
                if int(index) not in taken:
                    taken.add(int(index))
                    chosen.append(pool[int(index)])
                    break
        # The window moves on by a quarter each pick: a rare cell's best candidates are not
        # exhausted, and every run draws the same seeds (the proposals are deterministic).
        self._next_seed = pool[CANDIDATES // 4]
        for seed in chosen:
            self._used.add(seed)
        return chosen


def generated_donor_tools(model_dir, facenet: bool = True) -> DonorTools:
    """DonorTools tuned for generated faces (one large face in a 512-px frame): MTCNN from 96 px."""
    from pathlib import Path

    from ml.age_gender import AgeGenderEstimator
    from ml.detection import FaceDetector
    from ml.face_mesh import FaceMesher

    model_dir = Path(model_dir)
    detector = FaceDetector.for_photos(min_face_size=96.0, max_side=GENERATE_SIZE)
    detector.warmup(GENERATE_SIZE, GENERATE_SIZE)
    embed = None
    if facenet:
        from ml.facenet import FaceNetEmbedder
        from ml.recognition import FACENET_FILE

        h5 = model_dir / FACENET_FILE
        embed = FaceNetEmbedder(h5).embed if h5.is_file() else None
    return DonorTools(detector, FaceMesher(), AgeGenderEstimator.from_model_dir(model_dir), embed)
