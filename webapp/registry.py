"""Model registry: loads the ML models once per process (after the fork) and hands them out."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class ModelsNotReady(RuntimeError):
    """The models are still loading (or failed to load)."""


class ModelRegistry:
    """Holds the loaded models of this process; `ready` is false until `load()` has finished."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self.device: dict[str, str] = {}
        self.load_seconds: float | None = None
        self.model_dir: Path | None = None
        self.device_preference = "auto"
        self.recognition_views = "box"
        self.recognition_runtime = "auto"
        self.recognition_precision = "f32"
        self.recognition_model = ""

    def init_app(self, app) -> None:
        """Remember where models live and which device to use; loads nothing."""
        app.extensions["model_registry"] = self
        if not self._ready.is_set():
            self.model_dir = Path(app.config["MODEL_DIR"])
            self.device_preference = app.config["DEVICE"]
            self.recognition_views = app.config.get("RECOGNITION_VIEWS", "box")
            self.recognition_runtime = app.config.get("RECOGNITION_RUNTIME", "auto")
            self.recognition_precision = app.config.get("RECOGNITION_PRECISION", "f32")
            self.recognition_model = app.config.get("RECOGNITION_MODEL", "")

    @property
    def ready(self) -> bool:
        """True once every model is loaded."""
        return self._ready.is_set()

    @property
    def error(self) -> str | None:
        """The reason loading failed, if it did."""
        return self._error

    def load(self) -> None:
        """Load every model now, in this thread (idempotent)."""
        with self._lock:
            if self._ready.is_set():
                return
            started = time.perf_counter()
            try:
                self._load_models()
            except Exception as exc:  # reported by /healthz and every model call
                self._error = f"{type(exc).__name__}: {exc}"
                log.exception("model loading failed")
                raise
            self.load_seconds = time.perf_counter() - started
            self._ready.set()
            log.info("models ready in %.1f s on %s", self.load_seconds, self.device)

    def _load_models(self) -> None:
        from ml.device import select_device
        from ml.pose import PoseEstimator
        from ml.recognition import FaceAnalyzer

        if self.model_dir is None:
            raise ModelsNotReady("the registry was not bound to an app")
        # MediaPipe's pose (TFLite) always runs on the CPU; /healthz says so.
        self.device = {**select_device(self.device_preference), "mediapipe": "cpu"}
        faces = FaceAnalyzer.from_model_dir(
            self.model_dir,
            runtime=self.recognition_runtime,
            views=self.recognition_views,
            precision=self.recognition_precision,
            model_file=self.recognition_model or None,
        )
        self._models["faces"] = faces
        self.device["recognition"] = faces.runtime
        pose = PoseEstimator()
        pose.warmup()
        self._models["pose"] = pose

    def start_background_load(self) -> None:
        """Start loading in a daemon thread, so the worker answers /healthz meanwhile."""
        if self._ready.is_set() or (self._thread and self._thread.is_alive()):
            return

        def run() -> None:
            with contextlib.suppress(Exception):  # recorded in self._error
                self.load()

        self._thread = threading.Thread(target=run, name="model-loader", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loaded (or timeout); True when ready."""
        return self._ready.wait(timeout)

    def get(self, name: str) -> Any:
        """Return a loaded model by name, or raise ModelsNotReady."""
        if not self._ready.is_set():
            raise ModelsNotReady(self._error or "models are still loading")
        return self._models[name]

    def versions(self) -> dict[str, str]:
        """Return the version string of each loaded model."""
        return {name: getattr(model, "version", "unknown") for name, model in self._models.items()}


def current_models() -> ModelRegistry:
    """The model registry of the running app."""
    from flask import current_app

    return current_app.extensions["model_registry"]
