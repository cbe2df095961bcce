"""The effect registry: every `Effect` subclass in this package, found by importing its modules,
and the loaders of the models they need (each loaded by a worker on first use).

A new effect is one module here with one `Effect` subclass (and `model_loader` functions for its
models); nothing else is edited to list it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from webapp.errors import AppError
from webapp.studio.effects.base import Effect

NOT_EFFECT_MODULES = {"base", "registry", "schema"}
_effects: dict[str, Effect] = {}
MODEL_LOADERS: dict[str, Callable[[Any], Any]] = {}


def model_loader(name: str):
    """Register `fn(registry) -> model` as the loader of model `name` (a decorator)."""

    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        known = MODEL_LOADERS.get(name)
        if known is not None and known is not fn and known.__qualname__ != fn.__qualname__:
            raise ValueError(f"two loaders for model {name!r}: {known} and {fn}")
        MODEL_LOADERS[name] = fn
        return fn

    return register


# Models shared by several effects (each effect module registers its own).


@model_loader("faces")
def load_faces(registry) -> Any:
    """The recognizer: MTCNN, FaceNet and the classifier, shared by every face effect."""
    from ml.recognition import FaceAnalyzer

    return FaceAnalyzer.from_model_dir(registry.model_dir)


@model_loader("face_mesh")
def load_face_mesh(registry) -> Any:
    """MediaPipe's face mesh, shared by the face effects."""
    from ml.face_mesh import FaceMesher

    return FaceMesher()


def _discover() -> dict[str, Effect]:
    from webapp.studio import effects as package

    found: dict[str, Effect] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name in NOT_EFFECT_MODULES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Effect)
                and value is not Effect
                and value.__module__ == module.__name__
                and value.name
            ):
                if value.name in found:
                    raise ValueError(f"two effects are called {value.name!r}")
                found[value.name] = value()
    return found


def all_effects() -> dict[str, Effect]:
    """Every registered effect by name (face_swap and anonymize first, then by name)."""
    if not _effects:
        found = _discover()
        order = ["face_swap", "anonymize"]
        _effects.update({n: found[n] for n in order if n in found})
        _effects.update({n: e for n, e in sorted(found.items()) if n not in order})
    return _effects


def effect_named(name: str | None) -> Effect:
    """The effect called `name`, or a 400 naming the ones there are."""
    effects = all_effects()
    effect = effects.get((name or "").strip())
    if effect is None:
        raise AppError(
            f"effect must be one of {', '.join(effects)}.",
            "unknown_effect" if name else "missing_effect",
        )
    return effect


def face_effects() -> dict[str, Effect]:
    """The effects that show face boxes to pick from."""
    return {name: effect for name, effect in all_effects().items() if effect.needs_faces}
