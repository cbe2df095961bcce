"""The studio effects: their parameters (checked in the web process, before a job is queued) and
how a worker applies them to a photo, a video frame by frame, and finds faces for the page.

The models come from the worker's studio registry; each model object is used under its own
lock, taken per photo or per frame, so a quick face detection never waits for a whole video.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from webapp.errors import AppError

MAX_FACE_IDS = 500
ANONYMIZE_MODES = ("synthetic", "blur", "pixelate")
ANONYMIZE_FALLBACKS = ("blur", "pixelate", "none")


class ParamError(ValueError):
    """A job parameter that the effect cannot take."""

    def __init__(self, message: str, code: str = "bad_params") -> None:
        super().__init__(message)
        self.code = code


def _face_ids(params: dict, name: str) -> list[int] | None:
    """A list of face ids (non-negative integers) from `params[name]`, or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_FACE_IDS:
        raise ParamError(f"params.{name} must be a list of face ids (integers).")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise ParamError(f"params.{name} must be a list of face ids (integers, 0 or more).")
    return sorted(set(value))


def _no_other_keys(params: dict, allowed: set[str], effect: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParamError(
            f"{effect} does not take {', '.join(unknown)}; it takes {', '.join(sorted(allowed))}.",
            "unknown_param",
        )


def _faces_dicts(faces) -> list[dict]:
    """Faces as the API lists them: id, box [x, y, w, h] and score.

    A face without its own `id` is identified by its position in the list (largest first).
    """
    listed = []
    for position, face in enumerate(faces):
        x, y, w, h = (int(v) for v in face.box)
        face_id = getattr(face, "id", position)
        score = getattr(face, "score", getattr(face, "confidence", 1.0))
        listed.append({"id": int(face_id), "box": [x, y, w, h], "score": round(float(score), 4)})
    return listed


def _locked(lock, fn: Callable[[np.ndarray, int], np.ndarray]):
    """A per-frame function that holds the model's lock for each frame."""

    def frame(rgb: np.ndarray, index: int) -> np.ndarray:
        with lock:
            return fn(rgb, index)

    return frame


class Anonymize:
    """Replace every face but the kept ones with a synthetic face (or blur / pixelate them)."""

    name = "anonymize"
    needs_source = False

    def check_params(self, params: dict) -> dict:
        """`keep`: face ids to leave as they are (default none); `mode`: how to hide the rest;
        `fallback`: how to hide a face that gets no synthetic face (the face bank has too few
        people of its gender and age), default blur; "none" fails the job instead."""
        _no_other_keys(params, {"keep", "mode", "fallback"}, self.name)
        mode = params.get("mode", "synthetic")
        if mode not in ANONYMIZE_MODES:
            raise ParamError(f"params.mode must be one of {', '.join(ANONYMIZE_MODES)}.")
        fallback = params.get("fallback", "blur")
        if fallback not in ANONYMIZE_FALLBACKS:
            raise ParamError(f"params.fallback must be one of {', '.join(ANONYMIZE_FALLBACKS)}.")
        return {"keep": _face_ids(params, "keep") or [], "mode": mode, "fallback": fallback}

    def find_faces(self, models, rgb: np.ndarray) -> list[dict]:
        """The faces this effect sees, with the ids `keep` refers to."""
        with models.lock(self.name):
            return _faces_dicts(models.get(self.name).detect(rgb))

    def apply_image(self, models, rgb, params: dict, source) -> tuple[np.ndarray, dict]:
        """Anonymize a photo; returns the image and what was replaced and kept."""
        with models.lock(self.name):
            result = models.get(self.name).anonymize_image(
                rgb, keep_ids=params["keep"], mode=params["mode"], fallback=_fallback(params)
            )
        return result.image, {
            "replaced_ids": list(result.replaced_ids),
            "kept_ids": list(result.kept_ids),
            "mode": params["mode"],
            **result.details,
        }

    def video_function(
        self, models, params: dict, source, fps: float
    ) -> tuple[Callable, Callable[[], dict]]:
        """A per-frame function for transform_video, and its report once the video is done."""
        from ml.anonymize import VideoAnonymizer

        anonymizer = VideoAnonymizer(
            models.get(self.name), params["keep"], params["mode"], fallback=_fallback(params)
        )

        def report() -> dict:
            return {"mode": params["mode"], **anonymizer.stats}

        return _locked(models.lock(self.name), anonymizer), report


class FaceSwap:
    """Put the source photo's face onto the chosen faces of the target photo or video."""

    name = "face_swap"
    needs_source = True

    def check_params(self, params: dict) -> dict:
        """`consent`: must be true; `targets`: face ids to swap (default every face)."""
        _no_other_keys(params, {"consent", "targets"}, self.name)
        if params.get("consent") is not True:
            raise ParamError(
                "face_swap needs params.consent: true, confirming that you have the consent of "
                "the person whose face you put in.",
                "consent_required",
            )
        return {"consent": True, "targets": _face_ids(params, "targets")}

    def find_faces(self, models, rgb: np.ndarray) -> list[dict]:
        """The target faces this effect sees, with the ids `targets` refers to."""
        with models.lock(self.name):
            return _faces_dicts(models.get(self.name).detect(rgb))

    def apply_image(self, models, rgb, params: dict, source) -> tuple[np.ndarray, dict]:
        """Swap the source face into a photo."""
        with models.lock(self.name):
            result = models.get(self.name).swap_image(source, rgb, target_ids=params["targets"])
        return result.image, {"swapped_ids": list(result.swapped_ids)}

    def video_function(
        self, models, params: dict, source, fps: float
    ) -> tuple[Callable, Callable[[], dict]]:
        """A per-frame function for transform_video, and its report once the video is done."""
        from ml.face_swap import VideoSwapper

        with models.lock(self.name):
            swapper = VideoSwapper(models.get(self.name), source, params["targets"], fps=fps)

        def report() -> dict:
            frames = swapper.swapped_per_frame
            return {
                "frames": len(frames),
                "frames_with_a_swap": sum(1 for swapped in frames if swapped),
                "swapped_tracks": sorted({track for swapped in frames for track in swapped}),
            }

        return _locked(models.lock(self.name), swapper), report


def _fallback(params: dict) -> str | None:
    """The anonymizer's fallback for faces without a synthetic face (None: fail instead)."""
    fallback = params.get("fallback", "blur")
    return None if fallback == "none" else fallback


EFFECTS: dict[str, Any] = {effect.name: effect for effect in (FaceSwap(), Anonymize())}


def effect_named(name: str | None):
    """The effect called `name`, or a 400 naming the ones there are."""
    effect = EFFECTS.get((name or "").strip())
    if effect is None:
        raise AppError(
            f"effect must be one of {', '.join(EFFECTS)}.",
            "unknown_effect" if name else "missing_effect",
        )
    return effect
