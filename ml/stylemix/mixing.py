"""Style mixing of two W+ latents by layer group, with a strength per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ml.stylemix.generator import GROUPS, StyleLayer, layer_mask

# Presets for the "which layers mix" choice: the strength of the other face (B) per group.
PRESETS: dict[str, dict[str, float]] = {
    "coarse": {"coarse": 1.0, "middle": 0.0, "fine": 0.0},  # B's pose and face shape
    "middle": {"coarse": 0.0, "middle": 1.0, "fine": 0.0},  # B's features and hair
    "fine": {"coarse": 0.0, "middle": 0.0, "fine": 1.0},  # B's colours and texture
    "coarse_middle": {"coarse": 1.0, "middle": 1.0, "fine": 0.0},
    "middle_fine": {"coarse": 0.0, "middle": 1.0, "fine": 1.0},
}


def mix_strengths(layers: Sequence[StyleLayer], strengths: Mapping[str, float]) -> np.ndarray:
    """Per-layer share of B (0 = all A, 1 = all B) from per-group strengths."""
    unknown = set(strengths) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown layer groups: {sorted(unknown)}")
    share = np.zeros(len(layers), dtype=np.float32)
    for group, value in strengths.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"strength of {group} must be 0...1")
        share[layer_mask(layers, group)] = value
    return share


def mix(
    w_a: np.ndarray,
    w_b: np.ndarray,
    layers: Sequence[StyleLayer],
    strengths: Mapping[str, float],
) -> np.ndarray:
    """W+ whose layers move from A towards B by each group's strength (linear in W)."""
    a, b = np.asarray(w_a, dtype=np.float32), np.asarray(w_b, dtype=np.float32)
    if a.shape != (len(layers), a.shape[-1]) or b.shape != a.shape:
        raise ValueError(f"latents must both be ({len(layers)}, 512), got {a.shape} and {b.shape}")
    share = mix_strengths(layers, strengths)[:, None]
    return a * (1.0 - share) + b * share
