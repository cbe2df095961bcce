"""Person segmentation for the swap's mask: MediaPipe selfie segmentation (bundled, offline)."""

from __future__ import annotations

import threading

import numpy as np

GENERAL, LANDSCAPE = 0, 1  # MediaPipe's model_selection: 256x256 and 144x256 inputs


class PersonSegmenter:
    """Probability (0-1) that each pixel shows a person; create once, reuse (calls are locked).

    The graph is built on first use, so a swapper that never segments never loads it.
    """

    def __init__(self, model_selection: int = GENERAL) -> None:
        """`model_selection`: GENERAL (square crops, photos) or LANDSCAPE (video frames)."""
        if model_selection not in (GENERAL, LANDSCAPE):
            raise ValueError("model_selection must be 0 (general) or 1 (landscape)")
        self.model_selection = model_selection
        self._graph = None
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The person probability map of an RGB image, float32, the image's size."""
        with self._lock:
            if self._graph is None:
                import mediapipe as mp

                self._graph = mp.solutions.selfie_segmentation.SelfieSegmentation(
                    model_selection=self.model_selection
                )
            found = self._graph.process(np.ascontiguousarray(rgb))
        mask = found.segmentation_mask
        if mask is None:
            return np.ones(rgb.shape[:2], dtype=np.float32)
        return np.asarray(mask, dtype=np.float32)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        with self._lock:
            if self._graph is not None:
                self._graph.close()
                self._graph = None


class HandFinder:
    """A mask of the hands in an image (MediaPipe Hands): what in front of a face is not face.

    Each hand found is drawn from its 21 landmarks: the palm polygon filled and every bone a thick
    line (a quarter of the palm's width). Calls are locked; the graph is built on first use.
    """

    def __init__(self, min_confidence: float = 0.5) -> None:
        """`min_confidence`: MediaPipe's hand detection threshold."""
        self.min_confidence = float(min_confidence)
        self._graph = None
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 mask, 255 on the hands, the image's size."""
        import cv2

        height, width = rgb.shape[:2]
        with self._lock:
            if self._graph is None:
                import mediapipe as mp

                self._graph = mp.solutions.hands.Hands(
                    static_image_mode=True,
                    max_num_hands=2,
                    model_complexity=0,
                    min_detection_confidence=self.min_confidence,
                )
            found = self._graph.process(np.ascontiguousarray(rgb))
        mask = np.zeros((height, width), dtype=np.uint8)
        for hand in found.multi_hand_landmarks or []:
            pts = np.array([(p.x * width, p.y * height) for p in hand.landmark], dtype=np.float32)
            palm = float(np.linalg.norm(pts[5] - pts[17]))
            thick = max(2, round(0.45 * palm))
            cv2.fillPoly(mask, [np.round(pts[list(_PALM)]).astype(np.int32)], 255)
            for a, b in _BONES:
                pa, pb = np.round(pts[a]).astype(int), np.round(pts[b]).astype(int)
                cv2.line(mask, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), 255, thick)
        return mask

    def close(self) -> None:
        """Release the MediaPipe graph."""
        with self._lock:
            if self._graph is not None:
                self._graph.close()
                self._graph = None


_PALM = (0, 1, 5, 9, 13, 17)
_BONES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
    (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20), (0, 5), (5, 9), (9, 13),
    (13, 17), (0, 17),
)  # fmt: skip
