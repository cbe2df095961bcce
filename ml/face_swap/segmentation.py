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
