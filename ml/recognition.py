"""The recognition pipeline: detect (MTCNN) -> align 160x160 -> FaceNet embedding, per image."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.alignment import align_face
from ml.augment import augment_face
from ml.detection import DetectedFace, FaceDetector, dominant_face
from ml.facenet import FaceNetEmbedder
from ml.quality import FaceQuality, assess

FACENET_FILE = "facenet_keras.h5"


@dataclass(frozen=True)
class EmbeddedFace:
    """A detected face with its L2-normalized 128-d embedding."""

    face: DetectedFace
    embedding: np.ndarray
    quality: FaceQuality | None = None  # None when not assessed


class FaceAnalyzer:
    """Finds and embeds faces; one instance per process, shared by every request."""

    def __init__(
        self, photo_detector: FaceDetector, kiosk_detector: FaceDetector, embedder: FaceNetEmbedder
    ) -> None:
        self.detectors = {"photo": photo_detector, "kiosk": kiosk_detector}
        self.embedder = embedder

    @classmethod
    def from_model_dir(cls, model_dir: Path, detector_runtime: str = "tensorflow") -> FaceAnalyzer:
        """Load the detector and FaceNet from the fetched model files.

        `detector_runtime` "openvino" runs MTCNN's networks converted by OpenVINO (same weights,
        outputs equal to float rounding, 2-3x faster per network alone) but measured no faster
        end to end on this 2-core machine, so TensorFlow stays the default; FaceNet stays on
        TensorFlow/oneDNN, which measured faster than OpenVINO f32 and bf16 (bench/RESULTS.md).
        """
        h5 = Path(model_dir) / FACENET_FILE
        if not h5.is_file():
            raise FileNotFoundError(f"{h5} is missing; run `python -m ml.fetch` (make does this)")
        photo = FaceDetector.for_photos(runtime=detector_runtime)
        kiosk = FaceDetector.for_kiosk(runtime=detector_runtime)
        for detector in (photo, kiosk):
            detector.warmup()  # trace the tf.functions now, not on the first request
        return cls(photo, kiosk, FaceNetEmbedder(str(h5)))

    @property
    def version(self) -> str:
        """The embedding model's version; templates from another version are not comparable."""
        return self.embedder.version

    def detect(self, rgb: np.ndarray, preset: str = "photo") -> list[DetectedFace]:
        """Return the faces in an image, largest first."""
        return self.detectors[preset].detect(rgb)

    def analyze(
        self, rgb: np.ndarray, preset: str = "photo", timings: dict | None = None
    ) -> list[EmbeddedFace]:
        """Detect, align and embed every face in an image (one batched FaceNet call)."""
        started = time.perf_counter()
        faces = self.detect(rgb, preset)
        detected = time.perf_counter()
        crops = [align_face(rgb, face) for face in faces]
        embeddings = (
            self.embedder.embed(np.stack(crops))  # every face of the frame in one batch
            if faces
            else np.zeros((0, 128), dtype=np.float32)
        )
        qualities = [assess(face, crop) for face, crop in zip(faces, crops, strict=True)]
        if timings is not None:
            timings["detect"] = detected - started
            timings["embed"] = time.perf_counter() - detected
        return [
            EmbeddedFace(face, emb, quality)
            for face, emb, quality in zip(faces, embeddings, qualities, strict=True)
        ]

    def enrollment_templates(
        self, rgb: np.ndarray
    ) -> tuple[DetectedFace, list[tuple[str, np.ndarray]]]:
        """Embed the photo's one dominant face and its augmentations; raise FaceError otherwise."""
        face = dominant_face(self.detect(rgb, "photo"))
        crops = augment_face(align_face(rgb, face))
        embeddings = self.embedder.embed(np.stack([crop for _, crop in crops]))
        return face, [(name, emb) for (name, _), emb in zip(crops, embeddings, strict=True)]
