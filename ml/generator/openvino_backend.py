"""MobileStyleGAN (random-face 2021.7.21.1's OpenVINO IR) run with OpenVINO.

Two graphs: MappingNetwork (input ``var`` 1x512 z -> ``style`` 1x512 w) and SynthesisNetwork
(``style`` 1x512 -> ``img`` 1x3x1024x1024 in [-1, 1]). The synthesis output is in RGB channel
order (not BGR: read as BGR the skin turns blue) and the face sits in the FFHQ frame. The mapping
is reshaped to a dynamic batch; the synthesis keeps batch 1 and is pipelined through an
AsyncInferQueue with OpenVINO's throughput hint (2 streams on 2 cores: about 1.2-1.5 faces/s,
against 0.7 for one request at a time). The synthesis takes one w for every layer, so this
backend has no w+ (per-layer) input; see NOTICE.md for the licence of the weights.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ml.generator.base import (
    MODEL_NAME,
    GeneratorBase,
    GeneratorError,
    to_uint8_rgb,
    weights_key,
)

MAPPING_FILE = "MappingNetwork.xml"
SYNTHESIS_FILE = "SynthesisNetwork.xml"


class OpenVinoGenerator(GeneratorBase):
    """The MobileStyleGAN IR in OpenVINO; create once per process and share (thread-safe)."""

    name = MODEL_NAME

    def __init__(self, folder: Path, device: str = "CPU", cache_dir: Path | None = None) -> None:
        """Compile both graphs from `folder` (MODEL_DIR/mobilestylegan) on an OpenVINO device."""
        import openvino as ov
        import openvino.properties.hint as hints

        super().__init__(cache_dir)
        self.folder = Path(folder)
        for name in (MAPPING_FILE, SYNTHESIS_FILE):
            for suffix in (".xml", ".bin"):
                path = self.folder / Path(name).with_suffix(suffix)
                if not path.is_file():
                    raise GeneratorError(f"{path} is missing; run `python -m ml.fetch`")
        core = ov.Core()
        mapping = core.read_model(str(self.folder / MAPPING_FILE))
        mapping.reshape({0: ov.PartialShape([-1, self.z_dim])})
        # The mapping is cheap: full precision keeps w the same across devices and backends.
        self._mapping = core.compile_model(
            mapping, device, {hints.inference_precision: ov.Type.f32}
        )
        synthesis = core.read_model(str(self.folder / SYNTHESIS_FILE))
        self._synthesis = core.compile_model(
            synthesis, device, {hints.performance_mode: hints.PerformanceMode.THROUGHPUT}
        )
        requests = max(1, int(self._synthesis.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._queue = ov.AsyncInferQueue(self._synthesis, requests)
        self._results: dict[int, np.ndarray] = {}
        self._queue.set_callback(self._collect)
        self._lock = threading.Lock()
        self.device = device.lower()
        self.requests = requests
        self.version = f"{MODEL_NAME}@openvino-{ov.get_version().split('-')[0]}"

    def cache_key(self) -> str:
        """The mapping weights' sha256: both backends of this network share the mean w."""
        return weights_key(self.folder)

    def mapping(self, z: np.ndarray) -> np.ndarray:
        """(N, 512) z -> (N, 512) w."""
        z = self.checked_z(z)
        if len(z) == 0:
            return np.zeros((0, self.w_dim), np.float32)
        with self._lock:
            return np.array(self._mapping(z)[0], np.float32)

    def synthesis(self, w: np.ndarray, size: int | None = None) -> np.ndarray:
        """(N, 512) w -> (N, size, size, 3) uint8 RGB; a w+ only if all its rows are equal."""
        w = np.asarray(w, np.float32)
        if w.ndim == 3:
            if not np.allclose(w, w[:, :1]):
                raise GeneratorError("this generator takes one w for all layers (no w+)")
            w = w[:, 0]
        if w.ndim != 2 or w.shape[1] != self.w_dim:
            raise GeneratorError(f"w must be (N, {self.w_dim}), not {w.shape}")
        images = []
        with self._lock:
            self._results = {}
            for index, row in enumerate(w):
                self._queue.start_async({0: np.ascontiguousarray(row[None])}, index)
            self._queue.wait_all()
            raw, self._results = self._results, {}
        for index in range(len(w)):
            images.append(to_uint8_rgb(raw[index], size)[0])
        if not images:
            return np.zeros((0, size or self.resolution, size or self.resolution, 3), np.uint8)
        return np.stack(images)

    def _collect(self, request, index: int) -> None:
        """AsyncInferQueue callback: keep a copy of the request's image."""
        self._results[index] = np.array(request.get_output_tensor(0).data, np.float32)
