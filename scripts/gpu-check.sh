#!/usr/bin/env bash
# The prepared check for a machine with an NVIDIA GPU (run from the repository root):
#   scripts/gpu-check.sh [OUT_DIR]
# 1. set-up: a separate venv (.venv-gpu) with requirements.txt, then the CUDA builds of
#    requirements-gpu.txt in place of the CPU ones (needs PyPI; a machine without network needs a
#    wheelhouse: PIP_FIND_LINKS=/path PIP_NO_INDEX=1), and the verified model files;
# 2. `pytest -m gpu` (tests/gpu) and the device tests;
# 3. the kiosk and studio benchmarks with DEVICE=cuda, their output kept in OUT_DIR for
#    bench/RESULTS.md, with nvidia-smi's view of the card.
# Nothing here runs on CPU-only machines; `make test` skips tests/gpu there.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/out/gpu}"
mkdir -p "$out"
nvidia-smi | tee "$out/nvidia-smi.txt"
venv=.venv-gpu
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r requirements-dev.txt
  "$venv/bin/pip" uninstall -y -q tensorflow-cpu onnxruntime torch
  "$venv/bin/pip" install -q -r requirements-gpu.txt
fi
py="$venv/bin/python"
"$py" -m ml.fetch
"$venv/bin/pybabel" compile -d translations >/dev/null
export DEVICE=cuda
"$py" - <<'PY' | tee "$out/devices.txt"
from ml.device import select_device
import onnxruntime
print("chosen:", select_device("cuda", frameworks=("tensorflow", "torch", "onnxruntime", "openvino")))
print("onnxruntime providers:", onnxruntime.get_available_providers())
PY
timeout 1800 "$py" -m pytest -m gpu tests/gpu tests/test_device.py -q -p no:cacheprovider 2>&1 | tee "$out/pytest-gpu.txt"
timeout 1800 "$py" bench/kiosk.py 2>&1 | tee "$out/bench-kiosk.md"
timeout 1800 "$py" bench/studio.py 2>&1 | tee "$out/bench-studio.md"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee -a "$out/nvidia-smi.txt"
echo "GPU check done; figures in $out (append them to bench/RESULTS.md with the card's name)"
