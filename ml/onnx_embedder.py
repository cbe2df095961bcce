"""An operator's face-recognition model (ONNX, ArcFace-style) in FaceNet's place.

No registry package ships weights stronger than FaceNet's or dlib's (ArcFace-class models all
download at run time), and issue 15's open-set margin is bound by the embedder
(bench/RESULTS.md). So an operator may supply one: `RECOGNITION_MODEL` names an ONNX file with
one image input of S x S RGB pixels (NCHW or NHWC) and one (N, D) output, as ArcFace/insightface
recognition models have. The face is aligned by a similarity transform of its five MTCNN
keypoints onto ArcFace's reference positions, scaled by (x - 127.5) / 127.5, embedded and
L2-normalized. The file is checked when it is loaded; its sha256 is part of the version, so
templates of another model are re-made with `flask employees reembed`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ml.alignment import warp_to_points
from ml.detection import DetectedFace

# ArcFace's five reference points in a 112 x 112 crop (left eye, right eye, nose, mouth left,
# mouth right), the alignment insightface's recognition models are trained on.
ARCFACE_KEYPOINTS_112 = np.array(
    [
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    ]
)


class ModelFileError(ValueError):
    """The operator's model file cannot be used as a face embedder."""


class OnnxFaceEmbedder:
    """Aligns faces by their keypoints and embeds them with an operator's ONNX model."""

    runtime = "onnxruntime"
    precision = "f32"
    max_batch = 32

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        from ml.device import onnx_providers

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such model file (RECOGNITION_MODEL)")
        self._sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        try:
            self._session = ort.InferenceSession(
                str(self.path), providers=providers or onnx_providers()
            )
        except Exception as exc:  # onnxruntime raises its own types for every bad file
            message = f"{self.path}: not an ONNX model onnxruntime can run: {exc}"
            raise ModelFileError(message) from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelFileError(f"{self.path}: needs one image input, has {len(inputs)}")
        self._input = inputs[0].name
        self.channels_first, self.size = _layout(inputs[0].shape, self.path)
        probe = self._run(np.zeros((1, self.size, self.size, 3), np.float32))
        if probe.ndim != 2:
            raise ModelFileError(f"{self.path}: output must be (N, D), is {probe.shape}")
        self.dimension = int(probe.shape[1])

    @property
    def version(self) -> str:
        """Model identifier: the file's name and the start of its sha256."""
        return f"onnx-{self.path.stem[:40]}@{self._sha256[:12]}"

    def align(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The face as a (size, size, 3) uint8 crop, its keypoints on ArcFace's positions."""
        return warp_to_points(rgb, face, ARCFACE_KEYPOINTS_112 * (self.size / 112.0), self.size)

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Embed uint8 RGB faces (N, size, size, 3) into float32 unit vectors (N, dimension)."""
        faces = np.asarray(faces)
        if faces.ndim == 3:
            faces = faces[np.newaxis]
        if faces.ndim != 4 or faces.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected faces of shape (N, {self.size}, {self.size}, 3)")
        if len(faces) == 0:
            return np.zeros((0, self.dimension), np.float32)
        scaled = (faces.astype(np.float32) - 127.5) / 127.5
        outputs = [
            self._run(scaled[start : start + self.max_batch])
            for start in range(0, len(faces), self.max_batch)
        ]
        embeddings = np.concatenate(outputs).astype(np.float32, copy=False)
        return embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The model's first output for a float NHWC batch."""
        x = batch.transpose(0, 3, 1, 2) if self.channels_first else batch
        return np.asarray(self._session.run(None, {self._input: np.ascontiguousarray(x)})[0])


def _layout(shape: list, path: Path) -> tuple[bool, int]:
    """(channels first?, side) of an image input shaped (N, 3, S, S) or (N, S, S, 3)."""
    if len(shape) == 4 and shape[1] == 3 and isinstance(shape[2], int) and shape[2] == shape[3]:
        return True, int(shape[2])
    if len(shape) == 4 and shape[3] == 3 and isinstance(shape[1], int) and shape[1] == shape[2]:
        return False, int(shape[1])
    raise ModelFileError(f"{path}: input must be (N, 3, S, S) or (N, S, S, 3), is {shape}")
