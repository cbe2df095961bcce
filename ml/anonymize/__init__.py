"""Anonymize bystanders: find every face, keep the chosen ones, replace all the others.

Finding faces (MTCNN merged with MediaPipe full range, tiled), the modes (a generated face per
bystander, k-Same averages, both from the face bank; blur, pixelate) and the measurements behind
the settings are described in docs/anonymize.md.
"""

from ml.anonymize.anonymizer import (
    DEFAULT_K,
    FALLBACKS,
    MODEL_NAME,
    MODES,
    SYNTHETIC_MODES,
    AnonymizeError,
    Anonymizer,
    AnonymizeResult,
    NoSyntheticFace,
    SyntheticIdentity,
)
from ml.anonymize.detection import FaceBox, WideFaceDetector
from ml.anonymize.video import VideoAnonymizer

__all__ = [
    "DEFAULT_K", "FALLBACKS", "MODEL_NAME", "MODES", "SYNTHETIC_MODES", "AnonymizeError",
    "AnonymizeResult",
    "Anonymizer", "FaceBox", "NoSyntheticFace", "SyntheticIdentity", "VideoAnonymizer",
    "WideFaceDetector",
]  # fmt: skip
