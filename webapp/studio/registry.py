"""The studio worker's model registry: what studio jobs need, loaded once per worker process.

Web workers never load these; `flask studio worker` puts this registry in its app in place of the
web one, so `current_models()` (and with it `recognize`, which pre-marks employees' faces) works
inside jobs too.
"""

from __future__ import annotations

import threading
from pathlib import Path

from webapp.registry import ModelRegistry, ModelsNotReady


class StudioRegistry(ModelRegistry):
    """The recognizer and the effects' models, each with a lock for the worker's threads."""

    def __init__(self) -> None:
        super().__init__()
        self._locks: dict[str, threading.Lock] = {}
        self.threshold = 0.45

    def init_app(self, app) -> None:
        """Become this app's registry (in the worker process only)."""
        self.model_dir = Path(app.config["MODEL_DIR"])
        self.device_preference = app.config["DEVICE"]
        self.threshold = float(app.config["RECOGNITION_THRESHOLD"])
        app.extensions["model_registry"] = self

    def _load_models(self) -> None:
        from ml.anonymize import Anonymizer
        from ml.device import select_device
        from ml.face_swap import FaceSwapper
        from ml.recognition import FaceAnalyzer

        if self.model_dir is None:
            raise ModelsNotReady("the registry was not bound to an app")
        self.device = select_device(self.device_preference)
        # One MTCNN, FaceNet and face mesh, shared by the recognizer and both effects.
        faces = FaceAnalyzer.from_model_dir(self.model_dir)
        swapper = FaceSwapper.from_model_dir(self.model_dir, detector=faces.detectors["photo"])
        anonymizer = Anonymizer.from_model_dir(
            self.model_dir, analyzer=faces, mesher=swapper.mesher, threshold=self.threshold
        )
        self._models.update(faces=faces, face_swap=swapper, anonymize=anonymizer)
        self._locks = {name: threading.Lock() for name in self._models}

    def lock(self, name: str) -> threading.Lock:
        """The lock to hold while using model `name` (one user at a time)."""
        if not self.ready:
            raise ModelsNotReady(self.error or "models are still loading")
        return self._locks[name]
