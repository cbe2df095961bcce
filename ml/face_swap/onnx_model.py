"""The model slot: an operator's inswapper-style ONNX swap model and its identity embedder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.device import onnx_providers
from ml.face_swap.classical import umeyama

SWAP_MODEL_FILE = "face_swap.onnx"
EMBEDDER_FILE = "face_swap_embedder.onnx"
# The five-point template ArcFace and the 128-px swap models are aligned to (112x112 pixels):
# image-left eye, image-right eye, nose tip, image-left and image-right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


class SwapModelError(RuntimeError):
    """The operator-supplied swap model cannot be used (raised at load, never mid-job)."""


@dataclass(frozen=True, eq=False)
class OnnxSwapModel:
    """An operator-supplied swap model with the common 128-px interface, plus its embedder.

    `face_swap.onnx` (e.g. InsightFace's inswapper_128, which we cannot ship: it is a download,
    not a package) takes two inputs:
      - the target face, float32 1x3xSxS (S = 128), RGB in [0, 1], aligned by a similarity
        transform of its five points (eyes, nose tip, mouth corners) onto the ArcFace template
        (112-px template shifted by 8 px to the right for 128);
      - the source identity, float32 1xD (D = 512): the source's ArcFace embedding, L2-normalized,
        multiplied by the model's `emap` matrix when the graph carries one (inswapper stores it as
        its last initializer, used by no node) and normalized again;
    and gives the swapped face, 1x3xSxS RGB in [0, 1], which is pasted back with the inverse
    transform through a feathered square mask.

    The identity must come from the embedder the swap model was trained with (ArcFace, e.g.
    InsightFace's w600k_r50 or glintr100: input 1x3x112x112 RGB, (x - 127.5) / 127.5, output 1xD).
    FaceNet's 128-d embedding here is a different space, so it cannot stand in; the operator puts
    the embedder beside the model as `face_swap_embedder.onnx`. Without it loading fails with a
    clear SwapModelError (at worker start, not in a job).
    """

    swap_session: object
    embed_session: object
    target_input: str
    latent_input: str
    size: int  # S
    embed_size: int  # the embedder's square input side (112 for ArcFace)
    latent_dim: int
    emap: np.ndarray | None
    version: str
    feather: float = field(default=0.1)  # of S: width of the mask's feathered border

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> OnnxSwapModel | None:
        """Load `face_swap.onnx` and its embedder from `model_dir`; None when there is no model."""
        swap_path = Path(model_dir) / SWAP_MODEL_FILE
        if not swap_path.is_file():
            return None
        embed_path = Path(model_dir) / EMBEDDER_FILE
        if not embed_path.is_file():
            raise SwapModelError(
                f"{swap_path} needs the identity embedder it was trained with (an ArcFace ONNX "
                f"model, 1x3x112x112 in, 1x512 out) as {embed_path}; we cannot ship one offline. "
                f"Add it, or remove {swap_path.name} to use the classical face swap."
            )
        return cls.load(swap_path, embed_path)

    @classmethod
    def load(cls, swap_path: Path, embed_path: Path) -> OnnxSwapModel:
        """Open both ONNX files and check their inputs and outputs against the interface."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        providers = onnx_providers()
        try:
            swap = ort.InferenceSession(str(swap_path), options, providers=providers)
            embed = ort.InferenceSession(str(embed_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SwapModelError(f"cannot open the swap model files: {exc}") from exc
        images = [i for i in swap.get_inputs() if len(i.shape) == 4]
        vectors = [i for i in swap.get_inputs() if len(i.shape) == 2]
        outputs = swap.get_outputs()
        if len(images) != 1 or len(vectors) != 1 or len(swap.get_inputs()) != 2:
            raise SwapModelError(
                f"{swap_path.name} must take one 1x3xSxS image and one 1xD identity vector; it "
                f"takes {[(i.name, i.shape) for i in swap.get_inputs()]}"
            )
        size = _static_dim(images[0].shape[2], 128)
        if _static_dim(images[0].shape[1], 3) != 3 or _static_dim(images[0].shape[3], size) != size:
            raise SwapModelError(f"{swap_path.name}: the image input must be 1x3xSxS")
        latent_dim = _static_dim(vectors[0].shape[1], 512)
        out_shape = outputs[0].shape
        if len(out_shape) != 4 or _static_dim(out_shape[1], 3) != 3:
            raise SwapModelError(f"{swap_path.name}: the output must be 1x3xSxS, got {out_shape}")
        embed_inputs, embed_outputs = embed.get_inputs(), embed.get_outputs()
        if len(embed_inputs) != 1 or len(embed_inputs[0].shape) != 4:
            raise SwapModelError(f"{embed_path.name} must take one 1x3xNxN image")
        embed_size = _static_dim(embed_inputs[0].shape[2], 112)
        embed_dim = _static_dim(embed_outputs[0].shape[-1], latent_dim)
        if embed_dim != latent_dim:
            raise SwapModelError(
                f"{embed_path.name} gives {embed_dim}-d vectors, "
                f"{swap_path.name} takes {latent_dim}"
            )
        digest = hashlib.sha256()
        for path in (swap_path, embed_path):
            digest.update(path.read_bytes())
        version = f"onnx:{swap_path.name}+{embed_path.name}@{digest.hexdigest()[:12]}"
        return cls(
            swap,
            embed,
            images[0].name,
            vectors[0].name,
            size,
            embed_size,
            latent_dim,
            _unused_square_initializer(swap_path, latent_dim),
            version,
        )

    def identity(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The source identity vector the swap model takes, from a face's five points."""
        matrix = _similarity(points, _template(self.embed_size))
        face = cv2.warpAffine(rgb, matrix, (self.embed_size, self.embed_size))
        blob = ((face.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        name = self.embed_session.get_inputs()[0].name
        vector = np.asarray(self.embed_session.run(None, {name: blob})[0], np.float32).reshape(-1)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        if self.emap is not None:
            vector = vector @ self.emap
            vector /= max(float(np.linalg.norm(vector)), 1e-12)
        return vector.reshape(1, -1).astype(np.float32)

    def swap(self, image: np.ndarray, points: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Align the target face, run the model, paste the result back; a new image."""
        size = self.size
        matrix = _similarity(points, _template(size))
        aligned = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR)
        blob = (aligned.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        result = self.swap_session.run(None, {self.target_input: blob, self.latent_input: latent})
        face = np.asarray(result[0], dtype=np.float32)[0].transpose(1, 2, 0)
        if face.shape[:2] != (size, size):
            face = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
        face = np.clip(face * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return self._paste(image, face, matrix)

    def paste_mask(self, shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
        """The pixels `swap` may change (uint8, 255 inside) for a face with these five points."""
        matrix = _similarity(points, _template(self.size))
        square = np.full((self.size, self.size), 255, dtype=np.uint8)
        inverse = cv2.invertAffineTransform(matrix)
        return cv2.warpAffine(square, inverse, (shape[1], shape[0]), flags=cv2.INTER_NEAREST)

    def _paste(self, image: np.ndarray, face: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = self.size
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        mapped = corners @ inverse.T
        x1, y1 = np.floor(mapped.min(axis=0)).astype(int) - 1
        x2, y2 = np.ceil(mapped.max(axis=0)).astype(int) + 1
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            return image
        shifted = inverse.copy()
        shifted[:, 2] -= (x1, y1)
        border = max(1, round(self.feather * size))
        alpha = np.zeros((size, size), dtype=np.float32)
        alpha[border:-border, border:-border] = 1.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), border / 2.0)
        alpha[[0, -1], :] = 0.0
        alpha[:, [0, -1]] = 0.0
        out_size = (x2 - x1, y2 - y1)
        pasted = cv2.warpAffine(face, shifted, out_size, flags=cv2.INTER_LINEAR)
        weight = cv2.warpAffine(alpha, shifted, out_size, flags=cv2.INTER_LINEAR)[..., None]
        region = image[y1:y2, x1:x2].astype(np.float32)
        out = image.copy()
        out[y1:y2, x1:x2] = np.clip(region + weight * (pasted - region) + 0.5, 0, 255).astype(
            np.uint8
        )
        return out


def _template(size: int) -> np.ndarray:
    """The ArcFace five-point template for a size x size crop (InsightFace's rule)."""
    if size % 112 == 0:
        ratio, shift = size / 112.0, 0.0
    else:
        ratio, shift = size / 128.0, 8.0 * size / 128.0
    template = ARCFACE_TEMPLATE * ratio
    template[:, 0] += shift
    return template


def _similarity(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform taking 2-D `points` onto `template`, as 2x3."""
    src = np.asarray(points, dtype=np.float64)[:, :2]
    scale, rotation, shift = umeyama(src, np.asarray(template, dtype=np.float64))
    return np.hstack([scale * rotation, shift[:, None]])


def _static_dim(value: object, default: int) -> int:
    """An ONNX input dimension: its number, or `default` when it is symbolic."""
    return int(value) if isinstance(value, int) and value > 0 else default


def _unused_square_initializer(path: Path, dim: int) -> np.ndarray | None:
    """inswapper's `emap`: the graph's last initializer when it is DxD and no node uses it."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    if not graph.initializer:
        return None
    last = graph.initializer[-1]
    if tuple(last.dims) != (dim, dim):
        return None
    if any(last.name in node.input for node in graph.node):
        return None
    return numpy_helper.to_array(last).astype(np.float32)
