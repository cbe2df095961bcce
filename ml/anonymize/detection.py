"""Finding every face, small and turned ones too: MTCNN merged with MediaPipe full range on
overlapping tiles, a MediaPipe-only face confirmed by the face mesh."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.boxes import inside, iou
from ml.detection import KEYPOINT_NAMES, DetectedFace
from ml.face_mesh import (
    five_points,
)


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
        for y in starts(height, tile, stride):
            for x in starts(width, tile, stride):
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
        return [(int_box(box, height, width), score, five_from_mediapipe(keys))
                for box, score, keys in kept]  # fmt: skip

    def close(self) -> None:
        """Release the graph."""
        with self._lock:
            self._detector.close()


def union(record: dict[str, Any], region: Sequence[int]) -> list[int]:
    """The record's changed region grown to include `region` (x0, y0, x1, y1)."""
    if "region" not in record:
        return [int(v) for v in region]
    old = record["region"]
    return [min(old[0], region[0]), min(old[1], region[1]),
            max(old[2], region[2]), max(old[3], region[3])]  # fmt: skip


def starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile offsets covering [0, length) with the last tile flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def best_match(box: Sequence[float], others: Sequence[Sequence[float]]) -> int | None:
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


def five_from_mediapipe(keys: np.ndarray) -> np.ndarray:
    """MediaPipe's eyes, nose tip and mouth centre -> MTCNN's five points (corners estimated)."""
    eyes = keys[:2][np.argsort(keys[:2, 0])]  # image-left eye first
    across = eyes[1] - eyes[0]
    mouth = keys[3]
    return np.array([eyes[0], eyes[1], keys[2], mouth - 0.45 * across, mouth + 0.45 * across])


def mesh_agrees(landmarks: np.ndarray, face: FaceBox) -> bool:
    """Whether the mesh's eyes are within a third of the eye distance of the detector's."""
    mine = five_points(landmarks)
    eye_distance = max(float(np.hypot(*(face.landmarks[1] - face.landmarks[0]))), 1.0)
    return float(np.hypot(*(mine[:2] - face.landmarks[:2]).T).max()) <= eye_distance / 3


def int_box(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x2 = min(width, math.ceil(box[0] + box[2]))
    y2 = min(height, math.ceil(box[1] + box[3]))
    return x1, y1, max(1, x2 - x1), max(1, y2 - y1)
