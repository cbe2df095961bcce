"""Face detection with MTCNN (mtcnn 1.0.0) for enrollment photos and kiosk camera frames."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ml.errors import MultipleFacesError, NoFaceError
from ml.images import as_rgb

KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Why min_face_size > 20 makes mtcnn 1.0.0 find nothing (mtcnn/utils/images.py,
# build_scale_pyramid, called by mtcnn/stages/stage_pnet.py, StagePNet.__call__):
# the number of pyramid levels is computed from min(h, w) / 12 alone, as if the pyramid started
# at scale 1.0, but the levels then start at m = 12 / min_face_size. So the larger
# min_face_size, the smaller the last levels: 12.1-17 px for 20, 10-14 px for 24, 6-8.5 px for 40,
# whatever the image size. On a level of 10 px or less, PNet's convolutions get an empty or
# negative-size input and TensorFlow raises InvalidArgumentError, which MTCNN.detect_faces
# (mtcnn/mtcnn.py) catches as "No faces found": it returns [] for the whole image (for a batch:
# for every image in it). Measured: 31/31 photos and frames found at 20, 18 at 25, 1 at 30, 0 from
# 33 up. (Also, StagePNet.__call__ takes `min_size` but never passes it to build_scale_pyramid.)
# So mtcnn always gets min_face_size <= 20 here, and a larger minimum face is obtained by
# downscaling the image first so that such a face becomes 20 px: the same pyramid as classic
# MTCNN (first level 12 / min_face_size of the original), with far fewer pixels to scan.
_MTCNN_SAFE_MIN_FACE = 20.0
_PNET_WINDOW = 12.0
# mtcnn builds no pyramid level at all when the smaller side is under ~21 px.
_MIN_DETECT_SIDE = 24


@dataclass(frozen=True)
class DetectedFace:
    """One detected face in original image coordinates; box is (x, y, w, h) clipped to the image."""

    box: tuple[int, int, int, int]
    confidence: float
    keypoints: dict[str, tuple[float, float]]

    @property
    def area(self) -> int:
        """Box area in pixels."""
        return self.box[2] * self.box[3]

    @property
    def eye_angle(self) -> float:
        """Angle in degrees of the line from the image-left eye to the image-right eye."""
        (lx, ly), (rx, ry) = self.keypoints["left_eye"], self.keypoints["right_eye"]
        return math.degrees(math.atan2(ry - ly, rx - lx))

    def keypoints_inside(self, slack: float = 0.0) -> bool:
        """Whether all keypoints lie inside the box, enlarged by `slack` times its size."""
        x, y, w, h = self.box
        dx, dy = slack * w, slack * h
        return all(
            x - dx <= px <= x + w + dx and y - dy <= py <= y + h + dy
            for px, py in self.keypoints.values()
        )


@dataclass(frozen=True)
class _Prepared:
    """One image resized for the cascade: proposals on `proposal`, refinement on `refine`."""

    original_shape: tuple[int, int]
    refine: np.ndarray
    proposal: np.ndarray
    mtcnn_min_face: float


class FaceDetector:
    """MTCNN face detector: create once and reuse; calls are serialized by a lock.

    PNet and RNet run on the image downscaled for the minimum face size; ONet (final box and
    keypoints) runs on the image downscaled only to `max_side`, so keypoints keep full precision.
    """

    def __init__(
        self,
        min_face_size: float = 20.0,
        max_side: int = 1024,
        min_confidence: float = 0.8,
        stage_thresholds: tuple[float, float] = (0.6, 0.7),
        scale_factor: float = 0.709,
        device: str = "CPU:0",
        runtime: str = "tensorflow",
        close_retry: bool = False,
    ) -> None:
        """Set the tuning knobs (sizes in original-image pixels) and load the three networks."""
        if min_face_size <= 0 or max_side < _MIN_DETECT_SIDE:
            raise ValueError(f"need min_face_size > 0 and max_side >= {_MIN_DETECT_SIDE}")
        if not 0.0 < scale_factor < 1.0:
            raise ValueError("scale_factor must be in (0, 1)")
        self.min_face_size = float(min_face_size)
        self.max_side = int(max_side)
        self.min_confidence = float(min_confidence)
        self.stage_thresholds = (float(stage_thresholds[0]), float(stage_thresholds[1]))
        self.scale_factor = float(scale_factor)
        self.device = device
        self.runtime = runtime
        # When a frame shows no face: look again for one too close to the camera (see detect).
        self._close = (
            FaceDetector(
                min_face_size=CLOSE_RETRY_MIN_FACE, max_side=CLOSE_RETRY_SIDE, runtime=runtime
            )
            if close_retry
            else None
        )
        (self._pnet, self._rnet, self._onet), self._graphs = _load_stages(runtime)
        self._lock = threading.Lock()

    @classmethod
    def for_photos(cls, **overrides: Any) -> FaceDetector:
        """Preset for enrollment and general photos: faces from 20 px, photos cut to 1024 px."""
        # RNet at 0.6 instead of 0.7: a face behind sunglasses and a microphone got 0.68 from RNet
        # but 0.9996 from ONet; ONet (min_confidence) still makes the final call.
        params: dict[str, Any] = {
            "min_face_size": 20.0,
            "max_side": 1024,
            "min_confidence": 0.8,
            "stage_thresholds": (0.6, 0.6),
        }
        return cls(**{**params, **overrides})

    @classmethod
    def for_kiosk(cls, **overrides: Any) -> FaceDetector:
        """Preset for kiosk frames (640x480): faces of 40 px and more, ~1.5x faster than photos.

        A frame without a face is looked at again for a face too close to the camera (filling
        the frame, cut by its edges, tilted): see `detect`.
        """
        params: dict[str, Any] = {
            "min_face_size": 40.0,
            "max_side": 640,
            "min_confidence": 0.8,
            "close_retry": True,
        }
        return cls(**{**params, **overrides})

    def detection_scales(self, height: int, width: int) -> tuple[float, float, float]:
        """Return (refine scale, proposal scale, mtcnn min_face_size) for an image of this size."""
        refine = min(1.0, self.max_side / max(height, width))
        proposal = min(refine, _MTCNN_SAFE_MIN_FACE / self.min_face_size)
        mtcnn_min = min(max(self.min_face_size * proposal, _PNET_WINDOW), _MTCNN_SAFE_MIN_FACE)
        return refine, proposal, mtcnn_min

    def warmup(self, height: int = 480, width: int = 640) -> None:
        """Run a detection on a blank frame of the expected size, so the first real call is fast."""
        # The first call traces the graphs, and oneDNN builds its kernels per input shape. A blank
        # frame stops after PNet, so RNet and ONet are run once on empty patches of their size.
        self.detect(np.zeros((height, width, 3), dtype=np.uint8))
        for graph, side in zip(self._graphs, (24, 48), strict=True):
            graph(np.zeros((1, side, side, 3), dtype=np.float32))
        if self._close is not None:  # the close-face retry's padded frame size too
            pad = int(CLOSE_RETRY_PAD * width)
            self._close.detect_batch([np.zeros((height + 2 * pad, width + 2 * pad, 3), np.uint8)])

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Detect faces in an RGB uint8 image; largest first, in original coordinates.

        With `close_retry` (kiosk preset), nothing found but PNet candidates in the frame
        (CLOSE_RETRY_EVIDENCE; an empty frame has almost none), the frame is looked at again padded
        by a quarter of its width on every side (a face cut by the frame's edges becomes whole
        enough, and a face filling the frame fits the pyramid), then padded and turned by
        +-CLOSE_RETRY_ANGLE degrees (a tilted head), each at CLOSE_RETRY_SIDE px: only large
        faces are looked for.
        """
        evidence: list[int] = []
        faces = self.detect_batch([rgb], evidence)
        faces = faces[0]
        if faces or self._close is None or not evidence or evidence[0] < CLOSE_RETRY_EVIDENCE:
            return faces
        return self._close.detect_close(as_rgb(rgb))

    def detect_close(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Find a face too close to the camera: padded, then padded and turned both ways."""
        height, width = rgb.shape[:2]
        pad = int(CLOSE_RETRY_PAD * width)
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=_GREY)
        centre = (padded.shape[1] / 2, padded.shape[0] / 2)
        for angle in (0.0, CLOSE_RETRY_ANGLE, -CLOSE_RETRY_ANGLE):
            matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
            view = padded
            if angle:
                size = (padded.shape[1], padded.shape[0])
                view = cv2.warpAffine(padded, matrix, size, borderValue=_GREY)
            found = self.detect_batch([view])[0]
            if found:
                inverse = cv2.invertAffineTransform(matrix)
                inverse[:, 2] -= pad  # padded -> original coordinates
                faces = [_map_face(face, inverse, width, height) for face in found]
                faces = [face for face in faces if face is not None]
                faces.sort(key=lambda face: (face.area, face.confidence), reverse=True)
                if faces:
                    return faces
        return []

    def detect_batch(
        self, images: Sequence[np.ndarray], evidence: list[int] | None = None
    ) -> list[list[DetectedFace]]:
        """Detect faces in several RGB images with one network call per stage and scale.

        `evidence`, when given, receives the number of PNet candidates, then RNet's (if any).
        """
        results: list[list[DetectedFace]] = [[] for _ in images]
        prepared = [self._prepare(as_rgb(image)) for image in images]
        usable = [
            i for i, p in enumerate(prepared) if min(p.proposal.shape[:2]) >= _MIN_DETECT_SIDE
        ]
        if not usable:
            return results
        batch = [prepared[i] for i in usable]
        with self._lock:
            rows = self._run_cascade(batch, evidence)
        for batch_index, image_index in enumerate(usable):
            item = batch[batch_index]
            mine = rows[rows[:, 0] == batch_index]
            results[image_index] = _to_faces(mine, item.refine.shape[:2], item.original_shape)
        return results

    def _prepare(self, rgb: np.ndarray) -> _Prepared:
        """Resize one image for the cascade."""
        height, width = rgb.shape[:2]
        refine_scale, proposal_scale, mtcnn_min = self.detection_scales(height, width)
        refine = _resize(rgb, refine_scale)
        proposal = refine if proposal_scale == refine_scale else _resize(rgb, proposal_scale)
        return _Prepared((height, width), refine, proposal, mtcnn_min)

    def _run_cascade(
        self, batch: Sequence[_Prepared], evidence: list[int] | None = None
    ) -> np.ndarray:
        """Run PNet/RNet on the proposal images and ONet on the refine images; ONet rows."""
        import tensorflow as tf

        with tf.device(self.device):
            proposals, shapes = _normalized_stack([item.proposal for item in batch])
            # One min_face_size for the batch: the smallest is safe (<= 20) for every image.
            rows = self._pnet(
                images_normalized=proposals,
                images_oshapes=shapes,
                min_face_size=min(item.mtcnn_min_face for item in batch),
                scale_factor=self.scale_factor,
                threshold_pnet=self.stage_thresholds[0],
            )
            if evidence is not None:
                evidence.append(len(rows))
            if len(rows) == 0:
                return np.empty((0, 16))
            rows = self._rnet(
                images_normalized=proposals,
                bboxes_batch=rows,
                threshold_rnet=self.stage_thresholds[1],
            )
            if evidence is not None:
                evidence.append(len(rows))
            if len(rows) == 0:
                return np.empty((0, 16))
            if all(item.refine is item.proposal for item in batch):
                refines = proposals
            else:
                refines, _ = _normalized_stack([item.refine for item in batch])
                # Images are stacked top-left aligned, so only a per-image scale maps the boxes.
                ratios = np.array(
                    [
                        (
                            item.refine.shape[1] / item.proposal.shape[1],
                            item.refine.shape[0] / item.proposal.shape[0],
                        )
                        for item in batch
                    ]
                )[np.asarray(rows[:, 0], dtype=int)]
                rows = np.array(rows, dtype=np.float64)
                rows[:, [1, 3]] *= ratios[:, [0]]
                rows[:, [2, 4]] *= ratios[:, [1]]
            rows = self._onet(
                images_normalized=refines, bboxes_batch=rows, threshold_onet=self.min_confidence
            )
        return np.asarray(rows, dtype=np.float64).reshape(-1, 16)


RUNTIMES = ("tensorflow", "openvino")
CLOSE_RETRY_PAD = 0.25  # of the frame's width, on every side
CLOSE_RETRY_ANGLE = 25.0  # degrees
CLOSE_RETRY_SIDE = 360  # px: the padded 640x480 frame is looked at as 360x270
# PNet candidates a frame without a found face must have to be looked at again: a face too close
# left 10-74 (5-celebrity val photos scaled to 400-480 px and turned), empty frames 0-2.
CLOSE_RETRY_EVIDENCE = 6
CLOSE_RETRY_MIN_FACE = 80.0  # px at that size, ~210 px in the frame: only close faces
_GREY = (127, 127, 127)


def _map_face(
    face: DetectedFace, affine: np.ndarray, width: int, height: int
) -> DetectedFace | None:
    """Map a face found on a padded/turned view back through `affine` (2x3), clipped.

    The box keeps its size around the mapped centre (a turn does not change a face's size);
    alignment levels the eyes from the mapped keypoints.
    """
    x, y, w, h = face.box
    cx, cy = affine[:, :2] @ np.array([x + w / 2, y + h / 2]) + affine[:, 2]
    x1, y1 = max(0, math.floor(cx - w / 2)), max(0, math.floor(cy - h / 2))
    x2, y2 = min(width, math.ceil(cx + w / 2)), min(height, math.ceil(cy + h / 2))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    keypoints = {
        name: tuple(float(v) for v in affine[:, :2] @ np.asarray(point) + affine[:, 2])
        for name, point in face.keypoints.items()
    }
    return DetectedFace((x1, y1, x2 - x1, y2 - y1), face.confidence, keypoints)


@functools.cache
def _load_stages(
    runtime: str = "tensorflow",
) -> tuple[tuple[Any, Any, Any], tuple[Callable[..., Any], ...]]:
    """Build mtcnn's three stages (shared by the detectors of a process); also the RNet/ONet nets.

    "tensorflow" runs the Keras networks as tf.function graphs (the reference); "openvino" runs
    the same graphs converted by OpenVINO (cached, see ml.openvino_runtime), 2-3x faster per stage
    on this CPU with outputs equal to float rounding.
    """
    import tensorflow as tf
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    stages = []
    for stage_class in (StagePNet, StageRNet, StageONet):
        stage = stage_class()
        # mtcnn runs its Keras networks eagerly, one Python call per layer; as graphs the same
        # weights give the same numbers about 3x faster (most of the time was call overhead).
        graph = tf.function(stage.model, input_signature=[spec])
        if runtime == "openvino":
            from ml.openvino_runtime import cache_file, compile_function

            key = f"mtcnn-{_mtcnn_version()}-{stage_class.__name__}"
            network = compile_function(graph.get_concrete_function(), cache_file(key))
            stage._model = _as_tensors(network)
        else:
            stage._model = graph
        stages.append(stage)
    return (stages[0], stages[1], stages[2]), (stages[1]._model, stages[2]._model)


def _as_tensors(network: Callable[[Any], list[np.ndarray]]) -> Callable[[Any], list[Any]]:
    """Wrap a converted network so it returns tf tensors, as mtcnn's stage code expects."""
    import tensorflow as tf

    def call(x: Any) -> list[Any]:
        return [tf.constant(output) for output in network(x)]

    return call


def _mtcnn_version() -> str:
    from importlib.metadata import version

    return version("mtcnn")


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Downscale an image by `scale` with area interpolation (scale 1 returns it unchanged)."""
    if scale >= 1.0:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _normalized_stack(images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack images top-left aligned, padded with black, normalized as mtcnn does ([-1, 1])."""
    shapes = np.array([image.shape for image in images])
    height, width = shapes[:, 0].max(), shapes[:, 1].max()
    stack = np.zeros((len(images), height, width, 3), dtype=np.float32)
    for index, image in enumerate(images):
        stack[index, : image.shape[0], : image.shape[1]] = image
    stack -= 127.5
    stack /= 128.0
    return stack, shapes


def _to_faces(
    rows: np.ndarray, refine_shape: tuple[int, int], original_shape: tuple[int, int]
) -> list[DetectedFace]:
    """Map ONet rows (xyxy in refine-image pixels) to original-image faces, largest first."""
    height, width = original_shape
    sy, sx = height / refine_shape[0], width / refine_shape[1]
    faces = []
    for row in rows:
        x1, y1 = max(0, math.floor(row[1] * sx)), max(0, math.floor(row[2] * sy))
        x2, y2 = min(width, math.ceil(row[3] * sx)), min(height, math.ceil(row[4] * sy))
        if x2 <= x1 or y2 <= y1:
            continue
        keypoints = {
            name: (float(row[6 + i] * sx), float(row[11 + i] * sy))
            for i, name in enumerate(KEYPOINT_NAMES)
        }
        faces.append(DetectedFace((x1, y1, x2 - x1, y2 - y1), float(row[5]), keypoints))
    faces.sort(key=lambda face: (face.area, face.confidence), reverse=True)
    return faces


def five_points(face: DetectedFace) -> np.ndarray:
    """A face's five keypoints as a (5, 2) float array, in KEYPOINT_NAMES order."""
    return np.array([face.keypoints[name] for name in KEYPOINT_NAMES], dtype=np.float64)


def dominant_face(faces: Sequence[DetectedFace], ratio: float = 0.5) -> DetectedFace:
    """Return the largest face; raise if none, or if the runner-up's area is > ratio of it."""
    if not faces:
        raise NoFaceError()
    ordered = sorted(faces, key=lambda face: face.area, reverse=True)
    if len(ordered) > 1 and ordered[1].area > ratio * ordered[0].area:
        similar = sum(1 for face in ordered if face.area > ratio * ordered[0].area)
        raise MultipleFacesError(count=similar)
    return ordered[0]
