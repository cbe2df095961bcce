"""Faces by the generative prior: automatic face colour of grey photos and face restoration.

On the real MobileStyleGAN, MTCNN and FaceNet, with real 5-celebrity colour photos turned grey
or degraded; the figures at the effect's settings are in bench/restore_faces.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.generator import FFHQ_FIVE
from ml.restore.color import grey_rgb, rgb_to_lab
from ml.restore.colorize import colorize
from ml.restore.face_prior import (
    ALIGN_SIDE,
    FaceColour,
    FacePrior,
    PriorSettings,
    colour_seeds,
    five_points,
    head_mask,
    match_colour,
)
from ml.stylemix.align import align, face_mask, frame_matrix
from tests.ml.restore_photos import (
    CELEBRITIES,
    SEPIA_AB,
    ab_rmse,
    colour_photos,
    degrade,
    face_skin,
    flat_chroma,
    load_rgb,
    psnr,
)
from tests.support import MODEL_DIR

#: Projection steps per face in these tests (the effect's default is more).
STEPS = 20


def test_face_seeds_land_on_the_face_with_its_chroma():
    # A face whose five points sit in a 120 px square at (150, 40) of a 400 x 300 photo.
    points = FFHQ_FIVE * 120 + np.array([150.0, 40.0])
    matrix = frame_matrix(points, ALIGN_SIDE)
    ab = np.zeros((ALIGN_SIDE, ALIGN_SIDE, 2), np.float32)
    ab[:] = (20.0, 30.0)
    colour = FaceColour(matrix, ab, head_mask(ALIGN_SIDE), np.zeros((1, 1, 3), np.uint8))
    seeds = colour_seeds([colour], (300, 400), (150, 200))  # a half-size solve grid
    ys, xs = np.nonzero(seeds.mask)
    assert seeds.count > 1000
    # On the half-size grid the face spans x 75...135, y 20...80 (the FFHQ frame's middle).
    assert xs.min() >= 70 and xs.max() <= 140
    assert ys.min() >= 10 and ys.max() <= 85
    assert abs(xs.mean() - 105) < 5
    assert np.allclose(seeds.ab[seeds.mask], (20.0, 30.0), atol=0.5)


def test_match_colour_takes_the_targets_tone_and_keeps_the_detail():
    rng = np.random.default_rng(0)
    face = np.clip(rng.normal(128, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
    target = np.zeros((64, 64, 3), np.uint8)
    target[:] = (190, 140, 110)
    mask = np.ones((64, 64), np.float32)
    out = match_colour(face, target, mask)
    assert np.abs(rgb_to_lab(out)[:, :, 1:].mean((0, 1)) - rgb_to_lab(target)[0, 0, 1:]).max() < 3
    # A flat target would flatten the face: its spread is matched at most down to half.
    assert rgb_to_lab(out)[:, :, 0].std() > 0.45 * rgb_to_lab(face)[:, :, 0].std()


@pytest.fixture(scope="module")
def prior() -> FacePrior:
    from ml.recognition import FaceAnalyzer
    from ml.stylemix.generator import TorchStyleGAN

    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    generator = TorchStyleGAN(MODEL_DIR / "mobilestylegan")
    prior = FacePrior(generator, analyzer.detectors["photo"], PriorSettings(iterations=STEPS))
    return prior


def _skin(prior: FacePrior, rgb: np.ndarray) -> np.ndarray:
    """The largest face's skin ellipse in the photo (found on the colour original)."""
    skin = face_skin(prior, rgb)
    assert skin is not None
    return skin


@pytest.mark.slow
def test_automatic_face_colour_beats_grey_and_sepia_on_the_faces(prior, dataset):
    ours, grey, sepia = [], [], []
    for person in CELEBRITIES:
        for path in colour_photos(dataset, "val", person)[:2]:
            original = load_rgb(path)
            old = grey_rgb(original)
            colours, report = prior.face_colours(old)
            if not report.faces_used:  # MTCNN misses a face in the grey copy (sunglasses)
                continue
            result = colorize(
                old, face_seeds=lambda rgb, grid, c=colours: colour_seeds(c, rgb.shape[:2], grid)
            )
            assert result.sources == ["faces"]
            skin = _skin(prior, original)
            ours.append(ab_rmse(result.rgb, original, skin))
            grey.append(ab_rmse(old, original, skin))
            sepia.append(ab_rmse(flat_chroma(original, SEPIA_AB), original, skin))
            break
    assert len(ours) >= 4
    ours_mean, grey_mean, sepia_mean = np.mean(ours), np.mean(grey), np.mean(sepia)
    assert ours_mean < 0.6 * grey_mean, (ours, grey)
    assert ours_mean < 0.85 * sepia_mean, (ours, sepia)
    assert sum(o < g for o, g in zip(ours, grey, strict=True)) == len(ours)


@pytest.mark.slow
def test_luminance_only_projection_gives_a_coloured_face_of_the_same_shades(prior, dataset):
    original = load_rgb(colour_photos(dataset, "val", "jerry_seinfeld")[0])
    old = grey_rgb(original)
    aligned = align(old, five_points(prior.faces(old)[0]), ALIGN_SIDE)
    inside = face_mask(ALIGN_SIDE, 0.0) > 0.5
    start = prior.reconstruct(aligned, luminance_only=True, iterations=0)
    fitted = prior.reconstruct(aligned, luminance_only=True)
    photo_l = rgb_to_lab(aligned.image)[:, :, 0][inside]

    def l_error(face: np.ndarray) -> float:
        return float(np.abs(rgb_to_lab(face)[:, :, 0][inside] - photo_l).mean())

    assert l_error(fitted) < 0.8 * l_error(start)  # the shades were fitted...
    chroma = np.linalg.norm(rgb_to_lab(fitted)[:, :, 1:][inside], axis=1)
    assert chroma.mean() > 8  # ...and the colour stayed free: a skin tone, not grey
    a, b = rgb_to_lab(fitted)[:, :, 1:][inside].mean(axis=0)
    assert a > 3 and b > 5  # warm (skin), as the original's
    assert l_error(grey_rgb(fitted)) == pytest.approx(l_error(fitted), abs=0.5)


@pytest.mark.slow
def test_face_restoration_blends_the_face_only_and_zero_is_off(prior, dataset):
    clean = load_rgb(colour_photos(dataset, "val", "jerry_seinfeld")[0])
    old, _ = degrade(clean, 1, seed=2)
    same, report = prior.restore(old, 0.0)
    assert same is old and report.faces_used == 0
    fitted, report = prior.fit_faces(old, iterations=STEPS)
    assert report.faces_used == 1
    restored = prior.blend_faces(old, fitted, 0.5)
    changed = np.abs(restored.astype(int) - old.astype(int)).max(axis=2) > 2
    skin = _skin(prior, clean)
    assert changed[skin].mean() > 0.5  # the face was redrawn...
    assert changed[~_dilate(skin, 0.25)].mean() < 0.01  # ...and nothing far from it
    # The reconstruction is colour-matched: the face keeps its tone.
    tone = np.abs(rgb_to_lab(restored)[skin].mean(0) - rgb_to_lab(old)[skin].mean(0))
    assert tone.max() < 6
    assert psnr(restored[skin], clean[skin]) > psnr(old[skin], clean[skin]) - 1


@pytest.mark.slow
def test_past_the_time_budget_only_the_first_face_is_projected(prior, dataset):
    photos = [load_rgb(colour_photos(dataset, "val", p)[0]) for p in ("jerry_seinfeld", "madonna")]
    height = min(photo.shape[0] for photo in photos)
    pair = np.hstack([cv2.resize(p, (p.shape[1] * height // p.shape[0], height)) for p in photos])
    hurried = FacePrior(
        prior.generator, prior.detector, PriorSettings(iterations=0, time_budget=0.0)
    )
    stages: list[str] = []
    fitted, report = hurried.fit_faces(pair, iterations=0, progress=lambda _f, s: stages.append(s))
    assert report.faces_found >= 2
    assert report.faces_used == len(fitted) == 1  # the first face is always done...
    assert report.skipped_for_time == min(report.faces_found, 4) - 1  # ...and no other
    assert set(stages) <= {f"face 1 of {min(report.faces_found, 4)}"}
    colours, report = hurried.face_colours(grey_rgb(pair))
    assert report.faces_used == len(colours) == 1
    assert report.skipped_for_time == min(report.faces_found, 4) - 1
    np.testing.assert_allclose(fitted[0].points, five_points(hurried.faces(pair)[0]))


def _dilate(mask: np.ndarray, fraction: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    radius = max(1, int(fraction * max(np.ptp(xs), np.ptp(ys))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
