"""Face swap: put the face of a source photo onto chosen faces of a target photo or video.

The classical pipeline (mesh warp, Lab colour transfer, Poisson cloning; target mouth and
eyelids kept), the video tracker and smoothing, the ONNX model slot, and the measurements behind
the defaults are described in docs/face-swap.md.
"""

from ml.face_swap.onnx_model import (
    ARCFACE_TEMPLATE,
    EMBEDDER_FILE,
    SWAP_MODEL_FILE,
    OnnxSwapModel,
    SwapModelError,
)
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
    "SWAP_MODEL_FILE", "FaceSwapper", "OneEuroFilter", "OnnxSwapModel", "SourceFace",
    "SwapModelError", "SwapResult", "UnknownFaceError", "VideoSwapper",
]  # fmt: skip
