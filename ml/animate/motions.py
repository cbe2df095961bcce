"""Built-in procedural motions for a living portrait: look around, nod, smile, blink, tilt.

Each motion is a few eased keyframe curves and slow sums of sines for head pose and expression,
with amplitudes, timings and phases drawn from a seeded generator, so two animations of the same
photo differ while each stays natural. Every motion starts and ends at rest and has blinks every
2-5 s (the eye blinks about 15-20 times a minute, a blink lasting about 0.25 s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml.animate.rig import Expression, Pose

MOTIONS = ("portrait", "look_around", "nod", "smile", "blink", "tilt")
MIN_SECONDS, MAX_SECONDS = 1.0, 30.0


class MotionError(ValueError):
    """An unknown motion or a length out of range."""

    code = "bad_motion"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def motion_track(
    motion: str, seconds: float, fps: float, seed: int | None = None
) -> list[tuple[Pose, Expression]]:
    """Per-frame (pose, expression) for `motion`, `seconds` long at `fps`."""
    if motion not in MOTIONS:
        raise MotionError(f"Unknown motion {motion!r}; choose one of {', '.join(MOTIONS)}.")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise MotionError(f"The length must be {MIN_SECONDS:g}-{MAX_SECONDS:g} seconds.")
    rng = np.random.default_rng(seed)
    frames = max(1, round(seconds * fps))
    t = np.arange(frames) / fps
    curves = _BUILDERS[motion](t, seconds, rng)
    envelope = _rest_envelope(t, seconds)
    blink = _blinks(t, seconds, rng)
    track = []
    for i in range(frames):
        c = {k: float(v[i]) for k, v in curves.items()}
        e = float(envelope[i])
        pose = Pose(
            yaw=e * c.get("yaw", 0.0),
            pitch=e * c.get("pitch", 0.0),
            roll=e * c.get("roll", 0.0),
            scale=1.0 + e * c.get("scale", 0.0),
        ).clamped()
        closed = max(float(blink[i]), c.get("blink", 0.0))
        expression = Expression(
            blink_left=closed,
            blink_right=closed,
            smile=e * c.get("smile", 0.0),
            jaw=e * c.get("jaw", 0.0),
            brows=e * c.get("brows", 0.0),
        )
        track.append((pose, expression))
    return track


def _rest_envelope(t: np.ndarray, seconds: float) -> np.ndarray:
    """1 in the middle, easing from and back to 0 over 0.5 s at each end."""
    ramp = min(0.5, seconds / 4)
    return _ease(np.clip(t / ramp, 0, 1)) * _ease(np.clip((seconds - t) / ramp, 0, 1))


def _ease(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _keyframes(t: np.ndarray, times: list[float], values: list[float]) -> np.ndarray:
    """Cosine-eased interpolation through (time, value) keyframes."""
    times_a, values_a = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
    k = np.clip(np.searchsorted(times_a, t, side="right") - 1, 0, len(times_a) - 2)
    span = np.maximum(times_a[k + 1] - times_a[k], 1e-6)
    f = _ease((t - times_a[k]) / span)
    return values_a[k] * (1 - f) + values_a[k + 1] * f


def _drift(t: np.ndarray, rng: np.random.Generator, amplitude: float, base_hz: float) -> np.ndarray:
    """A slow wandering curve: three sines of random phase and nearby frequencies."""
    out = np.zeros_like(t)
    for k in range(3):
        hz = base_hz * (1 + 0.6 * k) * rng.uniform(0.8, 1.25)
        out += amplitude / (k + 1) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    return out / 1.5


def _blinks(t: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(t)
    start = rng.uniform(0.6, 1.8)
    while start < seconds - 0.3:
        length = rng.uniform(0.2, 0.3)
        phase = np.clip((t - start) / length, 0.0, 1.0)
        out = np.maximum(out, np.sin(np.pi * phase) ** 1.5 * (phase > 0) * (phase < 1))
        start += rng.uniform(2.0, 5.0)
    return out


def _portrait(t, seconds, rng) -> dict[str, np.ndarray]:
    """The default living portrait: a gentle wander of the head, a smile that comes and goes."""
    smile_at = rng.uniform(0.35, 0.55) * seconds
    return {
        "yaw": _drift(t, rng, rng.uniform(7, 10), 0.12),
        "pitch": _drift(t, rng, rng.uniform(3, 5), 0.15),
        "roll": _drift(t, rng, rng.uniform(2.5, 4), 0.1),
        "smile": rng.uniform(0.4, 0.7)
        * _keyframes(
            t,
            [0, smile_at - 0.8, smile_at, smile_at + 1.2, smile_at + 2.2, 1e9],
            [0, 0, 1, 1, 0, 0],
        ),
        "brows": _drift(t, rng, 0.25, 0.2),
    }


def _look_around(t, seconds, rng) -> dict[str, np.ndarray]:
    side = rng.choice([-1.0, 1.0])
    amp = rng.uniform(11, 15)
    q = seconds / 4
    times = [0, q * rng.uniform(0.8, 1.0), q * 2 * rng.uniform(0.95, 1.05), q * 3, seconds]
    return {
        "yaw": _keyframes(t, times, [0, side * amp, side * amp * 0.3, -side * amp, 0]),
        "pitch": _drift(t, rng, 3.0, 0.2),
        "roll": _keyframes(t, times, [0, side * 3, 0, -side * 3, 0]),
        "brows": 0.3 * _keyframes(t, times, [0, 1, 0, 1, 0]),
    }


def _nod(t, seconds, rng) -> dict[str, np.ndarray]:
    nods = max(1, round(seconds / rng.uniform(1.4, 1.9)))
    hz = nods / seconds
    return {
        "pitch": rng.uniform(7, 10) * np.sin(2 * np.pi * hz * t) ** 2,
        "yaw": _drift(t, rng, 2.5, 0.15),
        "smile": np.full_like(t, rng.uniform(0.1, 0.3)),
    }


def _smile(t, seconds, rng) -> dict[str, np.ndarray]:
    rise = rng.uniform(0.2, 0.3) * seconds
    fall = rng.uniform(0.7, 0.8) * seconds
    shape = _keyframes(t, [0, rise, rise + 0.6, fall, fall + 0.8, 1e9], [0, 0, 1, 1, 0, 0])
    return {
        "smile": rng.uniform(0.8, 1.0) * shape,
        "jaw": rng.uniform(0.0, 0.12) * shape,
        "pitch": -2.0 * shape + _drift(t, rng, 1.5, 0.2),
        "yaw": _drift(t, rng, 4.0, 0.12),
        "roll": rng.choice([-1.0, 1.0]) * 4.0 * shape,
    }


def _blink(t, seconds, rng) -> dict[str, np.ndarray]:
    extra = np.zeros_like(t)
    for start in np.arange(rng.uniform(0.3, 0.6), seconds - 0.3, rng.uniform(0.9, 1.3)):
        phase = np.clip((t - start) / 0.25, 0.0, 1.0)
        extra = np.maximum(extra, np.sin(np.pi * phase) ** 1.5)
    return {"blink": extra, "yaw": _drift(t, rng, 3.0, 0.1), "pitch": _drift(t, rng, 2.0, 0.1)}


def _tilt(t, seconds, rng) -> dict[str, np.ndarray]:
    side = rng.choice([-1.0, 1.0])
    mid = seconds / 2
    return {
        "roll": _keyframes(
            t,
            [0, mid * 0.5, mid * 1.1, mid * 1.6, seconds],
            [0, side * rng.uniform(10, 14), side * 8, -side * 6, 0],
        ),
        "yaw": _drift(t, rng, 3.0, 0.12),
        "smile": 0.3 * _keyframes(t, [0, mid * 0.5, mid * 1.6, seconds], [0, 1, 1, 0]),
    }


_BUILDERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "portrait": _portrait,
    "look_around": _look_around,
    "nod": _nod,
    "smile": _smile,
    "blink": _blink,
    "tilt": _tilt,
}
