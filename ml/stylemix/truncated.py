"""Truncated synthesis: MobileStyleGAN stopped at a low resolution, for fast projection.

MobileStyleGAN is progressive: blocks at 8, 16, ... 512 each double the feature map (an inverse
Haar wavelet transform of the previous block's features), and only the last block's 1x1
"to image" layer (12 wavelet channels at 512) plus an inverse wavelet transform makes the 1024 px
image. The network was trained with a "to image" head on every block, but the exported IR keeps
only the last one (the others feed nothing in the exported graph, so they were pruned).

So an image at R < 512 cannot be read off the IR's constants alone. This module refits the
missing heads: for a block at r, a linear 1x1 head (C -> 12 channels, i.e. RGB times a 2x2 patch,
the same information as the four wavelet sub-bands) followed by a pixel shuffle gives an image
at 2r. The head is a ridge regression fitted (deterministically, fixed seeds) on the block's
features against the full generator's 1024 px output area-downscaled to 2r, and cached on disk
keyed by the IR's weights. The truncated image therefore approximates the downscaled full
output; `head_errors` measures how closely (held-out latents), and the tests bound it.

Everything above the block (the finer blocks, the real "to image" layer) is skipped, so a 256 px
rendering costs about half a 1024 px one and its backward pass likewise; 512 and 1024 px use the
full network (exact). Heads give 64, 128 and 256 px images (blocks 32, 64, 128).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ml.stylemix.ir_torch import IRModule

log = logging.getLogger(__name__)

HEAD_SIZES = (64, 128, 256)  # image sizes the fitted heads give (from the blocks at half that)
FIT_SAMPLES = 16  # latents the heads are fitted on
FIT_SEED = 20261206
RIDGE = 1e-3  # relative to the mean diagonal of X^T X
_HEAD_VERSION = 2


def block_outputs(module: IRModule) -> dict[int, str]:
    """Each synthesis block's output node id by its resolution (the block's last activation)."""
    outputs: dict[int, str] = {}
    for node in module.order:
        if node.type == "PReLU" and len(node.output_dims[0]) == 4:
            outputs[node.output_dims[0][-1]] = node.id  # the later one at a size wins
    return outputs


def _weights_key(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("SynthesisNetwork.xml", "SynthesisNetwork.bin"):
        path = model_dir / name
        digest.update(f"{name}:{path.stat().st_size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))  # the head of each file and its size
    digest.update(f"{_HEAD_VERSION}:{FIT_SAMPLES}:{FIT_SEED}:{RIDGE}:{HEAD_SIZES}".encode())
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where fitted heads are kept when the caller names no folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "face-platform" / "stylemix"


def fit_latents(generator, count: int, seed: int, active: int) -> torch.Tensor:
    """`count` W+ latents like the ones a truncated projection explores: the first `active`
    layers from truncated w's (every other one style-mixed at a random layer), the finer layers
    at the average w (where the truncated projection keeps them)."""
    rng = np.random.RandomState(seed)
    w_avg = generator.w_average()
    latents = []
    with torch.no_grad():
        for i in range(count):
            z = torch.from_numpy(rng.randn(2, 512).astype(np.float32))
            psi = torch.from_numpy(rng.uniform(0.3, 1.0, size=(2, 1)).astype(np.float32))
            w = w_avg + psi * (generator.map(z) - w_avg)
            w_plus = generator.broadcast(w[:1]).clone()
            if i % 2:
                w_plus[:, rng.randint(1, active) :] = w[1]
            w_plus[:, active:] = w_avg
            latents.append(w_plus)
    return torch.cat(latents)


class TruncatedHead:
    """One refitted "to image" head: weight (12, C, 1, 1) and bias (12,) for one image size."""

    def __init__(self, size: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.size, self.weight, self.bias = size, weight, bias

    @classmethod
    def fit(
        cls, generator, size: int, samples: int = FIT_SAMPLES, seed: int = FIT_SEED
    ) -> TruncatedHead:
        """Ridge-fit the head for `size` px on `samples` full 1024 px renderings."""
        block = block_outputs(generator.synthesis)[size // 2]
        active = generator.active_layers(size)
        xtx = xty = 0
        for w_plus in fit_latents(generator, samples, seed + size, active).split(1):
            with torch.no_grad():
                image, features = generator.synthesize_with_taps(w_plus, {block})
            x = features[block].double().cpu()[0]
            x = torch.cat([x.reshape(x.shape[0], -1), torch.ones(1, x[0].numel())])
            y = F.pixel_unshuffle(F.interpolate(image, size=size, mode="area"), 2)
            y = y.double().cpu()[0].reshape(12, -1)
            xtx = xtx + x @ x.T
            xty = xty + x @ y.T
        xtx = xtx + RIDGE * xtx.diagonal().mean() * torch.eye(xtx.shape[0], dtype=xtx.dtype)
        solution = torch.linalg.solve(xtx, xty)  # (C + 1, 12)
        weight = solution[:-1].T.float().contiguous()[:, :, None, None]
        return cls(size, weight, solution[-1].float().contiguous())

    def save(self, path: Path) -> None:
        """Write the head as an .npz (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, weight=self.weight.numpy(), bias=self.bias.numpy())
        partial.replace(path)

    @classmethod
    def load(cls, size: int, path: Path) -> TruncatedHead:
        """Read a head written by `save`."""
        with np.load(path) as data:
            return cls(size, torch.from_numpy(data["weight"]), torch.from_numpy(data["bias"]))

    @classmethod
    def cached(cls, generator, size: int, cache_dir: Path | None) -> TruncatedHead:
        """The head for this generator's weights: from the cache, or fitted now and cached."""
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = folder / f"truncated-head-{size}-{_weights_key(generator.model_dir)}.npz"
        if path.is_file():
            try:
                return cls.load(size, path)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("refitting the truncated head, %s unreadable: %s", path, exc)
        log.info("fitting the %d px truncated head (%d renderings, once)", size, FIT_SAMPLES)
        head = cls.fit(generator, size)
        try:
            head.save(path)
        except OSError as exc:
            log.warning("could not cache the truncated head in %s: %s", path, exc)
        return head

    def apply(self, features: torch.Tensor) -> torch.Tensor:
        """Block features (N, C, size/2, size/2) -> image (N, 3, size, size) in [-1, 1]."""
        weight, bias = self.weight.to(features.device), self.bias.to(features.device)
        return F.pixel_shuffle(F.conv2d(features, weight, bias), 2)


def head_size(resolution: int) -> int | None:
    """The smallest head size that covers `resolution`, or None when the full network is used."""
    for size in HEAD_SIZES:
        if resolution <= size:
            return size
    return None


def head_psnr(generator, size: int, samples: int = 4, seed: int = 4242) -> list[float]:
    """PSNR (dB, images in [0, 1]) of the truncated `size` px rendering against the full 1024 px
    output area-downscaled to `size`, on `samples` latents the head was not fitted on."""
    scores = []
    latents = fit_latents(generator, samples, seed, generator.active_layers(size))
    for w_plus in latents.split(1):
        with torch.no_grad():
            full = F.interpolate(generator.synthesize(w_plus), size=size, mode="area")
            truncated = generator.synthesize_at(w_plus, size)
        mse = float(((full - truncated) / 2).pow(2).mean())
        scores.append(10.0 * float(np.log10(1.0 / max(mse, 1e-12))))
    return scores
