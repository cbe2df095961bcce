"""Anonymize bystanders: find every face, keep the chosen ones, replace all the others.

Finding faces (MTCNN merged with MediaPipe full range, tiled), the modes (k-Same synthetic faces
from the face bank, blur, pixelate) and the measurements behind the settings are described in
docs/anonymize.md.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml import colour
from ml.age_gender import AgeGender, AgeGenderEstimator
from ml.alignment import align_face
from ml.boxes import inside, iou
from ml.detection import KEYPOINT_NAMES, DetectedFace, FaceDetector
from ml.face_bank import (
    DonorChoice,
    DonorTools,
    FaceBank,
    FaceBankError,
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

MODES = ("synthetic", "blur", "pixelate")
FALLBACKS = ("blur", "pixelate")
MODEL_NAME = "anonymize-kSame-v1"
DEFAULT_K = 5
ELLIPSE_MARGIN = 0.4  # blur/pixelate cover an ellipse this much larger than the face box
BLUR_SIGMA = 0.25  # of the face's larger side
PIXELATE_BLOCKS = 6  # blocks across the face's larger side
IDENTITY_RETRIES = 2  # other donor sets tried when a synthetic face fails the identity check
# The identity check passes below threshold - margin: a re-detected box embeds a little
# differently from the box checked here (0.01-0.03 measured), so the margin keeps the promise.
CHECK_MARGIN = 0.05
INSET = 0.06  # the replaced area stays this share of the face width inside the face oval
SHAPE_KEEP = 0.3  # share of the bystander's own inner face geometry kept (see _blend_shape)


class NoSyntheticFace(Exception):
    """This face cannot take a synthetic face (no mesh, too small); it is blurred instead."""


class AnonymizeError(ValueError):
    """A request the anonymizer cannot carry out; `code` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, eq=False)
class FaceBox:
    """One face found in an image; `landmarks` are MTCNN's five points (image-left eye first)."""

    id: int
    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray
    source: str = "mtcnn"  # "mtcnn", "mediapipe", "both" or "tracker" (coasting in video)

    def as_detected(self) -> DetectedFace:
        """The same face as ml.detection's DetectedFace (for align_face)."""
        points = {
            name: (float(x), float(y))
            for name, (x, y) in zip(KEYPOINT_NAMES, self.landmarks, strict=True)
        }
        return DetectedFace(self.box, self.score, points)

    def to_json(self) -> dict:
        """Id, box, score and source, for the page and the API."""
        return {
            "id": self.id,
            "box": list(self.box),
            "score": round(self.score, 3),
            "source": self.source,
        }


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


class WideFaceDetector:
    """MediaPipe full-range face detection on the image and on overlapping tiles; lock-guarded."""

    def __init__(self, min_confidence: float = 0.5, tile_fraction: float = 0.6) -> None:
        """Load the graph; tiles are `tile_fraction` of the shorter side (256 to 640 px)."""
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )
        self.tile_fraction = float(tile_fraction)
        self._lock = threading.Lock()

    def windows(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(x, y, side) of the whole image (side 0) and of each square tile."""
        out = [(0, 0, 0)]
        # At most 640 px: in a large photo a 30-px face is still 9 px in the model's 192 px.
        tile = min(640, max(256, round(min(height, width) * self.tile_fraction)))
        if tile >= max(height, width):
            return out
        stride = max(1, round(tile * 0.66))
        for y in _starts(height, tile, stride):
            for x in _starts(width, tile, stride):
                out.append((x, y, tile))
        return out

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, np.ndarray]]:
        """(box, score, five points) per face, duplicates between windows removed."""
        height, width = rgb.shape[:2]
        found: list[tuple[np.ndarray, float, np.ndarray]] = []
        for x, y, side in self.windows(height, width):
            crop = rgb if side == 0 else rgb[y : y + side, x : x + side]
            crop_h, crop_w = crop.shape[:2]
            with self._lock:
                result = self._detector.process(np.ascontiguousarray(crop))
            for detection in result.detections or []:
                box = detection.location_data.relative_bounding_box
                x1 = x + max(0.0, box.xmin) * crop_w
                y1 = y + max(0.0, box.ymin) * crop_h
                x2 = x + min(1.0, box.xmin + box.width) * crop_w
                y2 = y + min(1.0, box.ymin + box.height) * crop_h
                if x2 - x1 < 4 or y2 - y1 < 4:
                    continue
                keys = np.array(
                    [
                        (x + p.x * crop_w, y + p.y * crop_h)
                        for p in detection.location_data.relative_keypoints
                    ]
                )
                found.append(
                    (np.array([x1, y1, x2 - x1, y2 - y1]), float(detection.score[0]), keys)
                )
        found.sort(key=lambda item: item[1], reverse=True)
        kept: list[tuple[np.ndarray, float, np.ndarray]] = []
        for item in found:
            if all(iou(item[0], other[0]) < 0.4 for other in kept):
                kept.append(item)
        return [(_int_box(box, height, width), score, _five_from_mediapipe(keys))
                for box, score, keys in kept]  # fmt: skip

    def close(self) -> None:
        """Release the graph."""
        with self._lock:
            self._detector.close()


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
                match = _best_match(box, [f[0] for f in faces])
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
        if mode == "synthetic" and targets:
            self._synthetic_all(original, image, targets, records, fallback)
        else:
            for face in targets:
                region = self.cover(image, face, mode)
                records[face.id].update(mode=mode, region=list(region))
        finished = time.perf_counter()
        details = {
            "mode": mode,
            "k": self.k,
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
            return _blur(image, face.box)
        if mode == "pixelate":
            return _pixelate(image, face.box)
        raise AnonymizeError("unknown_mode", f"cover() takes blur or pixelate, not {mode}")

    def _synthetic_all(
        self,
        original: np.ndarray,
        image: np.ndarray,
        targets: Sequence[FaceBox],
        records: dict[int, dict[str, Any]],
        fallback: str | None,
    ) -> None:
        """Replace each target with a k-Same face, checking identities when FaceNet is here."""
        self.bank.reload()
        estimates = self.estimate(original, targets)
        embeddings = self._embed_faces(original, targets)
        originals = {face.id: vector for face, vector in zip(targets, embeddings, strict=True)}
        plans: dict[int, SyntheticIdentity] = {}
        for face, estimate, embedding in zip(targets, estimates, embeddings, strict=True):
            record = records[face.id]
            record.update(
                age=round(estimate.age, 1),
                gender=estimate.gender,
                gender_confidence=round(estimate.confidence, 3),
                band=estimate.band,
            )
            try:
                plans[face.id] = self.plan_identity(face, estimate, embedding, attempt=0)
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
                        mode="blur", region=_union(records[face.id], region), fallback=str(exc)
                    )
                    pending.remove(face)
                    continue
                records[face.id].update(
                    mode="synthetic",
                    region=_union(records[face.id], region),
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
                        face, plans[face.id].estimate, originals[face.id], attempt + 1
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
                    region=_union(records[face.id], region),
                    fallback="no donor set passed the identity check; the face was blurred",
                )

    def plan_identity(
        self,
        face: FaceBox,
        estimate: AgeGender,
        embedding: np.ndarray | None,
        attempt: int = 0,
    ) -> SyntheticIdentity:
        """Choose k donors for a face (never its own person) and average them."""
        exclude = self._same_people(embedding) if embedding is not None else frozenset()
        seed = [attempt, face.id, *face.box]
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
        if landmarks is not None and not _mesh_agrees(landmarks, face):
            landmarks = None
        if landmarks is None:
            # No mesh, no synthetic face: a similarity-pasted face on a false detection (a hand,
            # a pattern) would look absurd, and the face is covered by blur either way.
            raise NoSyntheticFace("the face mesh found no face here; the face was blurred")
        target = _blend_shape(
            identity.mesh, landmarks[:NUM_MESH_POINTS, :2].astype(np.float64), SHAPE_KEEP
        )
        depth = landmarks[:NUM_MESH_POINTS, 2]
        outline = target[list(FACE_OVAL)]
        x0, y0, x1, y1 = _grow(outline, 0.15, 3, height, width)
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
        warped = _match_colour(warped, destination, core if cv2.countNonZero(core) > 16 else mask)
        blended = _poisson(warped, destination, mask)
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
        to_donors = [
            float(np.dot(replaced, vectors[donor.id]))
            for donor in identity.choice.donors
            if donor.id in vectors
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


class VideoAnonymizer:
    """Per-frame anonymizer for `ml.video.transform_video`: faces kept on frame 0 stay kept.

    Faces are followed with `ml.tracking.FaceTracker`; a track the detector lost coasts for a few
    frames and is still covered. Every face that is not a kept track, new faces included, is
    replaced in every frame. A synthetic face keeps its donors for the whole track.
    """

    def __init__(
        self,
        anonymizer: Anonymizer,
        keep_ids: Sequence[int],
        mode: str,
        fallback: str | None = None,
        tracker: Any | None = None,
    ) -> None:
        """`keep_ids` are ids of `anonymizer.detect(first frame)`."""
        from ml.tracking import FaceTracker

        if mode not in MODES:
            raise AnonymizeError("unknown_mode", f"mode must be one of {', '.join(MODES)}")
        self.anonymizer = anonymizer
        self.keep_ids = {int(i) for i in keep_ids}
        self.mode = mode
        self.fallback = fallback
        self.tracker = tracker or FaceTracker()
        self.kept_tracks: set[int] | None = None
        self.stats = {"frames": 0, "replaced": 0, "coasted": 0, "fallbacks": 0}
        self._last: dict[int, FaceBox] = {}
        self._identities: dict[int, SyntheticIdentity | None] = {}

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Anonymize one RGB frame."""
        frame = as_rgb(frame)
        faces = self.anonymizer.detect(frame)
        tracks = self.tracker.update([face.box for face in faces])
        if self.kept_tracks is None:
            known = {face.id for face in faces}
            unknown = sorted(self.keep_ids - known)
            if unknown:
                raise AnonymizeError(
                    "unknown_face",
                    f"no face with id {', '.join(map(str, unknown))} in the first frame",
                )
            self.kept_tracks = {
                track.id
                for track in tracks
                if track.index is not None and faces[track.index].id in self.keep_ids
            }
        image = frame.copy()
        for track in tracks:
            face = self._face_of(track, faces)
            self._last[track.id] = face
            if track.id in self.kept_tracks:
                continue
            self.stats["replaced"] += 1
            self.stats["coasted"] += int(not track.detected)
            self._replace(image, frame, track.id, face)
        live = {track.id for track in tracks}
        for gone in set(self._last) - live:
            self._last.pop(gone, None)
        self.stats["frames"] += 1
        return image

    def _face_of(self, track: Any, faces: Sequence[FaceBox]) -> FaceBox:
        """The detected face of a track, or its last face moved onto the coasting box."""
        if track.index is not None:
            face = faces[track.index]
            return FaceBox(track.id, face.box, face.score, face.landmarks, face.source)
        last = self._last.get(track.id)
        x, y, w, h = track.box
        if last is None:
            centre = np.array([x + w / 2, y + h / 2])
            landmarks = centre + np.array(
                [(-0.2, -0.1), (0.2, -0.1), (0, 0.05), (-0.15, 0.25), (0.15, 0.25)]
            ) * (w, h)
        else:
            lx, ly, lw, lh = last.box
            scale = np.array([w / max(lw, 1), h / max(lh, 1)])
            landmarks = (last.landmarks - (lx, ly)) * scale + (x, y)
        return FaceBox(track.id, track.box, 0.0, landmarks, "tracker")

    def _replace(self, image: np.ndarray, frame: np.ndarray, track_id: int, face: FaceBox):
        anonymizer = self.anonymizer
        if self.mode != "synthetic":
            anonymizer.cover(image, face, self.mode)
            return
        if track_id not in self._identities:
            try:
                self._identities[track_id] = self._first_identity(image, frame, face)
            except NoSyntheticFace:
                # No mesh on this frame (a turned head, a false detection): blurred now, and
                # the donors are chosen on a later frame that has one.
                self.stats["fallbacks"] += 1
                anonymizer.cover(image, face, "blur")
                return
            if self._identities[track_id] is not None:
                return  # rendered (and checked) on this frame already
        identity = self._identities[track_id]
        if identity is None:
            self.stats["fallbacks"] += 1
            anonymizer.cover(image, face, self.fallback or "blur")
            return
        try:
            anonymizer.render(image, frame, face, identity)
        except NoSyntheticFace:
            self.stats["fallbacks"] += 1
            anonymizer.cover(image, face, "blur")

    def _first_identity(
        self, image: np.ndarray, frame: np.ndarray, face: FaceBox
    ) -> SyntheticIdentity | None:
        """Choose a new track's donors, render them and check identity as photos do; or None.

        Raises NoSyntheticFace when this frame has no face mesh for the face.
        """
        anonymizer = self.anonymizer
        estimate = anonymizer.estimate(frame, [face])[0]
        embedding = anonymizer._embed_faces(frame, [face])[0]
        for attempt in range(IDENTITY_RETRIES + 1):
            try:
                identity = anonymizer.plan_identity(face, estimate, embedding, attempt)
            except FaceBankError as exc:
                if self.fallback is None:
                    raise AnonymizeError(exc.code, exc.message) from exc
                return None
            anonymizer.render(image, frame, face, identity)
            if embedding is None:
                return identity
            replaced = anonymizer._embed_faces(image, [face])[0]
            if anonymizer._identity_check(replaced, embedding, identity)["passed"]:
                return identity
        return None  # no donor set passed: this track is blurred


# -- helpers -----------------------------------------------------------------------------------


def _union(record: dict[str, Any], region: Sequence[int]) -> list[int]:
    """The record's changed region grown to include `region` (x0, y0, x1, y1)."""
    if "region" not in record:
        return [int(v) for v in region]
    old = record["region"]
    return [min(old[0], region[0]), min(old[1], region[1]),
            max(old[2], region[2]), max(old[3], region[3])]  # fmt: skip


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile offsets covering [0, length) with the last tile flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _best_match(box: Sequence[float], others: Sequence[Sequence[float]]) -> int | None:
    """The box in `others` that is the same face: IoU >= 0.3 or each centre inside the other."""
    best, best_iou = None, 0.0
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    for number, other in enumerate(others):
        overlap = iou(box, other)
        other_centre = (other[0] + other[2] / 2, other[1] + other[3] / 2)
        same = overlap >= 0.3 or (inside(centre, other) and inside(other_centre, box))
        if same and overlap >= best_iou:
            best, best_iou = number, overlap
    return best


def _int_box(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x2 = min(width, math.ceil(box[0] + box[2]))
    y2 = min(height, math.ceil(box[1] + box[3]))
    return x1, y1, max(1, x2 - x1), max(1, y2 - y1)


def _five_from_mediapipe(keys: np.ndarray) -> np.ndarray:
    """MediaPipe's eyes, nose tip and mouth centre -> MTCNN's five points (corners estimated)."""
    eyes = keys[:2][np.argsort(keys[:2, 0])]  # image-left eye first
    across = eyes[1] - eyes[0]
    mouth = keys[3]
    return np.array([eyes[0], eyes[1], keys[2], mouth - 0.45 * across, mouth + 0.45 * across])


def _mesh_agrees(landmarks: np.ndarray, face: FaceBox) -> bool:
    """Whether the mesh's eyes are within a third of the eye distance of the detector's."""
    mine = five_points(landmarks)
    eye_distance = max(float(np.hypot(*(face.landmarks[1] - face.landmarks[0]))), 1.0)
    return float(np.hypot(*(mine[:2] - face.landmarks[:2]).T).max()) <= eye_distance / 3


def _blend_shape(mean: np.ndarray, bystander: np.ndarray, keep: float) -> np.ndarray:
    """The bystander's face outline with the donors' inner proportions, posed like the bystander.

    An affine fit of the donors' mean mesh onto the bystander carries pose (position, size, roll,
    the foreshortening of a turned head); only `keep` of the bystander's own inner geometry
    (eye spacing, nose and mouth shape: identity cues) is kept. The outline stays the
    bystander's, fading into the fit over ~15% of the face, so the new face fits the head.
    """
    design = np.hstack([mean, np.ones((len(mean), 1))])
    affine, *_ = np.linalg.lstsq(design, bystander, rcond=None)
    fitted = design @ affine
    ring = mean[list(FACE_OVAL)]
    distance = np.sqrt(((mean[:, None, :] - ring[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    width = float(np.ptp(mean[:, 0])) or 1.0
    weight = keep + (1.0 - keep) * np.exp(-((distance / (0.15 * width)) ** 2))
    return fitted + weight[:, None] * (bystander - fitted)


def _grow(points: np.ndarray, fraction: float, pixels: int, height: int, width: int):
    """The points' bounding box grown by `fraction` of its size plus `pixels`, clipped."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * fraction + pixels
    x0, y0 = (int(max(0, math.floor(v))) for v in low - pad)
    x1 = int(min(width, math.ceil(high[0] + pad[0])))
    y1 = int(min(height, math.ceil(high[1] + pad[1])))
    return x0, y0, x1, y1


def _match_colour(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Move `source`'s skin colour inside `mask` to `target`'s (LAB, trimmed statistics).

    Statistics come from the pixels between the 20th and 80th lightness percentile (skin; not
    teeth, eyes, brows or stray hair), and the spread moves by at most 25%: a bystander's open
    smile must not make the new face's skin paler and its features darker.
    """
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    moved = colour.transfer(src, dst, mask, (0.8, 1.25), colour.skin_stats)
    return cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _poisson(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.seamlessClone of source into target over mask, both the same size and aligned."""
    pad = 4
    src = cv2.copyMakeBorder(source, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    dst = cv2.copyMakeBorder(target, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    inner = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ys, xs = np.nonzero(inner)
    # seamlessClone puts the mask's bounding box at centre - (len // 2), len = max - min.
    centre = (
        int(xs.min() + (xs.max() - xs.min()) // 2),
        int(ys.min() + (ys.max() - ys.min()) // 2),
    )
    out = cv2.seamlessClone(src, dst, inner, centre, cv2.NORMAL_CLONE)
    return out[pad:-pad, pad:-pad]


def _ellipse(box: Sequence[int], height: int, width: int):
    """The cover ellipse of a face box: (x0, y0, x1, y1) and its uint8 mask in that region."""
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    ax, ay = w / 2.0 * (1 + ELLIPSE_MARGIN), h / 2.0 * (1 + ELLIPSE_MARGIN)
    x0, y0 = max(0, math.floor(cx - ax)), max(0, math.floor(cy - ay))
    x1, y1 = min(width, math.ceil(cx + ax)), min(height, math.ceil(cy + ay))
    mask = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    cv2.ellipse(
        mask,
        (round((cx - x0) * 4), round((cy - y0) * 4)),
        (round(ax * 4), round(ay * 4)),
        0,
        0,
        360,
        255,
        -1,
        lineType=cv2.LINE_8,
        shift=2,
    )
    return (x0, y0, x1, y1), mask


def _blur(image: np.ndarray, box: Sequence[int]) -> tuple[int, int, int, int]:
    """Strong Gaussian blur over the face's ellipse, feathered inwards; in place."""
    height, width = image.shape[:2]
    (x0, y0, x1, y1), mask = _ellipse(box, height, width)
    if mask.size == 0:
        return (x0, y0, x0, y0)
    sigma = max(2.0, BLUR_SIGMA * max(box[2], box[3]))
    reach = math.ceil(3 * sigma)
    bx0, by0 = max(0, x0 - reach), max(0, y0 - reach)
    bx1, by1 = min(width, x1 + reach), min(height, y1 + reach)
    context = image[by0:by1, bx0:bx1]
    # A large sigma is blurred at a smaller scale (same result, a fraction of the time).
    shrink = max(1.0, sigma / 4.0)
    small = cv2.resize(
        context,
        (max(1, round(context.shape[1] / shrink)), max(1, round(context.shape[0] / shrink))),
        interpolation=cv2.INTER_AREA,
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / shrink)
    blurred = cv2.resize(
        small, (context.shape[1], context.shape[0]), interpolation=cv2.INTER_LINEAR
    )
    blurred = blurred[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0].astype(np.float32)
    feather = max(2.0, 0.08 * min(box[2], box[3]))
    alpha = np.clip(cv2.distanceTransform(mask, cv2.DIST_L2, 3) / feather, 0, 1)[..., None]
    region = image[y0:y1, x0:x1]
    mixed = alpha * blurred + (1 - alpha) * region.astype(np.float32)
    region[...] = np.round(mixed).astype(np.uint8)
    return (x0, y0, x1, y1)


def _pixelate(image: np.ndarray, box: Sequence[int]) -> tuple[int, int, int, int]:
    """Blocks of 1/6 of the face size over the face's ellipse; in place."""
    height, width = image.shape[:2]
    (x0, y0, x1, y1), mask = _ellipse(box, height, width)
    if mask.size == 0:
        return (x0, y0, x0, y0)
    block = max(3, math.ceil(max(box[2], box[3]) / PIXELATE_BLOCKS))
    region = image[y0:y1, x0:x1]
    rows, cols = region.shape[:2]
    small = cv2.resize(
        region,
        (max(1, math.ceil(cols / block)), max(1, math.ceil(rows / block))),
        interpolation=cv2.INTER_AREA,
    )
    big = cv2.resize(
        small, (small.shape[1] * block, small.shape[0] * block), interpolation=cv2.INTER_NEAREST
    )[:rows, :cols]
    inside = mask > 0
    region[inside] = big[inside]
    return (x0, y0, x1, y1)
