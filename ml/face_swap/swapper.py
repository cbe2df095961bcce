"""FaceSwapper (photos) and VideoSwapper (tracked, smoothed faces across frames)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.detection import DetectedFace, FaceDetector
from ml.errors import FaceError, NoFaceError
from ml.face_mesh import (
    NUM_MESH_POINTS,
    FaceMesher,
    delaunay_triangles,
    face_size,
    five_points,
)
from ml.face_swap.classical import (
    SourceFace,
    SwapState,
    change_region,
    classical_swap,
    fill_outside_face,
    forehead_hair,
    remove_irises,
)
from ml.face_swap.onnx_model import OnnxSwapModel
from ml.face_swap.segmentation import GENERAL, LANDSCAPE, HandFinder, PersonSegmenter
from ml.images import as_rgb
from ml.tracking import FaceTracker, OneEuroFilter

CLASSICAL_NAME = "classical-mesh-swap"

_SOURCE_MAX_FACE = 400  # px: a larger source face is shrunk before use (no visible loss)
EYE_MODES = ("iris", "target", "source")  # what of the eyes is kept from the target
SHAPE_TRANSFER = 1.0  # how far the face shape, outline included, moves to the source's (0-1)


class UnknownFaceError(FaceError):
    """A requested face id is not among the faces found in the target."""

    code = "unknown_face"
    default_message = "A chosen face id is not one of the faces found in the image."


@dataclass(frozen=True)
class SwapResult:
    """The swapped image, the ids (indexes into `faces`) that were swapped, and every face."""

    image: np.ndarray
    swapped_ids: list[int]
    faces: list[DetectedFace]


class FaceSwapper:
    """Swaps a source face onto target faces; create once per process and reuse."""

    def __init__(
        self,
        detector: FaceDetector,
        mesher: FaceMesher,
        model: OnnxSwapModel | None = None,
        blend_margin: float = 0.06,
        shape_transfer: float = SHAPE_TRANSFER,
        eyes: str = "iris",
        segment: bool = True,
        hands: bool = True,
    ) -> None:
        """`blend_margin`: blended edge, in face sizes; `shape_transfer`: 0 (target's) to 1;
        `segment`: cut the mask to the person (selfie segmentation); `hands`: leave hands in
        front of a face in photos (MediaPipe Hands; videos skip it, see VideoSwapper)."""
        if not 0.0 < blend_margin < 0.25:
            raise ValueError("blend_margin must be in (0, 0.25)")
        if not 0.0 <= shape_transfer <= 1.0:
            raise ValueError("shape_transfer must be in [0, 1]")
        if eyes not in EYE_MODES:
            raise ValueError(f"eyes must be one of {EYE_MODES}")
        self.shape_transfer = float(shape_transfer)
        self.eyes = eyes
        self.detector = detector
        self.mesher = mesher
        self.model = model
        self.blend_margin = float(blend_margin)
        self.segmenter = PersonSegmenter(GENERAL) if segment else None
        self.hand_finder = HandFinder() if hands else None

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, detector: FaceDetector | None = None
    ) -> FaceSwapper:
        """Classical swapper, or the ONNX model in `model_dir` when an operator put one there."""
        model = OnnxSwapModel.from_model_dir(model_dir)
        if detector is None:
            detector = FaceDetector.for_photos()
            detector.warmup()
        return cls(detector, FaceMesher(), model)

    @property
    def engine(self) -> str:
        """'onnx' when an operator's swap model is used, else 'classical'."""
        return "onnx" if self.model is not None else "classical"

    @property
    def version(self) -> str:
        """What produced the result: the ONNX files' digests, or the classical pipeline's parts."""
        if self.model is not None:
            return self.model.version
        return f"{CLASSICAL_NAME}+{self.mesher.version}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """The faces of an image, largest first (their positions are the face ids)."""
        return self.detector.detect(as_rgb(rgb))

    def prepare_source(self, source_rgb: np.ndarray) -> SourceFace:
        """Find the source photo's largest face and prepare it; NoFaceError when there is none."""
        source_rgb = as_rgb(source_rgb)
        faces = self.detect(source_rgb)
        for face in faces:  # largest first; a face the mesh cannot read is skipped
            landmarks = self.mesher.landmarks(source_rgb, face.box)
            if landmarks is not None:
                break
        else:
            raise NoFaceError("No usable face was found in the source photo.")
        return self.source_from(source_rgb, landmarks, face)

    def source_from(
        self, source_rgb: np.ndarray, landmarks: np.ndarray, face: DetectedFace
    ) -> SourceFace:
        """Prepare a source whose face (478, 3 landmarks) is already found, e.g. a bank donor."""
        size = face_size(landmarks)
        scale = min(1.0, _SOURCE_MAX_FACE / size)
        margin = 0.15 * size
        x1, y1 = np.floor(landmarks[:, :2].min(axis=0) - margin).astype(int)
        x2, y2 = np.ceil(landmarks[:, :2].max(axis=0) + margin).astype(int)
        height, width = source_rgb.shape[:2]
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        crop = source_rgb[y1:y2, x1:x2]
        local = landmarks.copy()
        local[:, 0] -= x1
        local[:, 1] -= y1
        if scale < 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            local *= scale
        crop = np.ascontiguousarray(crop)
        hair = forehead_hair(crop, local)
        crop = fill_outside_face(crop, local)
        if self.eyes == "iris":
            crop = remove_irises(crop, local)
        triangles = delaunay_triangles(local[:NUM_MESH_POINTS, :2])
        latent = self.model.identity(source_rgb, five_points(landmarks)) if self.model else None
        return SourceFace(crop, local, triangles, face, latent, hair if hair.any() else None)

    def swap_image(
        self,
        source_rgb: np.ndarray,
        target_rgb: np.ndarray,
        target_ids: list[int] | None = None,
    ) -> SwapResult:
        """Swap the source face onto the target faces `target_ids` (None: every face)."""
        target_rgb = as_rgb(target_rgb)
        source = self.prepare_source(source_rgb)
        faces = self.detect(target_rgb)
        if not faces:
            raise NoFaceError("No face was found in the target image.")
        ids = _chosen_ids(target_ids, len(faces))
        image = target_rgb.copy()
        swapped: list[int] = []
        for face_id in ids:
            landmarks = self.mesher.landmarks(target_rgb, faces[face_id].box)
            if landmarks is None:
                continue
            image = self.swap_face(image, source, landmarks)
            swapped.append(face_id)
        return SwapResult(image, swapped, faces)

    def swap_face(
        self,
        image: np.ndarray,
        source: SourceFace,
        landmarks: np.ndarray,
        person: np.ndarray | None = None,
        state: SwapState | None = None,
        find_hands: bool = True,
    ) -> np.ndarray:
        """Swap the source onto the one face whose (478, 3) landmarks are given; a new image.

        `person`: the image's person probability map (else segmented here when `segment`);
        `state`: a video track's smoothed colour statistics; `find_hands`: look for hands in
        front of the face (when the swapper has `hands`).
        """
        if self.model is not None:
            if source.latent is None:
                raise ValueError("the source was prepared without the swap model")
            return self.model.swap(image, five_points(landmarks), source.latent)
        return classical_swap(
            image,
            source,
            landmarks,
            self.blend_margin,
            self.shape_transfer,
            self.eyes,
            segment=self.segmenter,
            person=person,
            state=state,
            hands=self.hand_finder if find_hands else None,
        )

    def face_mask(self, shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
        """The region swap_face may change for these landmarks (uint8, 255 inside)."""
        height, width = shape
        if self.model is not None:
            return self.model.paste_mask((height, width), five_points(landmarks))
        return change_region(landmarks, (height, width))


class VideoSwapper:
    """Per-frame face swap for `ml.video.transform_video`: `fn(frame, index) -> frame`.

    The faces chosen by `target_ids` (ids of the first frame's faces, largest first; None: every
    face in every frame) are followed by tracker id. Landmarks (One-Euro) and colour statistics
    (running average) are smoothed per track; the person segmentation of the whole frame is a
    running average too, so the mask's edge does not shimmer. Hands in front of a face are not
    looked for (MediaPipe Hands costs ~50 ms a frame here, which the frame rate cannot afford).
    """

    def __init__(
        self,
        swapper: FaceSwapper,
        source_rgb: np.ndarray,
        target_ids: list[int] | None = None,
        fps: float = 25.0,
        max_coast: int = 5,
    ) -> None:
        """Prepare the source once; `fps` scales the smoothing, `max_coast` the tracking."""
        self.swapper = swapper
        self.source = swapper.prepare_source(source_rgb)
        self.target_ids = None if target_ids is None else list(target_ids)
        self.fps = float(fps) if fps > 0 else 25.0
        self.max_coast = int(max_coast)
        self.tracker = FaceTracker(max_coast=max_coast)
        self.chosen_tracks: set[int] | None = None  # track ids; None until the first frame
        self.swapped_per_frame: list[list[int]] = []  # track ids swapped, per frame
        self._filters: dict[int, OneEuroFilter] = {}
        self._last: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}
        self._states: dict[int, SwapState] = {}
        self._person: np.ndarray | None = None  # the running average of the person map
        self._segmenter = (
            PersonSegmenter(LANDSCAPE)
            if swapper.segmenter is not None and swapper.model is None
            else None
        )
        self._lock = threading.Lock()

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Swap the chosen faces in one frame."""
        with self._lock:
            return self._frame(as_rgb(frame), index)

    def _frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        faces = self.swapper.detect(frame)
        tracks = self.tracker.update([face.box for face in faces])
        if self.chosen_tracks is None and self.target_ids is not None:
            ids = _chosen_ids(self.target_ids, len(faces))
            self.chosen_tracks = {t.id for t in tracks if t.index is not None and t.index in ids}
        live = {t.id for t in tracks}
        for gone in set(self._filters) - live:
            self._filters.pop(gone, None)
            self._last.pop(gone, None)
            self._states.pop(gone, None)
        out = frame
        swapped: list[int] = []
        person: np.ndarray | None = None
        for track in tracks:
            if self.chosen_tracks is not None and track.id not in self.chosen_tracks:
                continue
            if person is None and self._segmenter is not None:
                person = self._person_map(frame)
            landmarks = self.swapper.mesher.landmarks(frame, track.box)
            if landmarks is None:
                landmarks = self._coasted(track.id, track.box)
                if landmarks is None:
                    continue
            else:
                landmarks = self._smoothed(track.id, landmarks, index)
            self._last[track.id] = (landmarks, track.box)
            state = self._states.setdefault(track.id, SwapState())
            out = self.swapper.swap_face(
                out, self.source, landmarks, person=person, state=state, find_hands=False
            )
            swapped.append(track.id)
        self.swapped_per_frame.append(swapped)
        return out

    def _person_map(self, frame: np.ndarray) -> np.ndarray:
        """This frame's person probability, averaged with the previous frames'."""
        current = self._segmenter(frame)
        if self._person is None or self._person.shape != current.shape:
            self._person = current
        else:
            self._person = 0.5 * self._person + 0.5 * current
        return self._person

    def _smoothed(self, track_id: int, landmarks: np.ndarray, index: int) -> np.ndarray:
        """Landmarks through this track's One-Euro filter (in face-size units)."""
        smoother = self._filters.get(track_id)
        if smoother is None:
            smoother = self._filters[track_id] = OneEuroFilter(scale=face_size(landmarks))
        return smoother(landmarks, index / self.fps)

    def _coasted(self, track_id: int, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """The track's last landmarks moved with its box, when the mesh misses a frame."""
        last = self._last.get(track_id)
        if last is None:
            return None
        landmarks, old_box = last
        shift = np.array(
            [box[0] + box[2] / 2 - old_box[0] - old_box[2] / 2,
             box[1] + box[3] / 2 - old_box[1] - old_box[3] / 2, 0.0],
            dtype=np.float32,
        )  # fmt: skip
        return landmarks + shift


def _chosen_ids(target_ids: list[int] | None, count: int) -> list[int]:
    """Validate the chosen face ids against the number of faces found."""
    if target_ids is None:
        return list(range(count))
    ids: list[int] = []
    for value in target_ids:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise UnknownFaceError(f"Face ids are whole numbers; got {value!r}.")
        if not 0 <= int(value) < count:
            raise UnknownFaceError(f"There is no face {value}; the image has {count} face(s).")
        if int(value) not in ids:
            ids.append(int(value))
    return ids
