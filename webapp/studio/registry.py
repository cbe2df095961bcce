"""The studio worker's model registry: models load on first use, each with its own lock.

Web workers never load these; `flask studio worker` puts this registry in its app in place of the
web one, so `current_models()` (and with it `recognize`, which pre-marks employees' faces) works
inside jobs too. At start the worker loads only the shared recognizer ("faces"); an effect's
models (its `models`, loaded by the `model_loader` functions of the effect modules) load when a
job or a face search first needs them.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from webapp.registry import ModelRegistry, ModelsNotReady
from webapp.studio.effects.registry import MODEL_LOADERS, all_effects

log = logging.getLogger(__name__)


class StudioRegistry(ModelRegistry):
    """The recognizer at start; every other model on first use, each with a lock."""

    def __init__(self) -> None:
        super().__init__()
        self._locks: dict[str, threading.Lock] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.threshold = 0.45
        self.model_seconds: dict[str, float] = {}

    def init_app(self, app) -> None:
        """Become this app's registry (in the worker process only)."""
        self.model_dir = Path(app.config["MODEL_DIR"])
        self.facebank_dir = Path(app.config.get("FACEBANK_DIR") or self.model_dir / "facebank")
        self.device_preference = app.config["DEVICE"]
        self.threshold = float(app.config["RECOGNITION_THRESHOLD"])
        app.extensions["model_registry"] = self

    def _load_models(self) -> None:
        from ml.device import select_device

        if self.model_dir is None:
            raise ModelsNotReady("the registry was not bound to an app")
        all_effects()  # import every effect module, so their model loaders are known
        self.device = select_device(self.device_preference, ("tensorflow", "onnxruntime"))
        self._load("faces")

    def _load(self, name: str) -> Any:
        with self._guard:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            if name in self._models:
                return self._models[name]
            loader = MODEL_LOADERS.get(name)
            if loader is None:
                raise ModelsNotReady(f"no loader for model {name!r}")
            started = time.perf_counter()
            model = loader(self)
            self.model_seconds[name] = round(time.perf_counter() - started, 2)
            with self._guard:
                self._locks.setdefault(name, threading.Lock())
                self._models[name] = model
            log.info("studio model %s loaded in %.1f s", name, self.model_seconds[name])
            return model

    def model(self, name: str) -> Any:
        """Model `name`, loaded now if this is its first use."""
        if not self.ready:
            raise ModelsNotReady(self.error or "models are still loading")
        model = self._models.get(name)
        return model if model is not None else self._load(name)

    def get(self, name: str) -> Any:
        """Like `model` (kept for callers of the web registry's interface)."""
        return self.model(name)

    def lock(self, name: str) -> threading.Lock:
        """The lock to hold while using model `name` (one user at a time)."""
        if not self.ready:
            raise ModelsNotReady(self.error or "models are still loading")
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())
