"""Studio effects: one module per effect on the contract in `base.py`, found by `registry.py`."""

from webapp.studio.effects.registry import all_effects, effect_named, face_effects, model_loader
from webapp.studio.effects.schema import ParamError

__all__ = ["ParamError", "all_effects", "effect_named", "face_effects", "model_loader"]
