"""Faces of no real person: a StyleGAN-family generator behind one interface (`FaceGenerator`).

`load_generator(model_dir)` gives the OpenVINO MobileStyleGAN backend on the device that
`ml.device.openvino_device` picks; a torch backend of the same network can implement the same
`FaceGenerator` protocol (mapping, synthesis, mean_w, sample) and be used interchangeably.
"""

from __future__ import annotations

from pathlib import Path

from ml.generator.base import (
    DEFAULT_PSI,
    FFHQ_FIVE,
    FaceGenerator,
    GeneratedFace,
    GeneratorBase,
    GeneratorError,
    seed_latent,
    truncate,
)

MODEL_FOLDER = "mobilestylegan"

__all__ = [
    "DEFAULT_PSI",
    "FFHQ_FIVE",
    "FaceGenerator",
    "GeneratedFace",
    "GeneratorBase",
    "GeneratorError",
    "load_generator",
    "seed_latent",
    "truncate",
]


def load_generator(
    model_dir: Path, preference: str = "auto", cache_dir: Path | None = None
) -> FaceGenerator:
    """The MobileStyleGAN generator from MODEL_DIR/mobilestylegan on the preferred device."""
    from ml.device import openvino_device
    from ml.generator.openvino_backend import OpenVinoGenerator

    return OpenVinoGenerator(
        Path(model_dir) / MODEL_FOLDER, device=openvino_device(preference), cache_dir=cache_dir
    )
