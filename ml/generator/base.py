"""The generator interface: latents from seeds, truncation, and what every backend provides.

A backend implements `mapping` (z -> w) and `synthesis` (w -> RGB images); `GeneratorBase`
builds everything else on those two (seeded latents, the mean w, truncation, `sample`), so the
OpenVINO backend here and a torch port of the same network can stand in for each other.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

DEFAULT_PSI = 0.7  # truncation: 1 keeps the full variety, 0 gives the one average face
MEAN_W_SAMPLES = 4096  # mapped z averaged into the mean w (the truncation centre)
MEAN_W_SEED = 20260101  # fixed, so the mean w (and every truncated face) is reproducible

# Where MTCNN's five points (image-left eye, image-right eye, nose tip, image-left and
# image-right mouth corner) fall in the FFHQ frame, as fractions of its side: the mean over
# 64 generated faces (seeds 0-63, psi 0.7, 256 px; standard deviation 0.004-0.006 of the
# frame for the eyes, 0.01-0.03 for the nose and mouth).
FFHQ_FIVE = np.array(
    [(0.3741, 0.4677), (0.6218, 0.4668), (0.4986, 0.6176), (0.3823, 0.7260), (0.6122, 0.7263)]
)


class GeneratorError(RuntimeError):
    """The generator cannot do what was asked (missing model, bad latent shape)."""


@dataclass(frozen=True)
class GeneratedFace:
    """One generated face: its seed and latents, and the image in the FFHQ frame."""

    seed: int | None
    psi: float
    z: np.ndarray | None  # (z_dim,) or None when made from a given w
    w: np.ndarray  # (w_dim,) after truncation, or (num_ws, w_dim) for a w+ latent
    image: np.ndarray  # (size, size, 3) uint8 RGB, aligned to the FFHQ frame

    @property
    def landmarks(self) -> np.ndarray:
        """The FFHQ frame's five points (MTCNN order) in this image's pixels, (5, 2)."""
        return FFHQ_FIVE * self.image.shape[1]


@runtime_checkable
class FaceGenerator(Protocol):
    """What the rest of the code may rely on, whatever the backend."""

    name: str
    z_dim: int
    w_dim: int
    num_ws: int  # style inputs the synthesis takes; 1 means no per-layer (w+) control
    resolution: int
    device: str

    def mapping(self, z: np.ndarray) -> np.ndarray:
        """(N, z_dim) float32 -> (N, w_dim) float32 w, not truncated."""
        ...

    def synthesis(self, w: np.ndarray, size: int | None = None) -> np.ndarray:
        """(N, w_dim) or (N, num_ws, w_dim) w -> (N, size, size, 3) uint8 RGB in the FFHQ frame."""
        ...

    def mean_w(self) -> np.ndarray:
        """(w_dim,) the average w, centre of the truncation."""
        ...

    def sample(
        self, seeds: Sequence[int], psi: float = DEFAULT_PSI, size: int | None = None
    ) -> list[GeneratedFace]:
        """One face per seed, the same face for the same seed, psi and backend."""
        ...


def seed_latent(seed: int, z_dim: int = 512) -> np.ndarray:
    """StyleGAN's convention: z = RandomState(seed).randn(z_dim), as float32."""
    if not 0 <= int(seed) < 2**32:
        raise GeneratorError(f"a seed is an integer in [0, 2**32), not {seed!r}")
    return np.random.RandomState(int(seed)).randn(z_dim).astype(np.float32)


def truncate(w: np.ndarray, mean_w: np.ndarray, psi: float) -> np.ndarray:
    """w pulled towards the mean: mean + psi * (w - mean)."""
    if not 0.0 <= psi <= 1.5:
        raise GeneratorError(f"truncation psi must be between 0 and 1.5, not {psi}")
    return (mean_w + np.float32(psi) * (w - mean_w)).astype(np.float32)


def to_uint8_rgb(images: np.ndarray, size: int | None) -> np.ndarray:
    """(N, 3, H, W) float in [-1, 1] -> (N, size, size, 3) uint8, downscaled by area."""
    out = []
    for chw in images:
        hwc = np.clip((chw.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        if size is not None and size != hwc.shape[0]:
            interpolation = cv2.INTER_AREA if size < hwc.shape[0] else cv2.INTER_CUBIC
            hwc = cv2.resize(hwc, (size, size), interpolation=interpolation)
        out.append(np.ascontiguousarray(hwc))
    return np.stack(out) if out else np.zeros((0, size or 0, size or 0, 3), np.uint8)


# The one network both backends run (random-face 2021.7.21.1's MobileStyleGAN IR).
MODEL_NAME = "mobilestylegan-random-face-2021.7.21.1"


def weights_key(folder: Path, model_name: str = MODEL_NAME) -> str:
    """The mapping weights' sha256 under the model's name: every backend of one network gets the
    same key, so they share the cached mean w."""
    digest = hashlib.sha256((Path(folder) / "MappingNetwork.bin").read_bytes()).hexdigest()
    return f"{model_name}:{digest}"


class GeneratorBase:
    """Seeds, mean w, truncation and sampling on top of a backend's mapping and synthesis."""

    name = "generator"
    z_dim = 512
    w_dim = 512
    num_ws = 1
    resolution = 1024
    device = "cpu"

    def __init__(self, cache_dir: Path | None = None) -> None:
        """`cache_dir`, when given, keeps the estimated mean w between processes."""
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._mean_w: np.ndarray | None = None
        self._mean_lock = threading.Lock()

    # backends implement these two

    def mapping(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """(N, z_dim) -> (N, w_dim)."""
        raise NotImplementedError

    def synthesis(self, w: np.ndarray, size: int | None = None) -> np.ndarray:  # pragma: no cover
        """(N, w_dim) -> (N, size, size, 3) uint8 RGB."""
        raise NotImplementedError

    def cache_key(self) -> str:
        """What identifies this network's weights (the mean w cache is keyed by it)."""
        return self.name

    def checked_z(self, z: np.ndarray) -> np.ndarray:
        """`z` as a contiguous float32 (N, z_dim) array, or a GeneratorError."""
        z = np.ascontiguousarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise GeneratorError(f"z must be (N, {self.z_dim}), not {z.shape}")
        return z

    # built on them

    def mean_w(self) -> np.ndarray:
        """The mean of MEAN_W_SAMPLES mapped z (fixed seed); computed once, cached on disk."""
        with self._mean_lock:
            if self._mean_w is not None:
                return self._mean_w
            path = None
            if self.cache_dir is not None:
                key = hashlib.sha256(
                    f"{self.cache_key()}:{MEAN_W_SAMPLES}:{MEAN_W_SEED}".encode()
                ).hexdigest()[:16]
                path = self.cache_dir / f"mean-w-{key}.npy"
                if path.is_file():
                    cached = np.load(path)
                    if cached.shape == (self.w_dim,):
                        self._mean_w = cached.astype(np.float32)
                        return self._mean_w
            z = np.random.RandomState(MEAN_W_SEED).randn(MEAN_W_SAMPLES, self.z_dim)
            total = np.zeros(self.w_dim, np.float64)
            for start in range(0, MEAN_W_SAMPLES, 256):
                total += self.mapping(z[start : start + 256].astype(np.float32)).sum(axis=0)
            self._mean_w = (total / MEAN_W_SAMPLES).astype(np.float32)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(".tmp.npy")
                np.save(temporary, self._mean_w)
                temporary.replace(path)
            return self._mean_w

    def latents(self, seeds: Iterable[int]) -> np.ndarray:
        """(N, z_dim) z for the seeds."""
        return np.stack([seed_latent(seed, self.z_dim) for seed in seeds])

    def styles(self, seeds: Sequence[int], psi: float = DEFAULT_PSI) -> np.ndarray:
        """(N, w_dim) truncated w for the seeds."""
        if not seeds:
            return np.zeros((0, self.w_dim), np.float32)
        return truncate(self.mapping(self.latents(seeds)), self.mean_w(), psi)

    def sample(
        self, seeds: Sequence[int], psi: float = DEFAULT_PSI, size: int | None = None
    ) -> list[GeneratedFace]:
        """One face per seed (batched through the backend)."""
        seeds = [int(seed) for seed in seeds]
        z = self.latents(seeds) if seeds else np.zeros((0, self.z_dim), np.float32)
        w = self.styles(seeds, psi)
        images = self.synthesis(w, size)
        return [
            GeneratedFace(seed, float(psi), z[i], w[i], images[i]) for i, seed in enumerate(seeds)
        ]

    def render(self, w: np.ndarray, size: int | None = None) -> GeneratedFace:
        """One face from a given w (or w+), e.g. a mix or an edit of sampled ones."""
        w = np.asarray(w, np.float32)
        return GeneratedFace(None, 1.0, None, w, self.synthesis(w[None], size)[0])
