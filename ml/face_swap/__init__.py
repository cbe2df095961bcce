"""Face swap: put the face of a source photo onto chosen faces of a target photo or video.

The classical pipeline (whole-face shape transfer, mesh warp, segmentation-cut mask, Lab colour
and lighting transfer, multi-band blending; target mouth interior, eyelids and irises kept), the
video tracker and smoothing, the ONNX model slot, and the measurements behind the defaults are
described in docs/face-swap.md.
"""

from ml.face_swap.classical import SwapState, source_fitness
from ml.face_swap.onnx_model import (
    ARCFACE_TEMPLATE,
    EMBEDDER_FILE,
    SWAP_MODEL_FILE,
    OnnxSwapModel,
    SwapModelError,
)
from ml.face_swap.segmentation import PersonSegmenter
from ml.face_swap.swapper import (
    CLASSICAL_NAME,
    EYE_MODES,
    SHAPE_TRANSFER,
    FaceSwapper,
    SourceFace,
    SwapResult,
    UnknownFaceError,
    VideoSwapper,
)
from ml.tracking import OneEuroFilter

__all__ = [
    "ARCFACE_TEMPLATE", "CLASSICAL_NAME", "EMBEDDER_FILE", "EYE_MODES", "SHAPE_TRANSFER",
    "SWAP_MODEL_FILE", "FaceSwapper", "OneEuroFilter", "OnnxSwapModel", "PersonSegmenter",
    "SourceFace", "SwapModelError", "SwapResult", "SwapState", "UnknownFaceError", "VideoSwapper",
    "source_fitness",
]  # fmt: skip
