"""Following faces through a video: a box tracker (constant-velocity prediction, IoU and
centre-distance matching, coasting over missed detections) and the One-Euro filter that steadies
per-frame measurements (landmarks) without lagging behind fast motion."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.boxes import iou

Box = tuple[int, int, int, int]  # (x, y, w, h) in pixels


@dataclass(frozen=True)
class Track:
    """A tracked face in the current frame; `detected` is false while the track coasts."""

    id: int
    box: Box
    detected: bool
    index: int | None = None  # position of the matched box in update()'s input, if detected
    missed: int = 0  # frames in a row without a detection


@dataclass
class _TrackState:
    id: int
    box: np.ndarray  # float (x, y, w, h)
    velocity: np.ndarray  # float (dx, dy) per frame of the box centre
    missed: int = 0
    hits: int = 1


class FaceTracker:
    """Gives face boxes stable integer ids across frames (IoU, then centre distance).

    A track that finds no box coasts for `max_coast` frames: it moves on with its last velocity and
    is still reported (detected=False), so a face that the detector missed in a frame or two is
    still blurred, replaced or swapped there. Boxes that match no track start new tracks.
    """

    def __init__(
        self,
        max_coast: int = 5,
        min_iou: float = 0.2,
        max_centre_distance: float = 0.6,
        coast_growth: float = 0.05,
    ) -> None:
        """`max_centre_distance` is in box sizes; a coasting box grows by `coast_growth` a frame."""
        if max_coast < 0:
            raise ValueError("max_coast must be >= 0")
        self.max_coast = int(max_coast)
        self.min_iou = float(min_iou)
        self.max_centre_distance = float(max_centre_distance)
        self.coast_growth = float(coast_growth)
        self._tracks: list[_TrackState] = []
        self._next_id = 0

    def update(self, boxes: Sequence[Sequence[float]]) -> list[Track]:
        """Match this frame's boxes to the tracks; return every live track, oldest first."""
        detections = [np.asarray(box, dtype=np.float64)[:4] for box in boxes]
        predicted = [state.box + np.r_[state.velocity, 0.0, 0.0] for state in self._tracks]
        pairs = _match(predicted, detections, self.min_iou, self.max_centre_distance)
        matched_tracks = {t for t, _ in pairs}
        matched_boxes: dict[int, int] = {}
        for t, d in pairs:
            state = self._tracks[t]
            new_box = detections[d]
            step = _centre(new_box) - _centre(state.box)
            # Smooth the velocity a little; a fresh track takes the first step as it is.
            state.velocity = step if state.hits == 1 else 0.5 * state.velocity + 0.5 * step
            state.box = new_box
            state.missed = 0
            state.hits += 1
            matched_boxes[state.id] = d
        survivors: list[_TrackState] = []
        for t, state in enumerate(self._tracks):
            if t not in matched_tracks:
                state.missed += 1
                if state.missed > self.max_coast:
                    continue
                grow = self.coast_growth * state.box[2:]
                state.box = np.r_[state.box[:2] + state.velocity - grow / 2, state.box[2:] + grow]
            survivors.append(state)
        taken = {d for _, d in pairs}
        for d, box in enumerate(detections):
            if d not in taken:
                state = _TrackState(self._next_id, box, np.zeros(2))
                self._next_id += 1
                survivors.append(state)
                matched_boxes[state.id] = d
        self._tracks = survivors
        return [
            Track(
                id=state.id,
                box=_int_box(state.box),
                detected=state.missed == 0,
                index=matched_boxes.get(state.id),
                missed=state.missed,
            )
            for state in self._tracks
        ]

    def reset(self) -> None:
        """Forget every track (ids keep increasing)."""
        self._tracks = []


def _match(
    tracks: list[np.ndarray],
    boxes: list[np.ndarray],
    min_iou: float,
    max_centre_distance: float,
) -> list[tuple[int, int]]:
    """Optimal one-to-one matching: IoU first, then closeness of the centres."""
    if not tracks or not boxes:
        return []
    from scipy.optimize import linear_sum_assignment

    cost = np.full((len(tracks), len(boxes)), 10.0)
    for t, track in enumerate(tracks):
        for d, box in enumerate(boxes):
            overlap = iou(track, box)
            size = max(track[2], track[3], box[2], box[3], 1.0)
            distance = float(np.hypot(*(_centre(track) - _centre(box)))) / size
            if overlap >= min_iou:
                cost[t, d] = 1.0 - overlap  # in [0, 1 - min_iou]
            elif distance <= max_centre_distance:
                cost[t, d] = 1.0 + distance  # worse than any IoU match
    rows, cols = linear_sum_assignment(cost)
    return [(int(t), int(d)) for t, d in zip(rows, cols, strict=True) if cost[t, d] < 10.0]


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0])


def _int_box(box: np.ndarray) -> Box:
    x, y, w, h = (float(v) for v in box)
    left, top = math.floor(x), math.floor(y)
    return left, top, max(1, math.ceil(x + w) - left), max(1, math.ceil(y + h) - top)


class OneEuroFilter:
    """One-Euro filter (Casiez et al., CHI 2012) over arrays, per element.

    The cut-off frequency is `min_cutoff + beta * |speed|`, speed in `scale` units per second:
    slow jitter is smoothed hard, fast motion passes with little lag.
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 8.0,
        d_cutoff: float = 1.0,
        scale: float = 1.0,
    ) -> None:
        """Cut-offs in Hz; `scale` (e.g. the face size in pixels) makes `beta` size-free."""
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.scale = max(float(scale), 1e-6)
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the value `x` observed at time `t` (seconds)."""
        x = np.asarray(x, dtype=np.float64) / self.scale
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return (x * self.scale).astype(np.float32)
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = _smoothing_factor(dt, self.d_cutoff)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _smoothing_factor(dt, cutoff)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return (self._x * self.scale).astype(np.float32)


def _smoothing_factor(dt: float, cutoff: float | np.ndarray) -> float | np.ndarray:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)
