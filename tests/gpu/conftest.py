"""GPU tests run only where an NVIDIA GPU answers `nvidia-smi`; there they must pass (a GPU with
CPU-only builds installed fails them). scripts/gpu-check.sh prepares such a machine."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def nvidia_gpu() -> str | None:
    """The first GPU's name from nvidia-smi, or None on a machine without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    names = result.stdout.strip().splitlines()
    return names[0] if result.returncode == 0 and names else None


@pytest.fixture(autouse=True, scope="session")
def gpu_name() -> str:
    """Skip the GPU tests on machines without an NVIDIA GPU."""
    name = nvidia_gpu()
    if name is None:
        pytest.skip("no NVIDIA GPU here (nvidia-smi); run scripts/gpu-check.sh on a GPU machine")
    return name
