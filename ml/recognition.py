"""The recognition pipeline: detect (MTCNN) -> aligned 160x160 view(s) -> FaceNet embedding.

`views` picks the pipeline (setting RECOGNITION_VIEWS):

- "box" (default): the detected box levelled by the eyes, one FaceNet pass per face;
- "box+landmarks": that crop and a second one with the five keypoints mapped onto canonical
  positions, embedded in one FaceNet batch and averaged. With the classifier's population
  centring (ml.population) this named every known enrollment photo in leave-one-out and widened
  the margins, for about twice FaceNet's time per face (bench/RESULTS.md, issue 15).

Enrollment and recognition both go through `FaceAnalyzer`, so their embeddings always agree; the
pipeline is part of `FaceAnalyzer.version`, and templates of another version are re-made with
`flask employees reembed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.alignment import LANDMARK_SCALE, align_face, align_to_landmarks
from ml.augment import augment_face
from ml.detection import DetectedFace, FaceDetector, dominant_face
from ml.facenet import FaceNetEmbedder
from ml.quality import FaceQuality, assess

FACENET_FILE = "facenet_keras.h5"
BOX_VIEWS = "box"
TWO_VIEWS = "box+landmarks"
VIEW_CHOICES = (BOX_VIEWS, TWO_VIEWS)


RUNTIMES = ("auto", "openvino", "tensorflow")


def resolve_runtime(runtime: str) -> str:
    """The runtime "auto" stands for: TensorFlow when it has a GPU, else OpenVINO (CPU)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime != "auto":
        return runtime
    import tensorflow as tf

    return "tensorflow" if tf.config.get_visible_devices("GPU") else "openvino"


@dataclass(frozen=True)
class EmbeddedFace:
    """A detected face with its L2-normalized 128-d embedding."""

    face: DetectedFace
    embedding: np.ndarray
    quality: FaceQuality | None = None  # None when not assessed


class FaceAnalyzer:
    """Finds and embeds faces; one instance per process, shared by every request."""

    def __init__(
        self,
        photo_detector: FaceDetector,
        kiosk_detector: FaceDetector,
        embedder: FaceNetEmbedder,
        views: str = BOX_VIEWS,
    ) -> None:
        if views not in VIEW_CHOICES:
            raise ValueError(f"views must be one of {VIEW_CHOICES}, not {views!r}")
        self.detectors = {"photo": photo_detector, "kiosk": kiosk_detector}
        self.embedder = embedder
        self.views_name = views

    @classmethod
    def from_model_dir(
        cls,
        model_dir: Path,
        runtime: str = "auto",
        views: str = BOX_VIEWS,
        precision: str = "f32",
        model_file: str | Path | None = None,
    ) -> FaceAnalyzer:
        """Load the detector and FaceNet from the fetched model files.

        `runtime` "openvino" runs MTCNN's networks and FaceNet converted by OpenVINO from the
        same weights (f32: outputs equal to float rounding), "tensorflow" the Keras graphs (the
        reference), "auto" OpenVINO on the CPU and TensorFlow when it has a GPU. On a quiet
        2-core machine OpenVINO halved a kiosk frame's detection and FaceNet's time
        (bench/RESULTS.md, issue 15). `precision` "bf16" (FaceNet on OpenVINO only) is faster
        again, and a pipeline version of its own. `model_file` (an operator's ONNX
        recognition model, relative to `model_dir` or absolute; ml.onnx_embedder) replaces
        FaceNet, on the box pipeline only.
        """
        h5 = Path(model_dir) / FACENET_FILE
        if not h5.is_file():
            raise FileNotFoundError(f"{h5} is missing; run `python -m ml.fetch` (make does this)")
        if model_file and views != BOX_VIEWS:
            raise ValueError("an operator's recognition model runs on the box pipeline only")
        runtime = resolve_runtime(runtime)
        photo = FaceDetector.for_photos(runtime=runtime)
        kiosk = FaceDetector.for_kiosk(runtime=runtime)
        for detector in (photo, kiosk):
            detector.warmup()  # trace the tf.functions now, not on the first request
        if model_file:
            from ml.onnx_embedder import OnnxFaceEmbedder

            embedder = OnnxFaceEmbedder(Path(model_dir) / model_file)  # an absolute path stays
        else:
            embedder = FaceNetEmbedder(str(h5), runtime, precision)
        return cls(photo, kiosk, embedder, views)

    @property
    def runtime(self) -> str:
        """Where FaceNet runs, e.g. ``openvino-f32`` (shown by /healthz)."""
        return f"{self.embedder.runtime}-{self.embedder.precision}"

    @property
    def version(self) -> str:
        """The embedding pipeline's version; templates from another version are not comparable.

        The box pipeline keeps the embedder's own version, so templates made before the views
        existed stay valid."""
        if self.views_name == BOX_VIEWS:
            return self.embedder.version
        return f"{self.embedder.version}+{self.views_name}{LANDMARK_SCALE}"

    def views(self, rgb: np.ndarray, face: DetectedFace) -> list[np.ndarray]:
        """The face's aligned crop(s): its box levelled by the eyes [, and by its keypoints];
        an operator's model aligns the face its own way."""
        if hasattr(self.embedder, "align"):
            return [self.embedder.align(rgb, face)]
        box = align_face(rgb, face)
        return [box] if self.views_name == BOX_VIEWS else [box, align_to_landmarks(rgb, face)]

    def embed_views(self, views: np.ndarray) -> np.ndarray:
        """(N, V, 160, 160, 3) views of N faces -> (N, 128) unit embeddings (the mean over the
        views), all in one FaceNet batch."""
        if len(views) == 0:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        count = views.shape[1]
        flat = self.embedder.embed(views.reshape(-1, *views.shape[2:]))
        mean = flat.reshape(len(views), count, -1).sum(axis=1)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)

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
        views = [self.views(rgb, face) for face in faces]
        # The quality gate's limits were set on FaceNet's 160-px box crops.
        if hasattr(self.embedder, "align"):
            crops = [align_face(rgb, face) for face in faces]
        else:
            crops = [own[0] for own in views]
        if faces:
            embeddings = self.embed_views(np.array(views, dtype=np.uint8))
        else:  # nothing to embed (a 0-length batch cannot be reshaped into views)
            embeddings = np.zeros((0, self.embedder.dimension), dtype=np.float32)
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
        """Embed the photo's one dominant face and its augmentations; raise FaceError otherwise.

        Each augmentation is applied to both views alike, so a template is the same pipeline
        as a recognized face."""
        face = dominant_face(self.detect(rgb, "photo"))
        augmented = [augment_face(view) for view in self.views(rgb, face)]  # same recipes each
        names = [name for name, _ in augmented[0]]
        views = np.array([[crop for _, crop in own] for own in augmented]).swapaxes(0, 1)
        return face, list(zip(names, self.embed_views(views), strict=True))
