"""The slot for an operator's ONNX colorizer (no colorization weights ship with the project).

Contract: one float32 input ``[1, 1, H, W]`` holding the L channel, one output ``[1, 2, h, w]``
holding (a, b). By default the input is raw L in [0, 100] and the output is (a, b) in Lab units,
which is what the ONNX exports of Zhang et al.'s colorizers (ECCV 2016 / SIGGRAPH 2017, with their
normalisation layers inside the graph) take and give. A model exported otherwise says so in its
metadata: ``l_offset``, ``l_scale`` (input = (L - l_offset) * l_scale) and ``ab_scale``
(ab = output * ab_scale). Fixed H, W come from the graph; dynamic ones default to 256.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import ModelFileError

DEFAULT_SIDE = 256


class OnnxColorizer:
    """An operator-supplied colorizer, loaded once and run on the CPU by onnxruntime."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"No colorizer model at {path}.", "model_missing")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own classes for bad files
            raise ModelFileError(f"{path.name} is not a usable ONNX model: {exc}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelFileError("A colorizer takes one input (L) and gives (a, b) first.")
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] not in (1, "1"):
            raise ModelFileError(f"The colorizer's input must be [1, 1, H, W]; it is {shape}.")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.height = shape[2] if isinstance(shape[2], int) else DEFAULT_SIDE
        self.width = shape[3] if isinstance(shape[3], int) else DEFAULT_SIDE
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.l_offset = float(meta.get("l_offset", 0.0))
            self.l_scale = float(meta.get("l_scale", 1.0))
            self.ab_scale = float(meta.get("ab_scale", 1.0))
        except ValueError as exc:
            raise ModelFileError(f"The colorizer's metadata is not numeric: {exc}") from exc
        self.name = path.name

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        """(a, b) for an L channel (HxW, 0-100), at the L channel's size."""
        height, width = lightness.shape
        small = cv2.resize(lightness.astype(np.float32), (self.width, self.height), cv2.INTER_AREA)
        tensor = ((small - self.l_offset) * self.l_scale)[None, None].astype(np.float32)
        (out,) = self.session.run([self.output_name], {self.input_name: tensor})[:1]
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 4 or out.shape[:2] != (1, 2):
            raise ModelFileError(f"The colorizer's output must be [1, 2, h, w]; it is {out.shape}.")
        ab = np.transpose(out[0], (1, 2, 0)) * self.ab_scale
        return cv2.resize(ab, (width, height), interpolation=cv2.INTER_LINEAR)
