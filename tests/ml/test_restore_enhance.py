"""Enhancing real photos after a synthetic ageing; Real-ESRGAN tiles that join without seams."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.restore.color import rgb_to_lab
from ml.restore.enhance import EnhanceOptions, enhance, estimate_noise, local_contrast
from ml.restore.errors import RestoreError
from ml.restore.scratches import detect_defects
from ml.restore.super_resolution import RealEsrgan
from tests.ml.restore_photos import (
    CELEBRITIES,
    colour_photos,
    degrade,
    edge_sharpness,
    load_rgb,
    psnr,
)
from tests.support import MODEL_DIR

SR_DIR = MODEL_DIR / "realesrgan-ncnn"
SIDE = 300


@pytest.fixture(scope="module")
def clean_photos(dataset) -> list[np.ndarray]:
    """One colour val photo of each person at 300x300."""
    photos = []
    for person in CELEBRITIES:
        rgb = load_rgb(colour_photos(dataset, "val", person)[0])
        photos.append(cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA))
    return photos


@pytest.fixture(scope="module")
def fast2() -> RealEsrgan:
    return RealEsrgan(SR_DIR, "fast2")


def test_enhance_restores_an_aged_photo(clean_photos, fast2):
    """Blur + x2 downscale + noise + scratches + dust, then enhance x2: closer and sharper."""
    gains, sharper = [], []
    for number, clean in enumerate(clean_photos):
        old, defects = degrade(clean, factor=2, seed=number)
        baseline = cv2.resize(old, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
        # Contrast off: CLAHE changes the tones on purpose, which PSNR would count as error.
        steps: list[float] = []
        options = EnhanceOptions(upscale=2, contrast=0)
        result = enhance(old, options, fast2, lambda f, _s, steps=steps: steps.append(f))
        assert result.rgb.shape == clean.shape
        assert result.defect_pixels > 0 and result.noise_sigma > 2
        assert steps == sorted(steps) and steps[-1] == 1.0
        gains.append(psnr(result.rgb, clean) - psnr(baseline, clean))
        big_defects = cv2.resize(defects.astype(np.uint8), (SIDE, SIDE), cv2.INTER_NEAREST)
        skip = cv2.dilate(big_defects, np.ones((9, 9), np.uint8)) > 0
        sharper.append(edge_sharpness(result.rgb, skip) / edge_sharpness(baseline, skip))
    # Measured: +4.9 dB and 1.3x sharper edges on average; Elton John's sequinned jacket loses
    # 0.8 dB (its sparkles look like dust, and sharpening is off the mark on such texture).
    assert np.mean(gains) > 1.5 and sum(gain > 0 for gain in gains) >= 4, gains
    assert np.mean(sharper) > 1.15 and min(sharper) > 1.0, sharper


def test_scratches_and_dust_are_found(clean_photos):
    found, false = [], []
    for number, clean in enumerate(clean_photos):
        old, defects = degrade(clean, factor=1, seed=10 + number)
        mask = detect_defects(old, 0.5)
        found.append((mask & defects).sum() / defects.sum())
        false.append((mask & ~defects).sum() / mask.size)
    assert np.mean(found) > 0.5, found
    assert np.mean(false) < 0.02, false


def test_denoise_lowers_the_measured_noise(clean_photos):
    rng = np.random.default_rng(3)
    noisy = np.clip(clean_photos[2] + rng.normal(0, 10, clean_photos[2].shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    result = enhance(noisy, EnhanceOptions(scratches=0, denoise=0.6, contrast=0, sharpen=0))
    assert estimate_noise(result.rgb) < 0.6 * estimate_noise(noisy)
    assert psnr(result.rgb, clean_photos[2]) > psnr(noisy, clean_photos[2]) + 1  # measured +1.4


def test_local_contrast_lifts_a_faded_print(clean_photos):
    lab = rgb_to_lab(clean_photos[0])
    faded_l = 50 + 0.4 * (lab[:, :, 0] - 50)
    faded = cv2.cvtColor(np.dstack([faded_l, lab[:, :, 1:]]).astype(np.float32), cv2.COLOR_LAB2RGB)
    faded = np.clip(faded * 255 + 0.5, 0, 255).astype(np.uint8)

    def local_spread(rgb):
        lightness = rgb_to_lab(rgb)[:, :, 0]
        mean = cv2.blur(lightness, (15, 15))
        return float(np.sqrt(np.maximum(cv2.blur(lightness**2, (15, 15)) - mean**2, 0)).mean())

    lifted = local_contrast(faded, 0.8)
    assert local_spread(lifted) > 1.3 * local_spread(faded)
    # The colour is left alone.
    assert np.abs(rgb_to_lab(lifted)[:, :, 1:] - rgb_to_lab(faded)[:, :, 1:]).mean() < 3


def test_sr_tiles_join_without_seams(clean_photos):
    model = RealEsrgan(SR_DIR, "fast4")
    crop = clean_photos[1][40:136, 60:180]
    whole = model.upscale(crop, tile=0)
    ticks = []
    tiled = model.upscale(crop, tile=48, overlap=8, progress=ticks.append)
    assert whole.shape == tiled.shape == (96 * 4, 120 * 4, 3)
    assert len(ticks) == 9 and ticks[-1] == 1.0  # 3 x 3 tiles
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())


def test_quality_model_upscales_faithfully(clean_photos):
    model = RealEsrgan(SR_DIR, "quality")
    crop = clean_photos[3][100:148, 100:148]
    out = model.upscale(crop, tile=0)
    assert out.shape == (192, 192, 3)
    back = cv2.resize(out, (48, 48), interpolation=cv2.INTER_AREA)
    assert psnr(back, crop) > 25


def test_too_large_an_upscale_is_refused(fast2):
    with pytest.raises(RestoreError) as caught:
        enhance(np.zeros((4000, 4000, 3), np.uint8), EnhanceOptions(upscale=2), fast2)
    assert caught.value.code == "too_large_to_upscale"
