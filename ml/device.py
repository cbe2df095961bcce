"""Choose the compute device for each framework in one place: GPU when present, else CPU."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The requested device is not available."""


def select_device(preference: str = "auto", frameworks: tuple[str, ...] = ("tensorflow",)) -> dict:
    """Configure each framework for `preference` (auto, cpu, cuda) and return what was chosen."""
    if preference not in {"auto", "cpu", "cuda"}:
        raise DeviceError(f"unknown device preference {preference!r}")
    chosen: dict[str, str] = {}
    if "tensorflow" in frameworks:
        chosen["tensorflow"] = _tensorflow_device(preference)
    if "torch" in frameworks:
        chosen["torch"] = torch_device(preference)
    if "openvino" in frameworks:
        chosen["openvino"] = openvino_device(preference)
    log.info("devices: %s", chosen)
    return chosen


def _tensorflow_device(preference: str) -> str:
    import tensorflow as tf

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


def torch_device(preference: str = "auto") -> str:
    """Return the torch device string for `preference`."""
    import torch

    available = torch.cuda.is_available()
    if preference == "cuda" and not available:
        raise DeviceError("DEVICE=cuda but torch sees no GPU")
    return "cuda" if available and preference != "cpu" else "cpu"


def openvino_device(preference: str = "auto") -> str:
    """Return the OpenVINO device name for `preference` ("GPU" when OpenVINO sees one)."""
    if preference not in {"auto", "cpu", "cuda"}:
        raise DeviceError(f"unknown device preference {preference!r}")
    import openvino as ov

    # OpenVINO's GPU plugin drives Intel GPUs only: on an NVIDIA host (DEVICE=cuda) it runs on
    # the CPU while TensorFlow, torch and ONNX Runtime take the GPU.
    available = any(name.startswith("GPU") for name in ov.Core().available_devices)
    return "GPU" if available and preference != "cpu" else "CPU"
