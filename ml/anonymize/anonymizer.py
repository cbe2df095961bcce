"""The Anonymizer: find every face in a photo, keep the chosen ones, replace or hide the rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.age_gender import AgeGender, AgeGenderEstimator
from ml.alignment import align_face
from ml.anonymize.cover import blur, pixelate
from ml.anonymize.detection import FaceBox, WideFaceDetector, best_match, mesh_agrees, union
from ml.anonymize.synthetic import blend_shape, grow, match_colour, poisson
from ml.detection import KEYPOINT_NAMES, FaceDetector
from ml.errors import CodedError
from ml.face_bank import (
    KIND_GENERATED,
    DonorChoice,
    DonorTools,
    FaceBank,
    FaceBankError,
    head_pose,
)
from ml.face_mesh import (
    FACE_OVAL,
    NUM_MESH_POINTS,
    FaceMesher,
    delaunay_triangles,
    five_points,
    polygon_mask,
    warp_mesh,
)
from ml.images import as_rgb

# synthetic: one generated face (of no real person) per bystander; k-same: the average of k
# donors (k-Same); blur and pixelate hide the face.
MODES = ("synthetic", "k-same", "blur", "pixelate")
SYNTHETIC_MODES = ("synthetic", "k-same")
FALLBACKS = ("blur", "pixelate")
MODEL_NAME = "anonymize-kSame-v1"
DEFAULT_K = 5
IDENTITY_RETRIES = 2  # other donor sets tried when a synthetic face fails the identity check
# The identity check passes below threshold - margin: a re-detected box embeds a little
# differently from the box checked here (0.01-0.03 measured), so the margin keeps the promise.
CHECK_MARGIN = 0.05
INSET = 0.06  # the replaced area stays this share of the face width inside the face oval
SHAPE_KEEP = (
    0.3  # share of the bystander's own inner face geometry kept (see synthetic.blend_shape)
)


class NoSyntheticFace(Exception):
    """This face cannot take a synthetic face (no mesh, too small); it is blurred instead."""


class AnonymizeError(CodedError, ValueError):
    """A request the anonymizer cannot carry out; `code` names the reason."""


@dataclass
class AnonymizeResult:
    """The anonymized image, which faces were replaced and kept, and what was done to each."""

    image: np.ndarray
    replaced_ids: list[int]
    kept_ids: list[int]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyntheticIdentity:
    """The k-Same face chosen for one bystander: donors, their average and its mean mesh."""

    choice: DonorChoice
    image: np.ndarray
    mesh: np.ndarray
    estimate: AgeGender
    triangles: np.ndarray


class Anonymizer:
    """Finds faces and replaces the ones not kept; one instance per worker process."""

    def __init__(
        self,
        detector: FaceDetector,
        wide: WideFaceDetector | None,
        mesher: FaceMesher,
        age_gender: AgeGenderEstimator,
        bank: FaceBank,
        embed: Callable[[np.ndarray], np.ndarray] | None = None,
        k: int = DEFAULT_K,
        threshold: float = 0.45,
    ) -> None:
        """Wire the models; `embed` is FaceNet ((N,160,160,3) -> (N,128)) for identity checks."""
        if k < DEFAULT_K:
            raise ValueError(f"k-Same needs k >= {DEFAULT_K} donors, got {k}")
        self.detector = detector
        self.wide = wide
        self.mesher = mesher
        self.age_gender = age_gender
        self.bank = bank
        self.embed = embed
        self.k = int(k)
        self.threshold = float(threshold)

    @classmethod
    def from_model_dir(
        cls,
        model_dir: Path,
        analyzer: Any | None = None,
        mesher: FaceMesher | None = None,
        bank_dir: Path | None = None,
        k: int = DEFAULT_K,
        threshold: float = 0.45,
    ) -> Anonymizer:
        """Load everything from MODEL_DIR; reuse a FaceAnalyzer's MTCNN and FaceNet if given."""
        model_dir = Path(model_dir)
        if analyzer is not None:
            detector, embed = analyzer.detectors["photo"], analyzer.embedder.embed
        else:
            from ml.facenet import FaceNetEmbedder
            from ml.recognition import FACENET_FILE

            detector = FaceDetector.for_photos()
            detector.warmup()
            h5 = model_dir / FACENET_FILE
            embed = FaceNetEmbedder(h5).embed if h5.is_file() else None
        mesher = mesher or FaceMesher()
        age_gender = AgeGenderEstimator.from_model_dir(model_dir)
        tools = DonorTools(detector, mesher, age_gender, embed)
        bank = FaceBank(bank_dir or model_dir / "facebank", tools)
        return cls(detector, WideFaceDetector(), mesher, age_gender, bank, embed, k, threshold)

    @property
    def version(self) -> str:
        """Model name, k and the age/gender model."""
        return f"{MODEL_NAME}(k={self.k})+{self.age_gender.version}"

    # -- finding faces ---------------------------------------------------------------------

    def detect(self, rgb: np.ndarray, stats: dict | None = None) -> list[FaceBox]:
        """Every face, largest first (ids 0, 1, ...): MTCNN merged with MediaPipe full range."""
        rgb = as_rgb(rgb)
        faces = [
            (f.box, f.confidence, np.array([f.keypoints[n] for n in KEYPOINT_NAMES]), "mtcnn")
            for f in self.detector.detect(rgb)
        ]
        mtcnn_count, wide_count, unconfirmed = len(faces), 0, 0
        if self.wide is not None:
            wide_faces = self.wide.detect(rgb)
            wide_count = len(wide_faces)
            for box, score, _ in wide_faces:
                match = best_match(box, [f[0] for f in faces])
                if match is not None:
                    old = faces[match]
                    faces[match] = (old[0], max(old[1], score), old[2], "both")
                    continue
                # A face only MediaPipe sees must be confirmed by the face mesh (measured: its
                # one extra box on our 150 photos was a pair of hands the mesh finds no face in).
                landmarks = self.mesher.landmarks(rgb, box)
                if landmarks is None:
                    unconfirmed += 1
                    continue
                faces.append((box, score, five_points(landmarks), "mediapipe"))
        faces.sort(key=lambda f: (f[0][2] * f[0][3], f[1]), reverse=True)
        if stats is not None:
            stats.update(
                mtcnn=mtcnn_count,
                mediapipe=wide_count,
                mediapipe_unconfirmed=unconfirmed,
                merged=len(faces),
            )
        return [
            FaceBox(number, tuple(int(v) for v in box), float(score), five.astype(np.float64), src)
            for number, (box, score, five, src) in enumerate(faces)
        ]

    def estimate(self, rgb: np.ndarray, faces: Sequence[FaceBox]) -> list[AgeGender]:
        """Age and gender of each face (one batch)."""
        return self.age_gender.estimate_many(rgb, [face.landmarks for face in faces])

    # -- anonymizing -----------------------------------------------------------------------

    def anonymize_image(
        self,
        rgb: np.ndarray,
        keep_ids: Sequence[int],
        mode: str,
        *,
        fallback: str | None = None,
        faces: Sequence[FaceBox] | None = None,
    ) -> AnonymizeResult:
        """Replace every face whose id is not in `keep_ids` (ids from `detect`, largest first).

        `fallback` ("blur" or "pixelate") is used for a face that cannot get a synthetic face
        (the bank has fewer than k people for it); without it such a face raises AnonymizeError
        with code face_bank_too_small and nothing is returned half-done.
        """
        if mode not in MODES:
            raise AnonymizeError("unknown_mode", f"mode must be one of {', '.join(MODES)}")
        if fallback is not None and fallback not in FALLBACKS:
            raise AnonymizeError("unknown_fallback", f"fallback must be one of {FALLBACKS}")
        original = as_rgb(rgb)
        started = time.perf_counter()
        stats: dict[str, int] = {}
        if faces is None:
            faces = self.detect(original, stats)
        detected = time.perf_counter()
        known = {face.id for face in faces}
        unknown = sorted(set(int(i) for i in keep_ids) - known)
        if unknown:
            raise AnonymizeError(
                "unknown_face",
                f"no face with id {', '.join(map(str, unknown))}; this image has "
                f"{len(faces)} faces (ids 0-{len(faces) - 1})",
            )
        keep = {int(i) for i in keep_ids}
        targets = [face for face in faces if face.id not in keep]
        image = original.copy()
        records: dict[int, dict[str, Any]] = {
            face.id: {**face.to_json(), "action": "kept" if face.id in keep else "replaced"}
            for face in faces
        }
        if mode in SYNTHETIC_MODES and targets:
            self._synthetic_all(
                original, image, targets, records, fallback, generated=mode == "synthetic"
            )
        else:
            for face in targets:
                region = self.cover(image, face, mode)
                records[face.id].update(mode=mode, region=list(region))
        finished = time.perf_counter()
        details = {
            "mode": mode,
            "k": self.k if mode == "k-same" else 1,
            "detectors": stats,
            "faces": [records[face.id] for face in faces],
            "bank": {"donors": len(self.bank.donors), "people": len(self.bank.persons())},
            "timings": {
                "detect": round(detected - started, 3),
                "replace": round(finished - detected, 3),
            },
            "model": self.version,
        }
        return AnonymizeResult(
            image=image,
            replaced_ids=[face.id for face in targets],
            kept_ids=sorted(keep),
            details=details,
        )

    def cover(self, image: np.ndarray, face: FaceBox, mode: str) -> tuple[int, int, int, int]:
        """Blur or pixelate one face in place; return the changed region (x0, y0, x1, y1)."""
        if mode == "blur":
            return blur(image, face.box)
        if mode == "pixelate":
            return pixelate(image, face.box)
        raise AnonymizeError("unknown_mode", f"cover() takes blur or pixelate, not {mode}")

    def _synthetic_all(
        self,
        original: np.ndarray,
        image: np.ndarray,
        targets: Sequence[FaceBox],
        records: dict[int, dict[str, Any]],
        fallback: str | None,
        generated: bool = False,
    ) -> None:
        """Replace each target with a generated (or k-Same) face, checking identities when
        FaceNet is here; with `generated`, no two targets get the same generated face."""
        self.bank.reload()
        estimates = self.estimate(original, targets)
        embeddings = self._embed_faces(original, targets)
        originals = {face.id: vector for face, vector in zip(targets, embeddings, strict=True)}
        plans: dict[int, SyntheticIdentity] = {}
        used: set[str] = set()  # generated faces given out in this image
        for face, estimate, embedding in zip(targets, estimates, embeddings, strict=True):
            record = records[face.id]
            record.update(
                age=round(estimate.age, 1),
                gender=estimate.gender,
                gender_confidence=round(estimate.confidence, 3),
                band=estimate.band,
            )
            try:
                plans[face.id] = self.plan_identity(
                    face, estimate, embedding, 0, generated=generated, used=used, rgb=original
                )
            except FaceBankError as exc:
                if fallback is None:
                    raise AnonymizeError(exc.code, exc.message) from exc
                region = self.cover(image, face, fallback)
                record.update(mode=fallback, region=list(region), fallback=exc.message)
        pending = [face for face in targets if face.id in plans]
        for attempt in range(IDENTITY_RETRIES + 1):
            for face in list(pending):
                identity = plans[face.id]
                try:
                    region = self.render(image, original, face, identity)
                except NoSyntheticFace as exc:
                    region = self.cover(image, face, "blur")
                    records[face.id].update(
                        mode="blur", region=union(records[face.id], region), fallback=str(exc)
                    )
                    pending.remove(face)
                    continue
                records[face.id].update(
                    mode="synthetic" if generated else "k-same",
                    region=union(records[face.id], region),
                    donors=[donor.id for donor in identity.choice.donors],
                    donor_people=len({donor.person for donor in identity.choice.donors}),
                    widened=list(identity.choice.widened),
                    note=identity.choice.note,
                )
            if self.embed is None or not pending:
                break
            # A failed face is simply rendered again with other donors: the new face covers
            # exactly the same mask, since the mask comes from the bystander's own landmarks.
            replaced = self._embed_faces(image, pending)
            failed = []
            for face, vector in zip(pending, replaced, strict=True):
                check = self._identity_check(vector, originals[face.id], plans[face.id])
                records[face.id]["identity_check"] = check
                if not check["passed"]:
                    failed.append(face)
            pending = []
            if attempt == IDENTITY_RETRIES:
                break
            for face in failed:
                try:
                    plans[face.id] = self.plan_identity(
                        face,
                        plans[face.id].estimate,
                        originals[face.id],
                        attempt + 1,
                        generated=generated,
                        used=used,
                        rgb=original,
                    )
                except FaceBankError:
                    continue
                pending.append(face)
        for face in targets:
            check = records[face.id].get("identity_check")
            if check is not None and not check["passed"]:
                region = self.cover(image, face, "blur")
                records[face.id].update(
                    mode="blur",
                    region=union(records[face.id], region),
                    fallback="no donor set passed the identity check; the face was blurred",
                )

    def plan_identity(
        self,
        face: FaceBox,
        estimate: AgeGender,
        embedding: np.ndarray | None,
        attempt: int = 0,
        *,
        generated: bool = False,
        used: set[str] | None = None,
        rgb: np.ndarray | None = None,
    ) -> SyntheticIdentity:
        """Choose the face's donors: one generated face not in `used` (added to it), of the
        closest head pose in `rgb`; or k donors, never its own person, averaged (k-Same)."""
        seed = [attempt, face.id, *face.box]
        if generated:
            yaw, pitch = 0.0, 0.0
            landmarks = self.mesher.landmarks(rgb, face.box) if rgb is not None else None
            if landmarks is not None:
                yaw, pitch, _ = head_pose(landmarks)
            choice = self.bank.choose_generated(
                estimate.gender,
                estimate.band,
                yaw,
                np.random.default_rng(seed),
                frozenset(used or ()),
                pitch,
            )
            if used is not None:
                used.update(donor.id for donor in choice.donors)
        else:
            exclude = self._same_people(embedding) if embedding is not None else frozenset()
            choice = self.bank.choose(
                estimate.gender, estimate.band, self.k, np.random.default_rng(seed), exclude
            )
        image, mesh = self.bank.average(choice.donors)
        return SyntheticIdentity(choice, image, mesh, estimate, delaunay_triangles(mesh))

    def render(
        self,
        image: np.ndarray,
        original: np.ndarray,
        face: FaceBox,
        identity: SyntheticIdentity,
    ) -> tuple[int, int, int, int]:
        """Warp the synthetic face onto `face` in `image` (in place); return the changed region.

        Raises NoSyntheticFace (nothing painted) when the face mesh does not confirm the face.
        """
        height, width = image.shape[:2]
        landmarks = self.mesher.landmarks(original, face.box)
        if landmarks is not None and not mesh_agrees(landmarks, face):
            landmarks = None
        if landmarks is None:
            # No mesh, no synthetic face: a similarity-pasted face on a false detection (a hand,
            # a pattern) would look absurd, and the face is covered by blur either way.
            raise NoSyntheticFace("the face mesh found no face here; the face was blurred")
        target = blend_shape(
            identity.mesh, landmarks[:NUM_MESH_POINTS, :2].astype(np.float64), SHAPE_KEEP
        )
        depth = landmarks[:NUM_MESH_POINTS, 2]
        outline = target[list(FACE_OVAL)]
        x0, y0, x1, y1 = grow(outline, 0.15, 3, height, width)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise NoSyntheticFace("the face is too small for a synthetic face; it was blurred")
        local = target - (x0, y0)
        size = (y1 - y0, x1 - x0)
        warped, covered = warp_mesh(
            identity.image, identity.mesh, local, identity.triangles, size, depth
        )
        # The mask keeps off the oval's edge, where hair and background often sit in the donors
        # or the bystander: Poisson blending would carry that edge's darkness into the face.
        face_width = float(np.ptp(local[list(FACE_OVAL), 0]))
        inset = max(3, round(INSET * face_width) | 1)
        oval = polygon_mask(size, local, FACE_OVAL)
        mask = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (inset, inset)))
        if cv2.countNonZero(mask) < 16:
            raise NoSyntheticFace("the face is too small for a synthetic face; it was blurred")
        # Pixels no triangle covers (folds, culled far-side triangles) are filled from around
        # them, so nothing of the bystander shows through and Poisson sees no hard edges.
        holes = cv2.bitwise_and(mask, cv2.bitwise_not(covered))
        if cv2.countNonZero(holes):
            warped = cv2.inpaint(warped, holes, 3, cv2.INPAINT_TELEA)
        destination = original[y0:y1, x0:x1]
        core = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (inset, inset)))
        warped = match_colour(warped, destination, core if cv2.countNonZero(core) > 16 else mask)
        blended = poisson(warped, destination, mask)
        region = image[y0:y1, x0:x1]
        inside = mask > 0
        region[inside] = blended[inside]
        ys, xs = np.nonzero(inside)
        return (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1,
                y0 + int(ys.max()) + 1)  # fmt: skip

    # -- identity checks -------------------------------------------------------------------

    def _embed_faces(self, rgb: np.ndarray, faces: Sequence[FaceBox]) -> list[np.ndarray | None]:
        if self.embed is None or not faces:
            return [None] * len(faces)
        crops = np.stack([align_face(rgb, face.as_detected()) for face in faces])
        return list(self.embed(crops))

    def _same_people(self, embedding: np.ndarray) -> frozenset[str]:
        """People in the bank FaceNet takes for the same person as this face."""
        vectors = self.bank.embeddings()
        return frozenset(
            donor.person
            for donor in self.bank.donors
            if donor.id in vectors and float(np.dot(vectors[donor.id], embedding)) >= self.threshold
        )

    def _identity_check(
        self, replaced: np.ndarray, original: np.ndarray, identity: SyntheticIdentity
    ) -> dict[str, Any]:
        """FaceNet cosines of the replaced face to the original and to each donor."""
        vectors = self.bank.embeddings()
        to_original = float(np.dot(replaced, original))
        # Looking like a generated donor is the point (it is no one); a real donor must not show.
        to_donors = [
            float(np.dot(replaced, vectors[donor.id]))
            for donor in identity.choice.donors
            if donor.id in vectors and donor.kind != KIND_GENERATED
        ]
        worst_donor = max(to_donors) if to_donors else None
        limit = self.threshold - CHECK_MARGIN
        passed = to_original < limit and (worst_donor is None or worst_donor < limit)
        return {
            "cosine_to_original": round(to_original, 3),
            "max_cosine_to_donor": None if worst_donor is None else round(worst_donor, 3),
            "limit": round(limit, 3),
            "passed": passed,
        }
