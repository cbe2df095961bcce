"""The same MobileStyleGAN in torch (ml.stylemix's IR interpreter): differentiable, with w+.

Same files, same mapping and same faces as the OpenVINO backend (to about 1e-5), but the
synthesis takes one w per style layer (`num_ws` = 23, coarse to fine) and gradients flow, which
projection and style mixing need. It is several times slower than OpenVINO on a CPU; on a GPU
(`ml.device.torch_device`) it is the fast one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.generator.base import (
    MODEL_NAME,
    GeneratorBase,
    GeneratorError,
    to_uint8_rgb,
    weights_key,
)
from ml.stylemix.generator import GeneratorFilesError, TorchStyleGAN


class TorchGenerator(GeneratorBase):
    """`FaceGenerator` on the torch port; `network` is the differentiable module."""

    name = f"{MODEL_NAME}-torch"

    def __init__(self, folder: Path, device: str = "cpu", cache_dir: Path | None = None) -> None:
        """Load both IR graphs from `folder` (MODEL_DIR/mobilestylegan) onto a torch device."""
        super().__init__(cache_dir)
        self.folder = Path(folder)
        try:
            self.network = TorchStyleGAN(self.folder, device=device)
        except GeneratorFilesError as exc:
            raise GeneratorError(f"{exc}; run `python -m ml.fetch`") from exc
        self.num_ws = self.network.num_layers
        self.device = device
        self.version = f"{MODEL_NAME}@torch-{torch.__version__.split('+')[0]}"

    def cache_key(self) -> str:
        """The mapping weights' sha256: both backends of this network share the mean w."""
        return weights_key(self.folder)

    def mapping(self, z: np.ndarray) -> np.ndarray:
        """(N, 512) z -> (N, 512) w."""
        z = self.checked_z(z)
        if len(z) == 0:
            return np.zeros((0, self.w_dim), np.float32)
        with torch.no_grad():
            return self.network.map(torch.from_numpy(z)).cpu().numpy().astype(np.float32)

    def synthesis(self, w: np.ndarray, size: int | None = None) -> np.ndarray:
        """(N, 512) w or (N, num_ws, 512) w+ -> (N, size, size, 3) uint8 RGB."""
        w = np.asarray(w, np.float32)
        if w.ndim == 2:
            w = np.repeat(w[:, None], self.num_ws, axis=1)
        if w.ndim != 3 or w.shape[1:] != (self.num_ws, self.w_dim):
            raise GeneratorError(f"w must be (N, {self.w_dim}) or (N, {self.num_ws}, 512)")
        images = []
        with torch.no_grad():
            for row in w:
                raw = self.network.synthesize(torch.from_numpy(row[None])).cpu().numpy()
                images.append(to_uint8_rgb(raw, size)[0])
        if not images:
            return np.zeros((0, size or self.resolution, size or self.resolution, 3), np.uint8)
        return np.stack(images)


def load_torch_generator(
    model_dir: Path, preference: str = "auto", cache_dir: Path | None = None
) -> TorchGenerator:
    """The torch MobileStyleGAN from MODEL_DIR/mobilestylegan on the preferred torch device."""
    from ml.device import torch_device
    from ml.generator import MODEL_FOLDER

    return TorchGenerator(
        Path(model_dir) / MODEL_FOLDER, device=torch_device(preference), cache_dir=cache_dir
    )
