"""Choose the compute device for each framework in one place: GPU when present, else CPU.

`select_device(preference)` runs once per process (web worker or studio worker) and remembers the
preference; every model then asks here for its device: TensorFlow (configured globally), torch
(`torch_device`), ONNX Runtime (`onnx_providers`) and OpenVINO (`openvino_device`).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
PREFERENCES = {"auto", "cpu", "cuda"}
_preference = "auto"


class DeviceError(RuntimeError):
    """The requested device is not available."""


def select_device(preference: str = "auto", frameworks: tuple[str, ...] = ("tensorflow",)) -> dict:
    """Configure each framework for `preference` (auto, cpu, cuda) and return what was chosen."""
    global _preference
    if preference not in PREFERENCES:
        raise DeviceError(f"unknown device preference {preference!r}")
    chosen: dict[str, str] = {}
    if "tensorflow" in frameworks:
        chosen["tensorflow"] = _tensorflow_device(preference)
    if "torch" in frameworks:
        chosen["torch"] = torch_device(preference)
    if "onnxruntime" in frameworks:
        chosen["onnxruntime"] = onnx_providers(preference)[0]
    if "openvino" in frameworks:
        chosen["openvino"] = openvino_device(preference)
    # Remembered for models loaded later only once every framework took it: a refused
    # preference (DEVICE=cuda without a GPU) leaves the process as it was.
    _preference = preference
    log.info("devices: %s", chosen)
    return chosen


def cpu_threads() -> int:
    """Cores this process may run on (its affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_tensorflow_threads(intra: int | None = None, inter: int | None = None) -> None:
    """Set TensorFlow's thread pools before its first op (a no-op once TensorFlow is running).

    One pool per process, shared by every gunicorn thread: intra-op = inter-op = the cores this
    process may use (TF_INTRA_OP_THREADS / TF_INTER_OP_THREADS override). Measured on the 2-core
    machine (bench/RESULTS.md): 1 intra-op thread, or 1 inter-op thread, made detect + embed
    slower, not faster, so the pools match the cores and gunicorn's threads share them.
    """
    import tensorflow as tf

    intra = intra or int(os.environ.get("TF_INTRA_OP_THREADS") or cpu_threads())
    inter = inter or int(os.environ.get("TF_INTER_OP_THREADS") or cpu_threads())
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already ran an op in this process: keep its pools
        log.info("TensorFlow thread pools already set; left as they are")


def _tensorflow_device(preference: str) -> str:
    import tensorflow as tf

    configure_tensorflow_threads()
    gpus = tf.config.list_physical_devices("GPU")
    if preference == "cpu" or not gpus:
        if preference == "cuda":
            raise DeviceError("DEVICE=cuda but TensorFlow sees no GPU")
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return "cpu"
    for gpu in gpus:
        # Share the card with torch and other workers instead of grabbing all its memory.
        tf.config.experimental.set_memory_growth(gpu, True)
    return "cuda"


def torch_device(preference: str | None = None) -> str:
    """Return the torch device string for `preference` (default: the process's)."""
    import torch

    preference = preference or _preference

    available = torch.cuda.is_available()
    if preference == "cuda" and not available:
        raise DeviceError("DEVICE=cuda but torch sees no GPU")
    return "cuda" if available and preference != "cpu" else "cpu"


def onnx_providers(preference: str | None = None) -> list[str]:
    """ONNX Runtime execution providers for `preference` (default: the process's), best first."""
    import onnxruntime as ort

    preference = preference or _preference
    available = ort.get_available_providers()
    if preference != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if preference == "cuda":
        raise DeviceError("DEVICE=cuda but ONNX Runtime has no CUDA provider")
    return ["CPUExecutionProvider"]


def openvino_device(preference: str | None = None) -> str:
    """The OpenVINO device string for `preference` (default: the process's): GPU or CPU."""
    import openvino as ov

    preference = preference or _preference
    devices = ov.Core().available_devices
    if preference != "cpu" and any(d.startswith("GPU") for d in devices):
        return "GPU"
    # OpenVINO's GPU plugin drives Intel GPUs only: on an NVIDIA host (DEVICE=cuda) it runs on
    # the CPU while TensorFlow, torch and ONNX Runtime take the GPU.
    return "CPU"
