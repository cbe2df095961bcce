"""Colorization by optimization (Levin, Lischinski and Weiss, SIGGRAPH 2004).

Neighbouring pixels of similar luminance get similar chroma: each free pixel's (a, b) is the
affinity-weighted mean of its 3x3 neighbours', seeded pixels keep their chroma, and the sparse
linear system is solved once (one LU factorisation, two right-hand sides). Large photos are
solved at a reduced size and the chroma is brought back to full size by a guided filter on the
full-size luminance, so colour edges follow the photo's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

#: Longest side of the grid the sparse system is solved on.
DEFAULT_SOLVE_SIDE = 256

_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


@dataclass
class Seeds:
    """Pixels whose chroma is known (on some grid): a mask and the (a, b) there."""

    mask: np.ndarray  # bool HxW
    ab: np.ndarray  # float32 HxWx2

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Seeds:
        """No seeds on a grid of `shape`."""
        return cls(np.zeros(shape, bool), np.zeros((*shape, 2), np.float32))

    def overlay(self, other: Seeds) -> Seeds:
        """These seeds with `other`'s laid on top (other wins where both have a seed)."""
        mask = self.mask | other.mask
        ab = np.where(other.mask[..., None], other.ab, self.ab)
        return Seeds(mask, ab.astype(np.float32))

    @property
    def count(self) -> int:
        """How many seeded pixels."""
        return int(self.mask.sum())


def solve_size(shape: tuple[int, int], max_side: int = DEFAULT_SOLVE_SIDE) -> tuple[int, int]:
    """(height, width) of the solve grid for a photo of `shape`."""
    height, width = shape[:2]
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def affinity_matrix(lightness: np.ndarray, seed_mask: np.ndarray) -> sparse.csc_matrix:
    """The system matrix: identity rows at seeds, (I - W) rows elsewhere (Levin et al. 2004)."""
    height, width = lightness.shape
    y = lightness.astype(np.float64) / 100.0
    padded = np.pad(y, 1, mode="constant", constant_values=np.nan)
    neighbours = np.stack(
        [padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in _OFFSETS]
    )
    valid = ~np.isnan(neighbours)
    window = np.concatenate([neighbours, y[None]], axis=0)
    window_valid = np.concatenate([valid, np.ones((1, height, width), bool)], axis=0)
    count = window_valid.sum(axis=0)
    mean = np.where(window_valid, window, 0).sum(axis=0) / count
    variance = np.where(window_valid, (window - mean) ** 2, 0).sum(axis=0) / count
    diff2 = np.where(valid, (neighbours - y[None]) ** 2, np.inf)
    # The variance scale of the authors' code: 0.6 x window variance, but never so small that
    # every neighbour's weight vanishes, and never below 2e-6.
    sigma = np.maximum(variance * 0.6, -diff2.min(axis=0) / np.log(0.01))
    sigma = np.maximum(sigma, 2e-6)
    weights = np.where(valid, np.exp(-diff2 / sigma[None]), 0.0)
    weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-12)

    index = np.arange(height * width).reshape(height, width)
    padded_index = np.pad(index, 1, mode="constant", constant_values=-1)
    free = ~seed_mask
    rows, cols, vals = [index.ravel()], [index.ravel()], [np.ones(height * width)]
    for k, (dy, dx) in enumerate(_OFFSETS):
        neighbour_index = padded_index[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        use = valid[k] & free
        rows.append(index[use])
        cols.append(neighbour_index[use])
        vals.append(-weights[k][use])
    size = height * width
    matrix = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    return matrix


def propagate(lightness: np.ndarray, seeds: Seeds) -> np.ndarray:
    """Chroma (HxWx2 float32) on the grid of `lightness`, propagated from `seeds`."""
    if seeds.mask.shape != lightness.shape:
        raise ValueError("seeds and lightness must be on the same grid")
    if seeds.count == 0:
        return np.zeros((*lightness.shape, 2), np.float32)
    matrix = affinity_matrix(lightness, seeds.mask)
    rhs = np.where(seeds.mask[..., None], seeds.ab, 0.0).reshape(-1, 2).astype(np.float64)
    solution = splu(matrix, permc_spec="COLAMD").solve(rhs)
    return solution.reshape(*lightness.shape, 2).astype(np.float32)


def upsample_chroma(ab_small: np.ndarray, lightness_full: np.ndarray) -> np.ndarray:
    """Bring solved chroma to full size, its edges snapped to the full-size luminance."""
    height, width = lightness_full.shape
    if ab_small.shape[:2] == (height, width):
        return ab_small
    scale = max(height, width) / max(ab_small.shape[:2])
    ab = cv2.resize(ab_small, (width, height), interpolation=cv2.INTER_LINEAR)
    guide = (lightness_full / 100.0).astype(np.float32)
    radius = max(2, round(scale * 1.5))
    filtered = [
        cv2.ximgproc.guidedFilter(guide, np.ascontiguousarray(ab[:, :, c]), radius, 1e-3)
        for c in range(2)
    ]
    return np.stack(filtered, axis=-1).astype(np.float32)
