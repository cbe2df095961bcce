"""Colorize a grey photo: seeds from hints, a reference photo, a model or a face prior, propagated.

Every source of colour becomes seeds on the solve grid; the user's strokes win over everything
near them, then face seeds, then the reference's and the model's. One sparse solve spreads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .color import ColourReport, colour_report, lab_to_rgb, rgb_to_lab
from .errors import RestoreError
from .hints import Stroke, check_strokes_inside, rasterise
from .model_slot import OnnxColorizer
from .propagation import DEFAULT_SOLVE_SIDE, Seeds, propagate, solve_size, upsample_chroma
from .reference import Box, reference_seeds

Progress = Callable[[float, str], None]
#: Seeds taken from a dense chroma prediction (model) every this many grid cells.
MODEL_SEED_STRIDE = 4
#: Around the user's strokes, other sources' seeds are dropped within this fraction of the grid.
HINT_CLEARANCE = 0.04


@dataclass
class ColorizeResult:
    """The colorized photo and what went into it."""

    rgb: np.ndarray
    report: ColourReport
    skipped: bool = False
    sources: list[str] = field(default_factory=list)
    seed_count: int = 0


def _noop(_fraction: float, _stage: str) -> None:
    return None


def dense_seeds(ab: np.ndarray, stride: int = MODEL_SEED_STRIDE) -> Seeds:
    """Seeds every `stride` cells from a dense chroma map on the solve grid."""
    seeds = Seeds.empty(ab.shape[:2])
    seeds.mask[stride // 2 :: stride, stride // 2 :: stride] = True
    seeds.ab = np.where(seeds.mask[..., None], ab, 0).astype(np.float32)
    return seeds


def colorize(
    rgb: np.ndarray,
    strokes: list[Stroke] | None = None,
    reference: np.ndarray | None = None,
    faces: tuple[Box | None, Box | None] = (None, None),
    model: OnnxColorizer | None = None,
    face_seeds: Callable[[np.ndarray, tuple[int, int]], Seeds | None] | None = None,
    recolour: bool = True,
    saturation: float = 1.0,
    solve_side: int = DEFAULT_SOLVE_SIDE,
    progress: Progress | None = None,
) -> ColorizeResult:
    """Colorize `rgb` (uint8 RGB) from the given colour sources; keep its luminance.

    `faces` holds the face box (fractions of the size) of the photo and of the reference, when
    known: the reference's colours are then matched by position relative to the face.
    """
    progress = progress or _noop
    strokes = strokes or []
    report = colour_report(rgb)
    if report.is_colour and not recolour:
        return ColorizeResult(rgb.copy(), report, skipped=True)
    height, width = rgb.shape[:2]
    check_strokes_inside(strokes, width, height)
    lightness = rgb_to_lab(rgb)[:, :, 0]
    grid = solve_size((height, width), solve_side)
    small_l = cv2.resize(lightness, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)

    seeds = Seeds.empty(grid)
    sources: list[str] = []
    if model is not None:
        progress(0.05, "model")
        seeds = seeds.overlay(dense_seeds(model.predict_ab(small_l)))
        sources.append("model")
    if reference is not None:
        progress(0.15, "reference")
        seeds = seeds.overlay(reference_seeds(small_l, reference, *faces))
        sources.append("reference")
    if face_seeds is not None:
        progress(0.25, "faces")
        found = face_seeds(rgb, grid)
        if found is not None and found.count:
            seeds = seeds.overlay(found)
            sources.append("faces")
    if strokes:
        hinted = rasterise(strokes, (height, width), grid)
        radius = max(1, round(HINT_CLEARANCE * max(grid)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        near = cv2.dilate(hinted.mask.astype(np.uint8), kernel).astype(bool)
        seeds.mask &= ~near
        seeds = seeds.overlay(hinted)
        sources.append("hints")
    if seeds.count == 0:
        looked = "No face could be coloured automatically. " if face_seeds is not None else ""
        raise RestoreError(
            f"{looked}Nothing to take colour from: paint colour hints, give a reference colour "
            "photo, or install a colorizer model.",
            "no_colour_source",
        )
    progress(0.4, "propagate")
    ab = propagate(small_l, seeds)
    progress(0.85, "upsample")
    ab = upsample_chroma(ab, lightness) * float(saturation)
    lab = np.dstack([lightness, ab]).astype(np.float32)
    out = lab_to_rgb(lab)
    progress(1.0, "done")
    return ColorizeResult(out, report, sources=sources, seed_count=seeds.count)
