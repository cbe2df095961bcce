"""Donor faces for synthetic anonymization (k-Same): a folder of aligned crops and a JSON index.

A face bank lives in a folder (by default ``MODEL_DIR/facebank/``)::

    index.json           {"version": 1, "donors": [{id, person, source, sha256, gender, ...}]}
    donors/<id>.png      the donor's face aligned to the canonical 256x256 frame
    donors/<id>.npz      its 468 face-mesh points in that frame, and its FaceNet embedding

k-Same needs k distinct PEOPLE, not k photos: every donor has a ``person``. Photos in
``DIR/<name>/`` belong to person ``<name>``; loose photos are each their own person, unless
FaceNet (when given) says a photo matches a donor already in the bank, in which case it joins
that donor's person. A synthetic face is the average of one photo each of k distinct people.

Faces are aligned with MediaPipe's face mesh (`ml.face_mesh`, shared with face swap): a
similarity on five mesh points puts each donor into the canonical frame, and averaging warps the
k donors, triangle by triangle, onto their mean mesh first, so eyes, nose and mouth line up.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from ml.age_gender import BAND_NAMES, GENDERS, AgeGenderEstimator, age_band, similarity_transform
from ml.alignment import align_face
from ml.detection import KEYPOINT_NAMES, FaceDetector, dominant_face
from ml.errors import CodedError, FaceError
from ml.face_mesh import (
    FACE_OVAL,
    NUM_MESH_POINTS,
    FaceMesher,
    delaunay_triangles,
    five_points,
    polygon_mask,
    warp_mesh,
)
from ml.images import ImageError, decode_image

INDEX_FILE = "index.json"
DONOR_DIR = "donors"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CANONICAL_SIZE = 256
# The canonical frame: ArcFace's 112-px five-point template (eyes, nose tip, mouth corners),
# scaled 1.5x about its centre into 256 px, so the whole face oval and some margin fit.
CANONICAL_FIVE = (
    np.array(
        [
            (38.2946, 51.6963),
            (73.5318, 51.5014),
            (56.0252, 71.7366),
            (41.5493, 92.3655),
            (70.7299, 92.2041),
        ]
    )
    - 56.0
) * 1.5 + CANONICAL_SIZE / 2
_CHEEKS = (234, 454)  # image-left and image-right edge of the face at the cheekbones
_FOREHEAD_CHIN = (10, 152)  # top of the forehead and tip of the chin on the mid line
_EYE_CORNERS = (33, 263)  # outer corner of the image-left and of the image-right eye
KIND_CONSENTED = "consented"  # a real person's photo, added by an operator with their consent
KIND_GENERATED = "generated"  # a face of no real person, from ml.generator

MIN_DONOR_FACE = 64  # px: the donor face's box width; smaller faces make blurry donors
MAX_DONOR_YAW = 25.0  # degrees of head turn (yaw_degrees)
POSE_CHOICES = 3  # a generated face is drawn among the 3 closest in head pose
SAME_PERSON_THRESHOLD = 0.45  # FaceNet cosine at which two photos are the same person


class FaceBankError(CodedError, ValueError):
    """The face bank cannot provide what was asked; `code` names the reason."""


class DonorRefused(FaceError):
    """A photo that cannot become a donor."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- geometry ---------------------------------------------------------------------------------


def yaw_degrees(landmarks: np.ndarray) -> float:
    """Head turn from the mesh: angle of the cheek-to-cheek line in depth (0 = frontal)."""
    left, right = landmarks[_CHEEKS[0]], landmarks[_CHEEKS[1]]
    return float(math.degrees(math.atan2(right[2] - left[2], right[0] - left[0])))


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the mesh; pitch > 0: chin farther than the forehead."""
    top, chin = landmarks[_FOREHEAD_CHIN[0]], landmarks[_FOREHEAD_CHIN[1]]
    pitch = math.degrees(math.atan2(chin[2] - top[2], chin[1] - top[1]))
    left, right = landmarks[_EYE_CORNERS[0]], landmarks[_EYE_CORNERS[1]]
    roll = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    return yaw_degrees(landmarks), float(pitch), float(roll)


def warp_similarity(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp with a 2x3 image->output similarity, pre-shrinking by 2x steps to avoid aliasing."""
    matrix = np.array(matrix, dtype=np.float64)
    source = rgb
    while math.hypot(matrix[0, 0], matrix[1, 0]) < 0.5 and min(source.shape[:2]) >= 4:
        source = cv2.pyrDown(source)
        matrix[:, :2] *= 2.0
    return cv2.warpAffine(
        source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (n, 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


# --- donors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Donor:
    """One donor photo in the bank."""

    id: str
    person: str  # donors with the same person are one identity for k-Same
    source: str  # file name the photo came from (for the operator; never shown to users)
    sha256: str  # of the source file: the same file is never added twice
    gender: str
    gender_confidence: float
    age: float
    band: str
    yaw: float  # degrees of head turn
    added: str  # ISO time
    kind: str = KIND_CONSENTED  # KIND_CONSENTED (a real donor) or KIND_GENERATED
    pitch: float = 0.0  # degrees of head nod (see head_pose)
    roll: float = 0.0  # degrees of head tilt in the image plane
    seed: int | None = None  # generated donors: the generator's seed, psi and model
    psi: float | None = None
    model: str | None = None

    def to_json(self) -> dict:
        """The index entry."""
        return asdict(self)

    @classmethod
    def from_prepared(
        cls, prepared: PreparedDonor, id: str, person: str, source: str, sha256: str, **more
    ) -> Donor:
        """A new donor's index entry: its tags and head pose from `prepared`, added now.

        `more` sets the rest (a generated donor's kind, seed, psi and model).
        """
        return cls(
            id=id,
            person=person,
            source=source,
            sha256=sha256,
            gender=prepared.gender,
            gender_confidence=round(prepared.gender_confidence, 4),
            age=round(prepared.age, 1),
            band=age_band(prepared.age),
            yaw=round(prepared.yaw, 1),
            added=datetime.now(UTC).isoformat(timespec="seconds"),
            pitch=round(prepared.pitch, 1),
            roll=round(prepared.roll, 1),
            **more,
        )


@dataclass
class PreparedDonor:
    """A photo turned into a donor: aligned crop, mesh in the crop, estimates, embedding."""

    crop: np.ndarray
    mesh: np.ndarray
    age: float
    gender: str
    gender_confidence: float
    yaw: float
    embedding: np.ndarray | None
    pitch: float = 0.0
    roll: float = 0.0


@dataclass
class DonorTools:
    """What auto-tagging needs: MTCNN, the face mesh, age/gender, and optionally FaceNet."""

    detector: FaceDetector
    mesher: FaceMesher
    age_gender: AgeGenderEstimator
    embed: Callable[[np.ndarray], np.ndarray] | None = None  # (N,160,160,3) -> (N,128)

    def prepare(self, rgb: np.ndarray) -> PreparedDonor:
        """Align and tag the photo's one dominant face; raise DonorRefused or FaceError."""
        face = dominant_face(self.detector.detect(rgb))
        if face.box[2] < MIN_DONOR_FACE:
            raise DonorRefused(
                "face_too_small",
                f"the face is {face.box[2]} px wide; donors need at least {MIN_DONOR_FACE} px",
            )
        five = np.array([face.keypoints[name] for name in KEYPOINT_NAMES])
        landmarks = self.mesher.landmarks(rgb, face.box)
        if landmarks is None:
            raise DonorRefused("no_landmarks", "the face mesh found no face landmarks")
        mesh = landmarks[:NUM_MESH_POINTS, :2].astype(np.float64)
        yaw, pitch, roll = head_pose(landmarks)
        if abs(yaw) > MAX_DONOR_YAW:
            raise DonorRefused(
                "not_frontal",
                f"the face is turned {abs(yaw):.0f} degrees; donors face the camera "
                f"(at most {MAX_DONOR_YAW:.0f})",
            )
        matrix = similarity_transform(five_points(mesh), CANONICAL_FIVE)
        crop = warp_similarity(rgb, matrix, CANONICAL_SIZE)
        estimate = self.age_gender.estimate(rgb, five)
        embedding = None
        if self.embed is not None:
            embedding = np.asarray(self.embed(align_face(rgb, face)[None])[0], np.float32)
        return PreparedDonor(
            crop=crop,
            mesh=transform_points(matrix, mesh).astype(np.float32),
            age=estimate.age,
            gender=estimate.gender,
            gender_confidence=estimate.confidence,
            yaw=yaw,
            embedding=embedding,
            pitch=pitch,
            roll=roll,
        )


@dataclass
class AddReport:
    """What `add_folder` did with each photo."""

    added: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, code, message)
    merged: list[tuple[str, str, float]] = field(default_factory=list)  # (file, person, cosine)

    def lines(self) -> list[str]:
        """Human-readable lines for the command line."""
        out = [
            f"added {item['source']}: {item['gender']}, {item['age']:.0f} ({item['band']}), "
            f"person {item['person']}"
            for item in self.added
        ]
        out += [f"joined {file} to person {person} (FaceNet cosine {cos:.2f})" for file, person, cos
                in self.merged]  # fmt: skip
        out += [f"skipped {file}: {message}" for file, _, message in self.skipped]
        return out


@dataclass(frozen=True)
class DonorChoice:
    """The k donors picked for one face, and how far the search had to widen."""

    donors: tuple[Donor, ...]
    widened: tuple[str, ...]  # the (gender, band) cells used beyond the asked one, in order
    note: str


class FaceBank:
    """A folder of donor faces with a JSON index; reads are cheap, writes are atomic."""

    def __init__(self, root: Path, tools: DonorTools | None = None) -> None:
        """Open (not create) the bank at `root`; `tools` are needed only to add photos."""
        self.root = Path(root)
        self.tools = tools
        self._lock = threading.Lock()
        self._donors: list[Donor] = []
        self._mtime: tuple[int, int] | None = None
        self._cache: OrderedDict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._embeddings: dict[str, np.ndarray] | None = None
        self.reload()

    # reading

    def reload(self) -> None:
        """Re-read the index if it changed on disk (another process may have added donors)."""
        index = self.root / INDEX_FILE
        mtime = _stamp(index)
        if mtime == self._mtime:
            return
        donors = []
        if mtime is not None:
            data = json.loads(index.read_text(encoding="utf-8"))
            donors = [Donor(**entry) for entry in data.get("donors", [])]
        with self._lock:
            self._donors, self._mtime = donors, mtime
            self._cache.clear()
            self._embeddings = None

    @property
    def donors(self) -> list[Donor]:
        """Every donor, in the order they were added."""
        return list(self._donors)

    def persons(self) -> dict[str, list[Donor]]:
        """Donors grouped by person."""
        grouped: dict[str, list[Donor]] = {}
        for donor in self._donors:
            grouped.setdefault(donor.person, []).append(donor)
        return grouped

    def counts(self) -> dict[tuple[str, str], int]:
        """Distinct people per (gender, band) cell."""
        cells: dict[tuple[str, str], set[str]] = {}
        for donor in self._donors:
            cells.setdefault((donor.gender, donor.band), set()).add(donor.person)
        return {cell: len(people) for cell, people in cells.items()}

    def crop(self, donor: Donor) -> np.ndarray:
        """The donor's aligned 256x256 RGB crop."""
        bgr = cv2.imread(str(self.root / DONOR_DIR / f"{donor.id}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FaceBankError("face_bank_damaged", f"donor {donor.id}'s crop is missing")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def embeddings(self) -> dict[str, np.ndarray]:
        """FaceNet embedding of each donor that has one, by donor id (cached)."""
        with self._lock:
            if self._embeddings is not None:
                return self._embeddings
        vectors = {}
        for donor in self._donors:
            embedding = self.geometry(donor)[1]
            if embedding is not None:
                vectors[donor.id] = embedding
        with self._lock:
            self._embeddings = vectors
        return vectors

    def geometry(self, donor: Donor) -> tuple[np.ndarray, np.ndarray | None]:
        """The donor's mesh in the canonical frame and its FaceNet embedding (or None)."""
        with np.load(self.root / DONOR_DIR / f"{donor.id}.npz") as data:
            embedding = data["embedding"] if data["embedding"].size else None
            return data["mesh"].astype(np.float64), embedding

    # choosing

    def choose(
        self,
        gender: str,
        band: str,
        k: int,
        rng: np.random.Generator,
        exclude_persons: frozenset[str] = frozenset(),
    ) -> DonorChoice:
        """k donors of k distinct people, nearest cells first; raise FaceBankError if too few.

        Search order: the asked (gender, band); the same gender in the neighbouring bands, one
        step further each time; then the other gender, again from the asked band outwards.
        """
        order = _cell_order(gender, band)
        by_cell: dict[tuple[str, str], dict[str, list[Donor]]] = {}
        for donor in self._donors:
            if donor.person in exclude_persons:
                continue
            by_cell.setdefault((donor.gender, donor.band), {}).setdefault(donor.person, [])
            by_cell[(donor.gender, donor.band)][donor.person].append(donor)
        chosen: dict[str, Donor] = {}
        used_cells: list[tuple[str, str]] = []
        for cell in order:
            people = by_cell.get(cell, {})
            fresh = [person for person in sorted(people) if person not in chosen]
            if not fresh:
                continue
            used_cells.append(cell)
            rng.shuffle(fresh)
            for person in fresh[: k - len(chosen)]:
                options = people[person]
                chosen[person] = options[int(rng.integers(len(options)))]
            if len(chosen) >= k:
                break
        distinct = len({d.person for d in self._donors if d.person not in exclude_persons})
        if len(chosen) < k:
            raise FaceBankError(
                "face_bank_too_small",
                f"the face bank has {distinct} usable donor people (k-Same needs {k} distinct "
                f"people for each synthetic face); add photos of consenting donors with "
                f"`flask studio facebank add DIR`",
            )
        asked = (gender, band)
        widened = tuple(f"{g}/{b}" for g, b in used_cells if (g, b) != asked)
        in_cell = sum(1 for d in chosen.values() if (d.gender, d.band) == asked)
        note = (
            f"{k} donors from {gender}/{band}"
            if not widened
            else f"{gender}/{band} had {in_cell} of the {k} people needed; widened to "
            + ", ".join(widened)
        )
        return DonorChoice(tuple(chosen.values()), widened, note)

    def choose_generated(
        self,
        gender: str,
        band: str,
        yaw: float,
        rng: np.random.Generator,
        exclude_ids: frozenset[str] = frozenset(),
        pitch: float = 0.0,
    ) -> DonorChoice:
        """One generated face for one bystander: nearest cell first, then the closest head pose.

        Among the cell's faces not in `exclude_ids` (faces other bystanders already have), one
        of the POSE_CHOICES closest in yaw (and pitch, half weight) is drawn; raise
        FaceBankError when no generated face is left in any cell.
        """
        by_cell: dict[tuple[str, str], list[Donor]] = {}
        for donor in self._donors:
            if donor.kind == KIND_GENERATED and donor.id not in exclude_ids:
                by_cell.setdefault((donor.gender, donor.band), []).append(donor)
        for cell in _cell_order(gender, band):
            options = by_cell.get(cell)
            if not options:
                continue
            ranked = sorted(
                options, key=lambda d: (abs(d.yaw - yaw) + 0.5 * abs(d.pitch - pitch), d.id)
            )
            pick = ranked[int(rng.integers(min(POSE_CHOICES, len(ranked))))]
            widened = () if cell == (gender, band) else (f"{cell[0]}/{cell[1]}",)
            note = f"generated face {pick.id} (seed {pick.seed}) from {cell[0]}/{cell[1]}" + (
                f"; {gender}/{band} had none left" if widened else ""
            )
            return DonorChoice((pick,), widened, note)
        generated = sum(1 for donor in self._donors if donor.kind == KIND_GENERATED)
        raise FaceBankError(
            "face_bank_empty",
            f"the face bank has {generated} generated faces and none is left for this face "
            "(each bystander gets a face of their own); a studio worker fills the default bank "
            "when it starts, and `flask studio facebank generate --count N` adds more",
        )

    def average(self, donors: Sequence[Donor]) -> tuple[np.ndarray, np.ndarray]:
        """The k-Same face: donors warped to their mean mesh and averaged; (image, mean mesh)."""
        key = tuple(sorted(donor.id for donor in donors))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        meshes = [self.geometry(donor)[0] for donor in donors]
        crops = [self.crop(donor) for donor in donors]
        mean_mesh = np.mean(meshes, axis=0)
        size = (CANONICAL_SIZE, CANONICAL_SIZE)
        border = _frame_points(CANONICAL_SIZE)
        target = np.vstack([mean_mesh, border])
        triangles = delaunay_triangles(target)
        inside = polygon_mask(size, mean_mesh, FACE_OVAL) > 0
        warped, weights = [], []
        for crop, mesh in zip(crops, meshes, strict=True):
            image, covered = warp_mesh(crop, np.vstack([mesh, border]), target, triangles, size)
            warped.append(cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32))
            weights.append((covered > 0).astype(np.float32))
        # Each donor's skin statistics are moved to the group's mean before averaging, so the
        # average is not blotched by one donor's lighting. A pixel that a donor's warp left
        # uncovered (a fold-over between its mesh and the mean) takes the other donors only.
        stats = []
        for lab, weight in zip(warped, weights, strict=True):
            valid = inside & (weight > 0)
            stats.append((lab[valid].mean(axis=0), lab[valid].std(axis=0) + 1e-3))
        group_mean = np.mean([mean for mean, _ in stats], axis=0)
        group_std = np.mean([std for _, std in stats], axis=0)
        total = np.zeros_like(warped[0])
        count = np.zeros(size, np.float32)
        for lab, weight, (mean, std) in zip(warped, weights, stats, strict=True):
            total += ((lab - mean) / std * group_std + group_mean) * weight[..., None]
            count += weight
        average_lab = np.clip(total / np.maximum(count, 1.0)[..., None], 0, 255).astype(np.uint8)
        result = (cv2.cvtColor(average_lab, cv2.COLOR_LAB2RGB), mean_mesh)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        return result

    # writing

    def add_folder(
        self, folder: Path, progress: Callable[[int, int], None] | None = None
    ) -> AddReport:
        """Add each photo under `folder` with one dominant face; `DIR/<person>/` names people."""
        if self.tools is None:
            raise FaceBankError("face_bank_read_only", "this face bank was opened without tools")
        folder = Path(folder)
        if not folder.is_dir():
            raise FaceBankError("not_a_folder", f"{folder} is not a folder")
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        report = AddReport()
        known = {donor.sha256 for donor in self._donors}
        for number, path in enumerate(files, start=1):
            relative = path.relative_to(folder)
            label = relative.parts[0] if len(relative.parts) > 1 else None
            self._add_file(path, relative.as_posix(), label, known, report)
            if progress is not None:
                progress(number, len(files))
        return report

    def _add_file(
        self, path: Path, name: str, label: str | None, known: set[str], report: AddReport
    ) -> None:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in known:
            report.skipped.append((name, "duplicate", "the same file is already in the bank"))
            return
        try:
            rgb = decode_image(data)
            prepared = self.tools.prepare(rgb)
        except ImageError as exc:
            report.skipped.append((name, exc.code, exc.message))
            return
        except FaceError as exc:
            code = getattr(exc, "code", "face_error")
            report.skipped.append((name, code, str(exc)))
            return
        person = f"{label}" if label else f"photo-{digest[:12]}"
        if prepared.embedding is not None:
            match = self.same_person(prepared.embedding)
            if match is not None and match[0] != person:
                report.merged.append((name, match[0], match[1]))
                person = match[0]
        donor = Donor.from_prepared(prepared, digest[:16], person, name, digest)
        self._write_donor(donor, prepared)
        known.add(digest)
        report.added.append(donor.to_json())

    def add_prepared(self, donor: Donor, prepared: PreparedDonor) -> None:
        """Store a donor prepared elsewhere (e.g. a generated face, see ml.generator.donors)."""
        if any(existing.id == donor.id for existing in self._donors):
            raise FaceBankError("duplicate", f"donor {donor.id} is already in the bank")
        self._write_donor(donor, prepared)

    def same_person(
        self, embedding: np.ndarray, threshold: float = SAME_PERSON_THRESHOLD
    ) -> tuple[str, float] | None:
        """The bank's person FaceNet takes this embedding for (cosine >= `threshold`, the
        closest), with the cosine, or None."""
        best: tuple[str, float] | None = None
        vectors = self.embeddings()
        for donor in self._donors:
            if donor.id not in vectors:
                continue
            cosine = float(np.dot(embedding, vectors[donor.id]))
            if cosine >= threshold and (best is None or cosine > best[1]):
                best = (donor.person, cosine)
        return best

    def _write_donor(self, donor: Donor, prepared: PreparedDonor) -> None:
        folder = self.root / DONOR_DIR
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{donor.id}.png"), cv2.cvtColor(prepared.crop, cv2.COLOR_RGB2BGR))
        embedding = prepared.embedding if prepared.embedding is not None else np.zeros(0)
        np.savez(folder / f"{donor.id}.npz", mesh=prepared.mesh, embedding=embedding)
        with self._lock:
            self._donors.append(donor)
            self._embeddings = None
            self._save()

    def remove(self, donor_id: str) -> None:
        """Remove one donor and its files."""
        with self._lock:
            self._donors = [donor for donor in self._donors if donor.id != donor_id]
            self._embeddings = None
            self._cache.clear()
            self._save()
        for suffix in (".png", ".npz"):
            (self.root / DONOR_DIR / f"{donor_id}{suffix}").unlink(missing_ok=True)

    def retag(self, donor_id: str, gender: str | None = None, age: float | None = None) -> Donor:
        """Correct a donor's auto-tagged gender or age."""
        if gender is not None and gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}")
        with self._lock:
            for number, donor in enumerate(self._donors):
                if donor.id == donor_id:
                    changes: dict = {}
                    if gender is not None:
                        changes.update(gender=gender, gender_confidence=1.0)
                    if age is not None:
                        changes.update(age=float(age), band=age_band(float(age)))
                    updated = Donor(**{**donor.to_json(), **changes})
                    self._donors[number] = updated
                    self._save()
                    self._cache.clear()
                    return updated
        raise KeyError(donor_id)

    def _save(self) -> None:
        """Write the index atomically (caller holds the lock)."""
        self.root.mkdir(parents=True, exist_ok=True)
        index = self.root / INDEX_FILE
        temporary = index.with_suffix(".tmp")
        payload = {"version": 1, "donors": [donor.to_json() for donor in self._donors]}
        temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(temporary, index)
        self._mtime = _stamp(index)


def _stamp(index: Path) -> tuple[int, int] | None:
    """The index file's (mtime in ns, size), or None when there is none: changes when it does."""
    try:
        stat = index.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _cell_order(gender: str, band: str) -> list[tuple[str, str]]:
    """Cells from nearest to farthest: same gender by band distance, then the other gender."""
    if gender not in GENDERS or band not in BAND_NAMES:
        raise ValueError(f"unknown gender/band {gender}/{band}")
    home = BAND_NAMES.index(band)
    bands = sorted(range(len(BAND_NAMES)), key=lambda i: (abs(i - home), i))
    other = GENDERS[1 - GENDERS.index(gender)]
    return [(g, BAND_NAMES[i]) for g in (gender, other) for i in bands]


def _frame_points(size: int) -> np.ndarray:
    """Corners and edge midpoints of a square frame (keeps the warp defined everywhere)."""
    last = size - 1.0
    mid = last / 2
    return np.array(
        [(0, 0), (mid, 0), (last, 0), (last, mid), (last, last), (mid, last), (0, last), (0, mid)]
    )
