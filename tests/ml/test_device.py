"""ml.device chooses every framework's device from the one DEVICE preference."""

from __future__ import annotations

import onnxruntime as ort
import openvino as ov
import pytest

from ml import device


def test_cpu_preference_gives_cpu_everywhere():
    assert device.onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert device.openvino_device("cpu") == "CPU"
    assert device.torch_device("cpu") == "cpu"


def test_auto_uses_a_gpu_only_when_the_framework_has_one():
    providers = device.onnx_providers("auto")
    assert providers[-1] == "CPUExecutionProvider"
    assert all(p in ort.get_available_providers() for p in providers)
    has_gpu = any(d.startswith("GPU") for d in ov.Core().available_devices)
    assert device.openvino_device("auto") == ("GPU" if has_gpu else "CPU")


def test_the_process_preference_is_remembered_for_later_models():
    try:
        device.select_device("cpu", ("onnxruntime",))
        assert device.onnx_providers() == ["CPUExecutionProvider"]
    finally:
        device.select_device("auto", ())


def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(device.DeviceError):
        device.onnx_providers("cuda")
    with pytest.raises(device.DeviceError):
        device.select_device("bogus")


def test_a_refused_preference_is_not_remembered():
    """DEVICE=cuda on a machine without a GPU fails, and later models still load on the CPU."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(device.DeviceError):
        device.select_device("cuda", ("onnxruntime",))
    assert device.onnx_providers() == ["CPUExecutionProvider"]
