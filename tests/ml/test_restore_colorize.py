"""Colorization on real colour photos turned grey: hints, a reference photo, colour detection."""

from __future__ import annotations

import numpy as np
import pytest

from ml.restore.color import colour_report, grey_rgb, hex_to_ab, rgb_to_lab
from ml.restore.colorize import colorize
from ml.restore.errors import HintError, RestoreError
from ml.restore.hints import Stroke, parse_strokes
from tests.ml.restore_photos import (
    CELEBRITIES,
    SEPIA_AB,
    ab_rmse,
    colour_photos,
    flat_chroma,
    load_rgb,
    sampled_strokes,
)

#: Black-and-white and toned (sepia) prints in the set, looked at one by one.
MONOCHROME = (
    "train/elton_john/httpssmediacacheakpinimgcomxfecfecaefaadfebejpg.jpg",
    "train/madonna/httpssmediacacheakpinimgcomxaaeaaeecccaedfebdbjpg.jpg",
    "train/madonna/httpssmediacacheakpinimgcomxfeebfdccajpg.jpg",
    "val/madonna/httpcdnfuncheapcomwpcontentuploadsVOGUEjpg.jpg",
    "val/ben_afflek/httpcsvkmeuaafdfjpg.jpg",
)


@pytest.fixture(scope="module")
def val_colour(dataset) -> list[np.ndarray]:
    """Two colour val photos of each person."""
    return [
        load_rgb(p) for person in CELEBRITIES for p in colour_photos(dataset, "val", person)[:2]
    ]


def test_colour_detection_tells_colour_from_grey_and_sepia(val_colour, dataset):
    for original in val_colour:
        assert colour_report(original).is_colour
        assert not colour_report(grey_rgb(original)).is_colour
        sepia = flat_chroma(original, SEPIA_AB)
        report = colour_report(sepia)
        assert not report.is_colour
        assert report.tint_ab[1] > 10  # the sepia tone is seen as a tint, not as colour
    for relative in MONOCHROME:
        assert not colour_report(load_rgb(dataset / relative)).is_colour


def test_hints_from_the_original_beat_flat_grey_and_sepia(val_colour):
    ours, grey, sepia = [], [], []
    for number, original in enumerate(val_colour):
        old = grey_rgb(original)
        result = colorize(old, strokes=sampled_strokes(original, 30, seed=number))
        assert result.sources == ["hints"]
        ours.append(ab_rmse(result.rgb, original))
        grey.append(ab_rmse(old, original))
        sepia.append(ab_rmse(flat_chroma(original, SEPIA_AB), original))
        assert ours[-1] < grey[-1], f"photo {number}: {ours[-1]:.1f} vs grey {grey[-1]:.1f}"
        # The luminance is the photo's own.
        lightness = rgb_to_lab(result.rgb)[:, :, 0]
        assert np.abs(lightness - rgb_to_lab(old)[:, :, 0]).mean() < 1.5
    baseline = min(np.mean(grey), np.mean(sepia))
    assert np.mean(ours) < 0.7 * baseline, (np.mean(ours), np.mean(grey), np.mean(sepia))


def test_colour_appears_where_hinted(val_colour):
    old = grey_rgb(val_colour[0])
    height, width = old.shape[:2]
    red, blue = "#c03020", "#2040c0"
    strokes = [
        Stroke(red, ((width * 0.1, height * 0.1), (width * 0.3, height * 0.1)), 10),
        Stroke(blue, ((width * 0.7, height * 0.9), (width * 0.9, height * 0.9)), 10),
    ]
    result = colorize(old, strokes=strokes)
    ab = rgb_to_lab(result.rgb)[:, :, 1:]
    on_red = ab[int(height * 0.1), int(width * 0.2)]
    on_blue = ab[int(height * 0.9), int(width * 0.8)]
    assert np.linalg.norm(on_red - hex_to_ab(red)) < 15
    assert np.linalg.norm(on_blue - hex_to_ab(blue)) < 15
    assert on_red[0] > 20 and on_blue[1] < -20


def test_reference_of_the_same_person_colours_the_face(dataset, loaded_models):
    """A colour photo of the same person gives the grey face plausible skin (vs grey, sepia).

    Measured on the middle of the face: a reference knows nothing of this photo's background.
    """
    analyzer = loaded_models.get("faces")
    ours, grey, sepia = [], [], []

    def face_box(rgb):
        faces = analyzer.detect(rgb)
        if not faces:
            return None
        x, y, w, h = max(faces, key=lambda f: f.area).box
        return x / rgb.shape[1], y / rgb.shape[0], w / rgb.shape[1], h / rgb.shape[0]

    for person in CELEBRITIES:
        reference = load_rgb(colour_photos(dataset, "train", person)[0])
        for path in colour_photos(dataset, "val", person)[:2]:
            original = load_rgb(path)
            old = grey_rgb(original)
            box = face_box(old)
            if box is None:  # the detector misses a few of these faces once they are grey
                continue
            result = colorize(old, reference=reference, faces=(box, face_box(reference)))
            assert "reference" in result.sources
            height, width = old.shape[:2]
            face = np.zeros((height, width), bool)
            x, y, w, h = box
            face[int((y + 0.2 * h) * height) : int((y + 0.8 * h) * height),
                 int((x + 0.2 * w) * width) : int((x + 0.8 * w) * width)] = True  # fmt: skip
            ours.append(ab_rmse(result.rgb, original, face))
            grey.append(ab_rmse(old, original, face))
            sepia.append(ab_rmse(flat_chroma(original, SEPIA_AB), original, face))
    assert len(ours) >= 6
    # Measured: 13.0 against grey 26.7 and sepia 15.4 (sepia is already a fair guess at skin).
    figures = (np.mean(ours), np.mean(grey), np.mean(sepia))
    assert np.mean(ours) < 0.6 * np.mean(grey) and np.mean(ours) < 0.9 * np.mean(sepia), figures


def test_colour_photo_is_skipped_unless_recoloured(val_colour):
    original = val_colour[1]
    skipped = colorize(original, strokes=sampled_strokes(original, 5, seed=1), recolour=False)
    assert skipped.skipped and skipped.report.is_colour
    assert np.array_equal(skipped.rgb, original)
    redone = colorize(original, strokes=[Stroke("#20c040", ((10.0, 10.0),), 30)])
    assert not redone.skipped
    # Green where painted, whatever it was: the hue of the hint (its full chroma may not fit the
    # gamut at this pixel's luminance).
    painted = rgb_to_lab(redone.rgb)[10, 10, 1:]
    hint = np.array(hex_to_ab("#20c040"))
    assert painted @ hint / (np.linalg.norm(painted) * np.linalg.norm(hint)) > 0.9
    assert np.linalg.norm(painted) > 15


def test_nothing_to_colour_from_is_an_error(val_colour):
    with pytest.raises(RestoreError) as caught:
        colorize(grey_rgb(val_colour[0]))
    assert caught.value.code == "no_colour_source"


@pytest.mark.parametrize(
    "hints",
    [
        "red",
        [{"color": "red", "points": [[1, 2]], "width": 5}],
        [{"color": "#ff0000", "points": [], "width": 5}],
        [{"color": "#ff0000", "points": [[1, "2"]], "width": 5}],
        [{"color": "#ff0000", "points": [[1, 2]], "width": 0}],
        [{"color": "#ff0000", "points": [[1, 2]], "width": 5, "alpha": 1}],
        [{"color": "#ff0000", "points": [[float("nan"), 2]], "width": 5}],
    ],
)
def test_malformed_hints_are_refused(hints):
    with pytest.raises(HintError):
        parse_strokes(hints)


def test_hints_outside_the_photo_are_refused(val_colour):
    old = grey_rgb(val_colour[0])
    strokes = parse_strokes([{"color": "#ff0000", "points": [[5000, 5000]], "width": 5}])
    with pytest.raises(HintError) as caught:
        colorize(old, strokes=strokes)
    assert caught.value.code == "hints_outside"
