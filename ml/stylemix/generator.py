"""MobileStyleGAN in torch from its OpenVINO IR files, with one style vector per layer (W+).

The synthesis IR has one `style` input (1x512) that fans out to 23 affine "Gemm" layers, one per
style-consuming layer (the 4x4 input conv, three per resolution block 8...512, and the final
wavelet "to image" conv). `TorchStyleGAN.synthesize` feeds each of those its own w, so layers can
be mixed as in StyleGAN style mixing. Layers are ordered from coarse (4x4) to fine, and each has
the resolution of the feature map it modulates (`layer_resolutions`).

The output is the IR's: 1x3x1024x1024 RGB in [-1, 1] (RGB, not BGR: read as BGR the skin turns
blue); `to_rgb01` maps it to [0, 1].
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ml.stylemix.ir_torch import IRModule, Node
from ml.stylemix.truncated import TruncatedHead, block_outputs, head_size

MAPPING = "MappingNetwork"
SYNTHESIS = "SynthesisNetwork"
OUTPUT_SIZE = 1024
W_DIM = 512
_CONV = {"Convolution", "GroupConvolution", "GroupConvolutionBackpropData"}

# StyleGAN's groups by the resolution a layer works at: pose and face shape (coarse), features
# and hair (middle), colour and micro-texture (fine).
GROUPS: dict[str, tuple[int, int]] = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1024)}


class GeneratorFilesError(FileNotFoundError):
    """The generator's IR files are missing or of another architecture."""


@dataclass(frozen=True)
class StyleLayer:
    """One style input of the synthesis network: its Gemm node and the resolution it modulates."""

    node_id: str
    name: str
    resolution: int


def _gemm_number(name: str) -> int:
    match = re.search(r"Gemm_(\d+)", name)
    return int(match.group(1)) if match else 1 << 30


def _first_conv_resolution(module: IRModule, start: Node) -> int:
    """Breadth-first from `start` to the first convolution; the larger side of its output."""
    seen, frontier = {start.id}, [start]
    while frontier:
        following = []
        for node in frontier:
            for consumer in module.consumers(node.id):
                if consumer.id in seen:
                    continue
                seen.add(consumer.id)
                if consumer.type in _CONV:
                    return max(consumer.output_dims[0][2:])
                following.append(consumer)
        frontier = following
    raise GeneratorFilesError(f"style layer {start.name} reaches no convolution")


def style_layers(module: IRModule) -> list[StyleLayer]:
    """The synthesis IR's style-consuming MatMuls, coarse to fine."""
    if len(module.parameters_) != 1:
        raise GeneratorFilesError("the synthesis IR must have exactly one input")
    param = module.parameters_[0]
    layers = [
        StyleLayer(node.id, node.name, _first_conv_resolution(module, node))
        for node in module.consumers(param.id)
        if node.type == "MatMul"
    ]
    if not layers:
        raise GeneratorFilesError("the synthesis IR's input feeds no affine layer")
    return sorted(layers, key=lambda layer: (layer.resolution, _gemm_number(layer.name)))


def layer_mask(layers: Sequence[StyleLayer], group: str) -> np.ndarray:
    """A boolean mask over `layers` of those in the named group (coarse, middle, fine)."""
    low, high = GROUPS[group]
    return np.array([low <= layer.resolution <= high for layer in layers])


class TorchStyleGAN(torch.nn.Module):
    """Differentiable MobileStyleGAN: z -> w (mapping), W+ -> image (synthesis)."""

    def __init__(
        self, model_dir: str | Path, device: str = "cpu", cache_dir: str | Path | None = None
    ) -> None:
        """`cache_dir` keeps the truncated synthesis heads (fitted once; default ~/.cache)."""
        super().__init__()
        model_dir = Path(model_dir)
        for name in (MAPPING, SYNTHESIS):
            for suffix in (".xml", ".bin"):
                if not (model_dir / f"{name}{suffix}").is_file():
                    raise GeneratorFilesError(f"missing {name}{suffix} in {model_dir}")
        self.model_dir = model_dir
        self.mapping = IRModule(model_dir / f"{MAPPING}.xml")
        self.synthesis = IRModule(model_dir / f"{SYNTHESIS}.xml")
        self.layers = style_layers(self.synthesis)
        self._style_param = self.synthesis.parameters_[0].name
        self._mapping_param = self.mapping.parameters_[0].name
        self.device_name = device
        self.to(device)
        self.requires_grad_(False)
        self._w_avg: torch.Tensor | None = None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._heads: dict[int, TruncatedHead] = {}
        self._blocks = block_outputs(self.synthesis)
        self._active: dict[int, int] = {}

    @property
    def num_layers(self) -> int:
        """How many per-layer styles W+ has."""
        return len(self.layers)

    @property
    def layer_resolutions(self) -> list[int]:
        """The resolution each W+ layer modulates, coarse to fine."""
        return [layer.resolution for layer in self.layers]

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network: z (N, 512) -> w (N, 512)."""
        return next(iter(self.mapping.run({self._mapping_param: z.to(self.device_name)}).values()))

    def w_average(self) -> torch.Tensor:
        """The mean w (1, 512), the truncation centre, as ml.generator computes it; cached."""
        if self._w_avg is None:
            from ml.generator.base import MEAN_W_SAMPLES, MEAN_W_SEED

            z = np.random.RandomState(MEAN_W_SEED).randn(MEAN_W_SAMPLES, W_DIM)
            with torch.no_grad():
                total = sum(
                    self.map(torch.from_numpy(z[i : i + 512].astype(np.float32))).sum(dim=0)
                    for i in range(0, MEAN_W_SAMPLES, 512)
                )
            self._w_avg = (total / MEAN_W_SAMPLES)[None]
        return self._w_avg

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w (N, 512) -> W+ (N, layers, 512) with the same w on every layer."""
        return w[:, None, :].expand(-1, self.num_layers, -1)

    def synthesize(self, w_plus: torch.Tensor) -> torch.Tensor:
        """W+ (N, layers, 512) -> image (N, 3, 1024, 1024), RGB in [-1, 1], as the IR."""
        if w_plus.dim() != 3 or w_plus.shape[1:] != (self.num_layers, W_DIM):
            raise ValueError(f"W+ must be (N, {self.num_layers}, {W_DIM}), got {w_plus.shape}")
        w_plus = w_plus.to(self.device_name)
        outputs = self.synthesis.run(
            {self._style_param: w_plus[:, 0]}, per_consumer=self._per_layer(w_plus)
        )
        return next(iter(outputs.values()))

    def _per_layer(self, w_plus: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        per_layer = {layer.node_id: w_plus[:, i] for i, layer in enumerate(self.layers)}
        return {self._style_param: per_layer}

    def synthesize_with_taps(
        self, w_plus: torch.Tensor, taps: set[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The 1024 px image and the outputs of the synthesis nodes in `taps` (by id)."""
        w_plus = w_plus.to(self.device_name)
        outputs = self.synthesis.run(
            {self._style_param: w_plus[:, 0]}, per_consumer=self._per_layer(w_plus), taps=taps
        )
        image = outputs.pop(self.synthesis.results[0].name)
        return image, outputs

    def head(self, size: int) -> TruncatedHead:
        """The refitted "to image" head for `size` px (fitted and cached on first use)."""
        if size not in self._heads:
            self._heads[size] = TruncatedHead.cached(self, size, self.cache_dir)
        return self._heads[size]

    def active_layers(self, resolution: int) -> int:
        """How many W+ layers (coarse first) a rendering at `resolution` depends on."""
        size = head_size(resolution)
        if size is None:
            return self.num_layers
        if size not in self._active:
            needed = self.synthesis.needed({self._blocks[size // 2]})
            count = sum(layer.node_id in needed for layer in self.layers)
            if any(layer.node_id in needed for layer in self.layers[count:]):
                raise GeneratorFilesError("style layers are not ordered coarse to fine")
            self._active[size] = count
        return self._active[size]

    def synthesize_at(self, w_plus: torch.Tensor, resolution: int) -> torch.Tensor:
        """W+ -> image (N, 3, resolution, resolution) in [-1, 1], differentiable.

        Up to 256 px the synthesis stops at the block at half the head size and a refitted head
        (ml/stylemix/truncated.py) makes the image, which approximates the full output
        downscaled when the layers from `active_layers(resolution)` on are the average w (they
        are not used; the head was fitted so); 257...1024 px run the full network and
        area-downscale it (exact).
        """
        size = head_size(resolution)
        if size is None:
            return downsample(self.synthesize(w_plus), resolution)
        if w_plus.dim() != 3 or w_plus.shape[1:] != (self.num_layers, W_DIM):
            raise ValueError(f"W+ must be (N, {self.num_layers}, {W_DIM}), got {w_plus.shape}")
        w_plus = w_plus.to(self.device_name)
        block = self._blocks[size // 2]
        features = self.synthesis.run(
            {self._style_param: w_plus[:, 0]},
            per_consumer=self._per_layer(w_plus),
            stop_at={block},
        )[block]
        return downsample(self.head(size).apply(features), resolution)


def to_rgb01(image: torch.Tensor) -> torch.Tensor:
    """Generator output ([-1, 1]) -> [0, 1] (not clamped, so gradients flow)."""
    return (image + 1.0) * 0.5


def downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    """Area-downsample (N, C, H, W) to size x size (identity when already that size)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image, size=(size, size), mode="area")


def to_uint8_rgb(image: torch.Tensor) -> np.ndarray:
    """One generator output (1, 3, H, W) -> an HxWx3 uint8 RGB array."""
    rgb = to_rgb01(image)[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return (rgb * 255.0 + 0.5).astype(np.uint8)
