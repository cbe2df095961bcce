"""On a GPU machine with the CUDA builds (requirements-gpu.txt): every framework picks the GPU
with DEVICE=cuda, /healthz says so, and recognition gives the same answers as on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.servers import GunicornServer, get_json
from tests.support import DATASET, MODEL_DIR, ROOT

pytestmark = pytest.mark.gpu


def test_every_framework_chooses_cuda():
    from ml.device import select_device, torch_device

    chosen = select_device("cuda", frameworks=("tensorflow", "torch", "onnxruntime", "openvino"))
    assert chosen["tensorflow"] == chosen["torch"] == "cuda", chosen
    assert chosen["onnxruntime"] == "CUDAExecutionProvider", chosen
    assert chosen["openvino"] == "CPU", chosen  # OpenVINO's GPU plugin is Intel-only
    assert torch_device("cuda") == "cuda"


def test_healthz_reports_cuda_through_gunicorn():
    with GunicornServer(workers=1, extra_env={"DEVICE": "cuda"}, admin=None) as server:
        status, body = get_json(f"{server.url}/healthz")
    assert status == 200 and body["device"]["tensorflow"] == "cuda", body


EMBED = """
import json, sys
import numpy as np
from PIL import Image
from ml.device import select_device
from ml.recognition import FaceAnalyzer
device = select_device(sys.argv[1])
analyzer = FaceAnalyzer.from_model_dir(sys.argv[2])
rgb = np.asarray(Image.open(sys.argv[3]).convert("RGB"))
faces = analyzer.analyze(rgb)
print(json.dumps({"device": device, "embedding": faces[0].embedding.tolist()}))
"""


def _embed(device: str, photo) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(
        [sys.executable, "-c", EMBED, device, str(MODEL_DIR), str(photo)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_recognition_on_gpu_matches_cpu():
    """The same photo embeds to (nearly) the same FaceNet vector on the GPU as on the CPU."""
    photo = sorted((DATASET / "val" / "madonna").iterdir())[0]
    gpu, cpu = _embed("cuda", photo), _embed("cpu", photo)
    assert gpu["device"]["tensorflow"] == "cuda" and cpu["device"]["tensorflow"] == "cpu"
    a, b = np.array(gpu["embedding"]), np.array(cpu["embedding"])
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert cosine > 0.999, cosine
