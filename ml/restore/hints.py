"""Colour hints painted by the user: strokes as JSON, checked, and rasterised as seeds.

A stroke is ``{"color": "#rrggbb", "points": [[x, y], ...], "width": w}`` in the photo's pixel
coordinates (after its EXIF orientation); one point makes a dot of diameter ``width``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from .color import hex_to_ab
from .errors import HintError
from .propagation import Seeds

MAX_STROKES = 500
MAX_POINTS = 5000
MAX_WIDTH = 400
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Stroke:
    """One painted stroke: its colour, polyline (photo pixels) and width (photo pixels)."""

    color: str
    points: tuple[tuple[float, float], ...]
    width: float


def parse_strokes(value: object) -> list[Stroke]:
    """Check a JSON list of strokes and return them, or raise HintError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise HintError("hints must be a list of strokes.")
    if len(value) > MAX_STROKES:
        raise HintError(f"At most {MAX_STROKES} strokes are accepted.")
    strokes = []
    for number, item in enumerate(value):
        where = f"hints[{number}]"
        if not isinstance(item, dict):
            raise HintError(f"{where} must be an object with color, points and width.")
        unknown = set(item) - {"color", "points", "width"}
        if unknown:
            raise HintError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        color = item.get("color")
        if not isinstance(color, str) or not _HEX.match(color):
            raise HintError(f"{where}.color must be a colour like '#a05030'.")
        width = item.get("width", 8)
        if isinstance(width, bool) or not isinstance(width, (int, float)):
            raise HintError(f"{where}.width must be a number of pixels.")
        if not 1 <= width <= MAX_WIDTH:
            raise HintError(f"{where}.width must be between 1 and {MAX_WIDTH} pixels.")
        points = item.get("points")
        if not isinstance(points, list) or not 1 <= len(points) <= MAX_POINTS:
            raise HintError(f"{where}.points must be a list of 1 to {MAX_POINTS} [x, y] pairs.")
        parsed = []
        for point in points:
            if (
                not isinstance(point, (list, tuple))
                or len(point) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in point)
                or any(v != v or abs(v) > 1e6 for v in point)
            ):
                raise HintError(f"{where}.points must be [x, y] pairs of numbers.")
            parsed.append((float(point[0]), float(point[1])))
        strokes.append(Stroke(color.lower(), tuple(parsed), float(width)))
    return strokes


def check_strokes_inside(strokes: list[Stroke], width: int, height: int) -> None:
    """Raise HintError when a stroke lies wholly outside a photo of this size."""
    for number, stroke in enumerate(strokes):
        pts = np.array(stroke.points)
        margin = stroke.width / 2
        inside = (
            (pts[:, 0] >= -margin)
            & (pts[:, 0] < width + margin)
            & (pts[:, 1] >= -margin)
            & (pts[:, 1] < height + margin)
        )
        if not inside.any():
            raise HintError(
                f"hints[{number}] lies outside the {width}x{height} photo.", "hints_outside"
            )


def rasterise(strokes: list[Stroke], photo_shape: tuple[int, int], grid: tuple[int, int]) -> Seeds:
    """Seeds on a `grid` (height, width) for strokes given in a photo of `photo_shape`."""
    scale_y = grid[0] / photo_shape[0]
    scale_x = grid[1] / photo_shape[1]
    seeds = Seeds.empty(grid)
    for stroke in strokes:
        a, b = hex_to_ab(stroke.color)
        layer = np.zeros(grid, np.uint8)
        pts = np.array([[x * scale_x, y * scale_y] for x, y in stroke.points])
        thickness = max(1, round(stroke.width * (scale_x + scale_y) / 2))
        shift = 4  # sub-pixel precision for OpenCV's drawing
        fixed = np.round(pts * (1 << shift)).astype(np.int32)
        if len(fixed) == 1:
            cv2.circle(layer, tuple(fixed[0]), (thickness << shift) // 2, 1, -1, cv2.LINE_8, shift)
        else:
            cv2.polylines(layer, [fixed], False, 1, thickness, cv2.LINE_8, shift)
        if not layer.any():
            # A stroke thinner than one grid cell still marks the cell it falls in.
            for x, y in pts:
                xi, yi = int(np.clip(x, 0, grid[1] - 1)), int(np.clip(y, 0, grid[0] - 1))
                layer[yi, xi] = 1
        painted = layer.astype(bool)
        seeds.mask |= painted
        seeds.ab[painted] = (a, b)
    return seeds
