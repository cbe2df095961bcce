"""The cartoon filter on real photos: flat colours, dark outlines on the face, strength 0 changes
nothing, and a video frame gives the same result every time (no flicker)."""

from __future__ import annotations

import cv2
import numpy as np

from ml.cartoon import VideoCartoonizer, cartoon_params, cartoonize, ink_edges, smooth
from tests.studio_helpers import photo, two_people


def _colours(rgb: np.ndarray) -> int:
    return len(np.unique(rgb.reshape(-1, 3), axis=0))


def _roughness(rgb: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels (texture and noise)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean())


def test_strength_zero_returns_the_photo_unchanged():
    rgb = photo("madonna")
    assert np.array_equal(cartoonize(rgb, 0.0), rgb)


def test_full_strength_flattens_colours_and_keeps_the_picture():
    rgb = photo("jerry_seinfeld")
    out = cartoonize(rgb, 1.0, edges=False)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert _colours(out) < _colours(rgb) / 8  # quantized
    assert _roughness(out) < 0.7 * _roughness(rgb)  # smoothed
    # Still the same picture: mean colour within a few levels, layout correlated.
    assert np.abs(out.mean(axis=(0, 1)) - rgb.mean(axis=(0, 1))).max() < 12
    grey_in = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).ravel().astype(float)
    grey_out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).ravel().astype(float)
    assert np.corrcoef(grey_in, grey_out)[0, 1] > 0.9


def test_stronger_means_fewer_colours():
    rgb = photo("elton_john")
    counts = [_colours(cartoonize(rgb, s, edges=False)) for s in (0.3, 0.6, 1.0)]
    assert counts[0] > counts[1] > counts[2]


def test_outlines_are_inked_on_the_face_not_on_flat_background():
    scene = two_people()  # grey background, two faces pasted on it
    ink = ink_edges(scene)
    background = ink[:, 330:370]  # the grey gap between the two people
    faces = ink[30:330, 20:320]
    assert background.mean() < 1.0
    assert (faces > 0).mean() > 0.02
    out = cartoonize(scene, 1.0, edges=True)
    drawn = ink_edges(smooth(scene, cartoon_params(1.0)["passes"]))  # what cartoonize inks
    assert (drawn > 0).mean() < (ink > 0).mean()  # smoothing drops texture specks
    assert out[drawn > 0].mean() < 0.3 * scene[drawn > 0].mean() + 10  # inked lines are dark


def test_video_frames_are_deterministic():
    frame = photo("ben_afflek")
    video = VideoCartoonizer(0.7)
    first, again = video(frame, 0), video(frame.copy(), 1)
    assert np.array_equal(first, again) and video.frames == 2
