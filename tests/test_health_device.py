"""Device choice without a GPU: DEVICE=cuda fails loudly (never a silent CPU run), auto and cpu
pick the CPU, and /healthz says which device each framework uses."""

from __future__ import annotations

import pytest

from ml.device import DeviceError, onnx_providers, openvino_device, select_device, torch_device
from webapp.registry import ModelRegistry


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_auto_and_cpu_choose_the_cpu_here():
    if _has_cuda():
        pytest.skip("this machine has a GPU: see tests/gpu")
    everything = ("tensorflow", "torch", "onnxruntime", "openvino")
    assert select_device("auto", frameworks=everything) == {
        "tensorflow": "cpu",
        "torch": "cpu",
        "onnxruntime": "CPUExecutionProvider",
        "openvino": "CPU",
    }
    assert select_device("cpu", frameworks=("tensorflow", "torch"))["torch"] == "cpu"


def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run():
    if _has_cuda():
        pytest.skip("this machine has a GPU: see tests/gpu")
    with pytest.raises(DeviceError, match="DEVICE=cuda but TensorFlow sees no GPU"):
        select_device("cuda")
    with pytest.raises(DeviceError, match="DEVICE=cuda but torch sees no GPU"):
        torch_device("cuda")
    with pytest.raises(DeviceError, match="DEVICE=cuda but ONNX Runtime has no CUDA provider"):
        onnx_providers("cuda")


def test_openvino_falls_back_to_the_cpu_under_cuda():
    """OpenVINO's GPU plugin is for Intel GPUs: with DEVICE=cuda the generator runs on the CPU."""
    assert openvino_device("cuda") in {"CPU", "GPU"}
    if not _has_cuda():
        assert openvino_device("cuda") == "CPU"


def test_healthz_names_the_device_problem(app, client):
    if _has_cuda():
        pytest.skip("this machine has a GPU: see tests/gpu")
    registry = ModelRegistry()
    registry.model_dir = app.config["MODEL_DIR"]
    registry.device_preference = "cuda"
    with pytest.raises(DeviceError):
        registry.load()
    app.extensions["model_registry"] = registry
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert "DEVICE=cuda but TensorFlow sees no GPU" in response.json["error"]
    assert response.json["device_preference"] == "cuda"


def test_an_unknown_device_is_refused():
    with pytest.raises(DeviceError):
        select_device("tpu")
