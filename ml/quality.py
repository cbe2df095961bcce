"""Is a detected face good enough to name? Size, pose and sharpness, with the reason when not.

A face too small, turned away or blurred gets an answer ("come closer", "face the camera",
"hold still") instead of a guess: such faces give embeddings far from everybody's, and a guess
on them is where strangers slip through and known people are turned away.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.detection import DetectedFace

OK = "ok"
TOO_SMALL = "too_small"
TURNED = "turned"
BLURRED = "blurred"


@dataclass(frozen=True)
class QualityLimits:
    """The limits a face must meet; the defaults were set on the 5-celebrity photos and the
    rendered kiosk frames (bench/RESULTS.md, "Face quality")."""

    min_eye_distance: float = 12.0  # px between the eyes in the original image (~30 px face)
    max_yaw: float = 0.45  # nose offset from the eyes' midpoint / eye distance (0 = frontal)
    min_pitch: float = 0.15  # nose depth between the eyes' and the mouth's lines (0.5 = level)
    max_pitch: float = 0.85
    min_sharpness: float = 6.0  # variance of the Laplacian of the aligned 160 px grey face


@dataclass(frozen=True)
class FaceQuality:
    """Measured quality of one face and the verdict."""

    eye_distance: float
    yaw: float
    pitch: float
    sharpness: float
    verdict: str

    @property
    def ok(self) -> bool:
        """True when the face may be named."""
        return self.verdict == OK


def _pose(face: DetectedFace) -> tuple[float, float, float]:
    """(eye distance, yaw, pitch) from the five keypoints, in the eyes' own frame (roll-free)."""
    k = {name: np.asarray(point, dtype=np.float64) for name, point in face.keypoints.items()}
    eyes = k["right_eye"] - k["left_eye"]
    distance = float(np.hypot(*eyes))
    if distance < 1e-6:
        return 0.0, 1.0, 0.5
    along = eyes / distance
    across = np.array([-along[1], along[0]])
    eye_mid = (k["left_eye"] + k["right_eye"]) / 2
    mouth_mid = (k["mouth_left"] + k["mouth_right"]) / 2
    nose = k["nose"] - eye_mid
    yaw = float(nose @ along) / distance
    depth = float((mouth_mid - eye_mid) @ across)
    pitch = float(nose @ across) / depth if abs(depth) > 1e-6 else 0.5
    return distance, yaw, pitch


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned face crop (grey): low means blurred."""
    grey = cv2.cvtColor(np.asarray(aligned, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(
    face: DetectedFace, aligned: np.ndarray, limits: QualityLimits | None = None
) -> FaceQuality:
    """Measure a face (its keypoints and its aligned 160x160 crop) against the limits."""
    limits = limits or QualityLimits()
    distance, yaw, pitch = _pose(face)
    sharp = sharpness(aligned)
    if distance < limits.min_eye_distance:
        verdict = TOO_SMALL
    elif abs(yaw) > limits.max_yaw or not limits.min_pitch <= pitch <= limits.max_pitch:
        verdict = TURNED
    elif sharp < limits.min_sharpness:
        verdict = BLURRED
    else:
        verdict = OK
    return FaceQuality(distance, yaw, pitch, sharp, verdict)
