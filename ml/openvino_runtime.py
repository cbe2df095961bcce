"""Run our TensorFlow graphs with OpenVINO: converted once from the same weights, cached as IR.

The Keras/TensorFlow graph stays the reference: a converted network is only a faster way to
compute the same function (tests/ml/test_openvino_runtime.py checks the outputs agree). The IR is
written into a cache folder (`cache_dir`) under a name that carries the weights' version and
OpenVINO's, so changed weights are converted again, and two processes never read a half-written
file.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# f32 keeps the converted networks within float rounding of Keras; bf16 (AVX512_BF16) was
# measured too, see bench/RESULTS.md ("OpenVINO precision").
PRECISIONS = ("f32", "bf16")


def default_threads() -> int:
    """Threads one inference may use: the cores this process may run on."""
    from ml.device import cpu_threads

    return cpu_threads()


def cache_root() -> Path:
    """Folder for files derived from the models: MODEL_CACHE_DIR, else the user's cache."""
    configured = os.environ.get("MODEL_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "face-platform"


def cache_dir() -> Path:
    """Where converted networks are kept."""
    return cache_root() / "openvino"


def cache_file(key: str) -> Path:
    """The IR file for a network `key` (name and weights' version) under this OpenVINO."""
    import openvino as ov

    version = ov.__version__.split("-")[0]
    return cache_dir() / f"{key}-ov{version}.xml"


def convert_cached(concrete_function: Any, cache_file: Path) -> Any:
    """Return an ov.Model for a tf ConcreteFunction, converting it once into `cache_file`."""
    return load_or_convert(cache_file, lambda: concrete_function)


def load_or_convert(cache_file: Path, make_function: Callable[[], Any]) -> Any:
    """Return the ov.Model cached in `cache_file`, else convert `make_function()`'s result once
    (the graph is only built when there is nothing cached)."""
    import openvino as ov

    if cache_file.is_file() and cache_file.with_suffix(".bin").is_file():
        return ov.Core().read_model(str(cache_file))
    model = ov.convert_model(make_function())
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # Write under a temporary name, then rename both files: readers never see a partial IR.
        with tempfile.TemporaryDirectory(dir=cache_file.parent) as scratch:
            tmp_xml = Path(scratch) / cache_file.name
            ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
            os.replace(tmp_xml.with_suffix(".bin"), cache_file.with_suffix(".bin"))
            os.replace(tmp_xml, cache_file)
    except OSError as exc:  # a read-only home: run converted anyway, convert again next start
        log.warning("cannot keep converted %s (%s); set MODEL_CACHE_DIR", cache_file.name, exc)
    return model


class CompiledNetwork:
    """An OpenVINO-compiled network called like the tf.function it replaces (thread-safe)."""

    def __init__(
        self,
        model: Any,
        precision: str = "f32",
        threads: int | None = None,
        outputs: int | None = None,
    ) -> None:
        import openvino as ov

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.threads = threads or default_threads()
        self._compiled = ov.Core().compile_model(
            model,
            "CPU",
            {
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.threads,
                "INFERENCE_PRECISION_HINT": precision,
                # Pinned threads cannot move off a core another process is using: with two other
                # jobs on the 2 cores FaceNet's p50 was 41 ms pinned and 32 ms unpinned.
                "ENABLE_CPU_PINNING": False,
            },
        )
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        # The graph's outputs come first, in TensorFlow's order; the converter may append scalar
        # by-products (seen with Keras 3 graphs), which `outputs` leaves out.
        self._outputs = list(self._compiled.outputs)[:outputs]

    def __call__(self, x: Any) -> list[np.ndarray]:
        """Run on one input batch; the outputs as float32 arrays, in the graph's order."""
        array = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        with self._lock:
            results = self._request.infer({0: array})
            return [np.array(results[output], copy=True) for output in self._outputs]


def compile_function(
    concrete_function: Any,
    cache_file: Path,
    precision: str = "f32",
    threads: int | None = None,
) -> Callable[[Any], list[np.ndarray]]:
    """Convert (once, cached) and compile a tf ConcreteFunction for this CPU."""
    import tensorflow as tf

    count = len(tf.nest.flatten(concrete_function.structured_outputs))
    model = convert_cached(concrete_function, cache_file)
    return CompiledNetwork(model, precision, threads, outputs=count)
