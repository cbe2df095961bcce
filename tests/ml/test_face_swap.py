"""Face swap on real photos and a real video, measured with our own detector and recognizer."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ml.errors import NoFaceError
from ml.face_mesh import (
    FACE_OVAL,
    INNER_LIPS,
    LEFT_EYE,
    RIGHT_EYE,
    FaceMesher,
    delaunay_triangles,
    five_points,
    iris_mask,
    polygon_mask,
    warp_mesh,
)
from ml.face_swap import (
    EMBEDDER_FILE,
    SWAP_MODEL_FILE,
    FaceSwapper,
    OneEuroFilter,
    SwapModelError,
    UnknownFaceError,
    VideoSwapper,
)
from ml.face_swap.classical import FEATURES, forehead_hair, umeyama
from ml.images import decode_image
from ml.video import iter_frames, transform_video
from tests.ml.test_video import make_video

# (source, target): frontal-ish train photos as sources, val photos of other people as targets.
PAIRS = (
    (("train", "jerry_seinfeld", 9), ("val", "ben_afflek", 1)),
    (("train", "mindy_kaling", 0), ("val", "jerry_seinfeld", 0)),  # the target's mouth is open
)


def photo(dataset: Path, split: str, person: str, index: int) -> np.ndarray:
    return decode_image(sorted((dataset / split / person).glob("*.jpg"))[index].read_bytes())


@pytest.fixture(scope="module")
def analyzer(loaded_models):
    return loaded_models.get("faces")


@pytest.fixture(scope="module")
def swapper(analyzer) -> FaceSwapper:
    return FaceSwapper(analyzer.detectors["photo"], FaceMesher())


def embedding(analyzer, rgb: np.ndarray) -> np.ndarray:
    faces = analyzer.analyze(rgb)
    assert faces, "no face found"
    return faces[0].embedding


def box_iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


# -- geometry, no models -------------------------------------------------------------------------


def test_contours_follow_mediapipe_edges():
    from mediapipe.python.solutions import face_mesh_connections as connections

    for ring, edges in (
        (FACE_OVAL, connections.FACEMESH_FACE_OVAL),
        (RIGHT_EYE, connections.FACEMESH_RIGHT_EYE),
        (LEFT_EYE, connections.FACEMESH_LEFT_EYE),
        (INNER_LIPS, connections.FACEMESH_LIPS),
    ):
        undirected = {frozenset(edge) for edge in edges}
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            assert frozenset((a, b)) in undirected, (a, b)


def test_warp_mesh_maps_each_triangle_affinely():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 255, (120, 120, 3), dtype=np.uint8)
    points = np.array([[10, 10], [110, 10], [10, 110], [110, 110], [60, 55]], dtype=np.float64)
    # The target: the same mesh shifted by (7, 3) in a larger picture.
    shifted = points + np.array([7, 3])
    warped, covered = warp_mesh(source, points, shifted, delaunay_triangles(points), (130, 130))
    inside = cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(inside)
    assert inside.sum() > 90 * 90
    assert np.array_equal(warped[ys, xs], source[ys - 3, xs - 7])
    assert not covered[:3].any() and not covered[:, :7].any()


def test_one_euro_steadies_jitter_and_follows_motion():
    rng = np.random.default_rng(1)
    smoother = OneEuroFilter(scale=100.0)  # a 100-px face at 25 fps
    still = [smoother(50 + rng.normal(0, 1.5, 2), i / 25) for i in range(50)]
    assert np.std(np.array(still[10:]) - 50) < 0.6  # raw jitter: 1.5 px
    moving = [smoother(np.array([50.0, 50.0]) + 8 * i, (50 + i) / 25) for i in range(1, 15)]
    lag = (50 + 8 * 14) - moving[-1][0]
    assert lag < 12  # 1.5 frames behind a face moving 8 px a frame


# -- photos --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source_ref", "target_ref"), PAIRS)
def test_swap_moves_identity_to_the_source_and_touches_only_the_face(
    swapper, analyzer, dataset, source_ref, target_ref
):
    source, target = photo(dataset, *source_ref), photo(dataset, *target_ref)
    result = swapper.swap_image(source, target)
    assert result.swapped_ids == [0]
    face = result.faces[0]
    x, y, w, h = face.box

    # The face changed...
    changed = np.abs(result.image.astype(int) - target.astype(int)).sum(axis=2)
    assert changed[y : y + h, x : x + w].mean() > 15
    # ...and nothing outside the target's face mesh did (the blend margin lies inside it).
    landmarks = swapper.mesher.landmarks(target, face.box)
    outside = swapper.face_mask(target.shape[:2], landmarks) == 0
    assert changed[outside].max() == 0

    # Measured with our own recognizer: closer to the source, away from the target.
    e_source, e_target = embedding(analyzer, source), embedding(analyzer, target)
    e_result = embedding(analyzer, result.image)
    before, after = float(e_source @ e_target), float(e_source @ e_result)
    assert after > before + 0.15, (before, after)
    assert float(e_target @ e_result) < 0.75
    assert after > float(e_target @ e_result)  # closer to the source than to the target

    # Still one face to the detector, in the same place.
    found = analyzer.detect(result.image)
    assert len(found) == 1
    assert found[0].confidence > 0.95 and box_iou(found[0].box, face.box) > 0.6


# The jaw line, from one ear to the other through the chin; rigid points to align faces on.
JAW = FACE_OVAL[8:29]
RIGID = (33, 133, 263, 362, 1, 4, 5, 6, 168, 197, 195, 10, 152, 234, 454)


def jaw_distance(landmarks: np.ndarray, source: np.ndarray) -> float:
    """Mean distance (in eye distances) of a face's jaw line from the source's jaw line put in
    that face's pose (3-D similarity on rigid points)."""
    scale, rotation, shift = umeyama(source[list(RIGID)], landmarks[list(RIGID)])
    posed = (scale * source[list(JAW)] @ rotation.T + shift)[:, :2]
    eyes = np.linalg.norm(landmarks[33, :2] - landmarks[263, :2])
    return float(np.linalg.norm(posed - landmarks[list(JAW), :2], axis=1).mean() / eyes)


@pytest.fixture(scope="module")
def swapped_pair(swapper, dataset):
    """(source, target, result, each one's landmarks): a round face onto a long one."""
    source, target = photo(dataset, *PAIRS[1][0]), photo(dataset, *PAIRS[1][1])
    result = swapper.swap_image(source, target).image
    marks = [
        swapper.mesher.landmarks(rgb, swapper.detect(rgb)[0].box)
        for rgb in (source, target, result)
    ]
    return source, target, result, marks


def test_the_jaw_line_moves_to_the_sources(swapped_pair):
    _, _, _, (source, target, result) = swapped_pair
    before, after = jaw_distance(target, source), jaw_distance(result, source)
    assert before > 0.05  # the two faces' jaws differ to begin with
    assert after < 0.6 * before, (before, after)


def skin_lab(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean CIE Lab of a face's skin: inside the oval (eroded), eyes, brows and lips left out."""
    skin = polygon_mask(rgb.shape[:2], landmarks, FACE_OVAL)
    for feature in FEATURES:
        hull = cv2.convexHull(np.round(landmarks[list(feature), :2]).astype(np.int32))
        cv2.fillConvexPoly(skin, hull, 0)
    skin = cv2.erode(skin, np.ones((9, 9), np.uint8))
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[skin > 0].mean(axis=0)


def test_the_face_takes_the_colour_of_the_skin_around_it(swapper, dataset):
    # A dark-skinned source onto a light-skinned target: the face must not look pasted on.
    source, target = photo(dataset, "train", "mindy_kaling", 0), photo(dataset, "val", "madonna", 1)
    result = swapper.swap_image(source, target).image
    marks = [
        swapper.mesher.landmarks(rgb, swapper.detect(rgb)[0].box)
        for rgb in (source, target, result)
    ]
    source_skin, target_skin, result_skin = (
        skin_lab(rgb, m) for rgb, m in zip((source, target, result), marks, strict=True)
    )
    apart = float(np.linalg.norm(source_skin - target_skin))  # ΔE (CIE76)
    assert apart > 15, apart
    assert float(np.linalg.norm(result_skin - target_skin)) < 6, (result_skin, target_skin)


def test_the_target_keeps_its_mouth_interior_and_eyes(swapper, dataset):
    source, target = photo(dataset, *PAIRS[1][0]), photo(dataset, *PAIRS[1][1])
    landmarks = swapper.mesher.landmarks(target, swapper.detect(target)[0].box)
    mouth = polygon_mask(target.shape[:2], landmarks, INNER_LIPS) > 0
    openings = polygon_mask(target.shape[:2], landmarks, RIGHT_EYE) > 0
    openings |= polygon_mask(target.shape[:2], landmarks, LEFT_EYE) > 0
    irises = iris_mask(target.shape[:2], landmarks) > 0
    assert mouth.sum() > 300 and openings.sum() > 100 and irises.sum() > 40  # open, looking
    # Without moving the features, these pixels are exactly the target's.
    same_shape = FaceSwapper(swapper.detector, swapper.mesher, shape_transfer=0.0, eyes="target")
    result = same_shape.swap_image(source, target).image
    for region in (mouth, openings):
        assert np.array_equal(result[region], target[region])
    iris_only = FaceSwapper(swapper.detector, swapper.mesher, shape_transfer=0.0)  # eyes="iris"
    result = iris_only.swap_image(source, target).image
    assert np.array_equal(result[irises | mouth], target[irises | mouth])
    assert not np.array_equal(result[openings & ~irises], target[openings & ~irises])


def test_a_hand_in_front_of_the_face_is_left_in_front(swapper, dataset):
    target = photo(dataset, "val", "mindy_kaling", 0)  # her hand on her chin
    result = swapper.swap_image(photo(dataset, *PAIRS[0][0]), target).image
    landmarks = swapper.mesher.landmarks(target, swapper.detect(target)[0].box)
    oval = polygon_mask(target.shape[:2], landmarks, FACE_OVAL) > 0
    hand = (swapper.hand_finder(target) > 0) & oval
    assert hand.sum() > 300  # the hand covers part of the face
    changed = np.abs(result.astype(int) - target.astype(int)).sum(axis=2)
    hand = cv2.erode(hand.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert changed[hand].mean() < 0.3 * changed[oval & ~hand].mean()
    without = FaceSwapper(swapper.detector, swapper.mesher, hands=False)
    changed = np.abs(without.swap_image(photo(dataset, *PAIRS[0][0]), target).image.astype(int)
                     - target.astype(int)).sum(axis=2)  # fmt: skip
    assert changed[hand].mean() > 0.5 * changed[oval & ~hand].mean()  # painted over without


def test_a_fringe_over_the_forehead_stays_in_front(swapper, dataset):
    target = photo(dataset, "val", "mindy_kaling", 1)  # her hair falls over her forehead
    landmarks = swapper.mesher.landmarks(target, swapper.detect(target)[0].box)
    fringe = forehead_hair(target, landmarks) > 0
    assert fringe.sum() > 100
    result = swapper.swap_image(photo(dataset, *PAIRS[0][0]), target).image
    changed = np.abs(result.astype(int) - target.astype(int)).sum(axis=2)
    oval = polygon_mask(target.shape[:2], landmarks, FACE_OVAL) > 0
    core = cv2.erode(fringe.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # The liquify may shift the fringe a little; it is not replaced by skin (without the hair cut
    # it changes more than the face around it does).
    assert changed[core].mean() < 0.3 * changed[oval & ~fringe].mean()


def test_only_the_chosen_faces_are_swapped(swapper, dataset):
    left, right = photo(dataset, "val", "madonna", 1), photo(dataset, "val", "ben_afflek", 1)
    right = cv2.resize(
        right, (round(right.shape[1] * left.shape[0] / right.shape[0]), left.shape[0])
    )
    group = np.concatenate([left, right], axis=1)
    faces = swapper.detect(group)
    assert len(faces) == 2
    source = photo(dataset, *PAIRS[0][0])
    result = swapper.swap_image(source, group, target_ids=[1])
    assert result.swapped_ids == [1]
    changed = np.abs(result.image.astype(int) - group.astype(int)).sum(axis=2)
    for face_id, face in enumerate(result.faces):
        x, y, w, h = face.box
        assert (changed[y : y + h, x : x + w].mean() > 15) == (face_id == 1)
    with pytest.raises(UnknownFaceError):
        swapper.swap_image(source, group, target_ids=[2])


def test_a_source_without_a_face_is_refused(swapper, dataset):
    blank = np.full((240, 240, 3), 128, dtype=np.uint8)
    with pytest.raises(NoFaceError):
        swapper.swap_image(blank, photo(dataset, "val", "madonna", 1))
    with pytest.raises(NoFaceError):
        swapper.swap_image(photo(dataset, "val", "madonna", 1), blank)


# -- video ---------------------------------------------------------------------------------------


class MissingFrames:
    """The photo detector, blind in the listed frames (as MTCNN is, now and then)."""

    def __init__(self, detector, blind: set[int]) -> None:
        self.detector, self.blind, self.calls = detector, blind, 0

    def detect(self, rgb):
        index, self.calls = self.calls, self.calls + 1
        return [] if index in self.blind else self.detector.detect(rgb)


def test_video_swap_follows_the_chosen_face_through_a_missed_detection(swapper, dataset, tmp_path):
    faces = [photo(dataset, "val", "ben_afflek", 1), photo(dataset, "val", "madonna", 1)]
    clip = make_video(tmp_path / "two.mp4", faces, seconds=1.25, fps=12, audio="aac")
    first = next(iter_frames(clip))
    chosen = 0 if swapper.detect(first)[0].box[0] < 320 else 1  # the face in the left lane
    video_swapper = FaceSwapper(
        MissingFrames(swapper.detector, blind={6}), swapper.mesher, blend_margin=0.06
    )
    fn = VideoSwapper(video_swapper, photo(dataset, *PAIRS[0][0]), target_ids=[chosen], fps=12)
    out = tmp_path / "swapped.mp4"
    info = transform_video(clip, out, fn, metadata={"comment": "synthetic: face swap"})
    assert info.frames == 15 and info.has_audio
    (track,) = fn.chosen_tracks
    assert fn.swapped_per_frame == [[track]] * 15  # frame 6 included: the track coasted
    for before, after in zip(iter_frames(clip), iter_frames(out), strict=True):
        diff = np.abs(after.astype(int) - before.astype(int)).sum(axis=2)
        assert diff[:, :300].mean() > 3 * diff[:, 340:].mean()  # left lane swapped, right not


def test_a_swapped_face_does_not_flicker_in_a_still_video(swapper, dataset):
    # A still shot with sensor noise: the swapped face must stay as steady as the input is.
    target = photo(dataset, "val", "ben_afflek", 1)
    rng = np.random.default_rng(3)
    frames = [
        np.clip(target + rng.normal(0.0, 3.0, target.shape), 0, 255).astype(np.uint8)
        for _ in range(10)
    ]
    source = photo(dataset, *PAIRS[0][0])
    video = VideoSwapper(swapper, source, fps=12)
    out = [video(frame, index) for index, frame in enumerate(frames)]
    assert len(out) == len(frames) and all(len(ids) == 1 for ids in video.swapped_per_frame)
    single = [swapper.swap_image(source, frame).image for frame in frames]  # no smoothing
    landmarks = swapper.mesher.landmarks(target, swapper.detect(target)[0].box)
    face = polygon_mask(target.shape[:2], landmarks, FACE_OVAL) > 0

    def flicker(sequence):
        steps = itertools.pairwise(sequence[2:])
        return float(np.mean([np.abs(b[face].astype(int) - a[face]).mean() for a, b in steps]))

    assert flicker(out) < flicker(frames), (flicker(out), flicker(frames), flicker(single))
    assert flicker(out) < flicker(single)


# -- the model slot ------------------------------------------------------------------------------

COLOUR = np.array([0.9, 0.3, 0.3])  # the test embedder's identity: its first three values


def tiny_swap_model(path: Path, size: int = 128, dim: int = 512, emap: np.ndarray | None = None):
    """A 128-px swap model that is easy to check: out = (1 - target) / 2 + identity[:3] / 2."""
    one = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "one")
    half = numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32), "half")
    starts = numpy_helper.from_array(np.array([0], np.int64), "starts")
    ends = numpy_helper.from_array(np.array([3], np.int64), "ends")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    shape = numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape")
    nodes = [
        helper.make_node("Sub", ["one", "target"], ["inverted"]),
        helper.make_node("Slice", ["source", "starts", "ends", "axes"], ["first3"]),
        helper.make_node("Reshape", ["first3", "shape"], ["colour"]),
        helper.make_node("Add", ["inverted", "colour"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["output"]),
    ]
    initializers = [one, half, starts, ends, axes, shape]
    if emap is not None:  # stored like inswapper's: the last initializer, used by no node
        initializers.append(numpy_helper.from_array(emap.astype(np.float32), "emap"))
    graph = helper.make_graph(
        nodes,
        "tiny_swap",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, dim]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
        initializers,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def tiny_embedder(path: Path, vector: np.ndarray, size: int = 112):
    """An 'ArcFace' that gives every face the same identity `vector` (1x512)."""
    zero = numpy_helper.from_array(np.zeros((1, 3, size, size), np.float32), "zero")
    constant = numpy_helper.from_array(vector.reshape(1, -1).astype(np.float32), "constant")
    nodes = [
        helper.make_node("Mul", ["face", "zero"], ["nothing"]),
        helper.make_node("ReduceSum", ["nothing"], ["nil"], keepdims=0),
        helper.make_node("Add", ["constant", "nil"], ["identity"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_embedder",
        [helper.make_tensor_value_info("face", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("identity", TensorProto.FLOAT, [1, vector.size])],
        [zero, constant],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def identity_vector() -> np.ndarray:
    vector = np.zeros(512)
    vector[:3] = COLOUR
    return vector


def test_the_slot_refuses_a_swap_model_without_its_embedder(tmp_path, analyzer):
    tiny_swap_model(tmp_path / SWAP_MODEL_FILE)
    with pytest.raises(SwapModelError, match=EMBEDDER_FILE):
        FaceSwapper.from_model_dir(tmp_path, detector=analyzer.detectors["photo"])


def test_the_slot_refuses_a_model_of_another_interface(tmp_path, analyzer):
    tiny_embedder(tmp_path / SWAP_MODEL_FILE, identity_vector())  # one input only
    tiny_embedder(tmp_path / EMBEDDER_FILE, identity_vector())
    with pytest.raises(SwapModelError, match="one 1x3xSxS image and one 1xD identity"):
        FaceSwapper.from_model_dir(tmp_path, detector=analyzer.detectors["photo"])


def test_no_model_means_the_classical_swap(tmp_path, analyzer):
    swapper = FaceSwapper.from_model_dir(tmp_path, detector=analyzer.detectors["photo"])
    assert swapper.engine == "classical" and swapper.version.startswith("classical-mesh-swap")


@pytest.mark.parametrize("with_emap", [False, True])
def test_an_operator_model_is_used_and_pasted_back(tmp_path, analyzer, dataset, with_emap):
    # With an emap, the identity is rotated before the model sees it: (a, b, c) -> (c, a, b).
    emap = np.eye(512)[:, [2, 0, 1, *range(3, 512)]] if with_emap else None
    tiny_swap_model(tmp_path / SWAP_MODEL_FILE, emap=emap)
    tiny_embedder(tmp_path / EMBEDDER_FILE, identity_vector())
    swapper = FaceSwapper.from_model_dir(tmp_path, detector=analyzer.detectors["photo"])
    assert swapper.engine == "onnx" and swapper.version.startswith("onnx:face_swap.onnx")
    expected = COLOUR / np.linalg.norm(COLOUR)
    if with_emap:
        expected = expected[[2, 0, 1]]
        assert swapper.model.emap is not None
    target = photo(dataset, "val", "ben_afflek", 1)
    result = swapper.swap_image(photo(dataset, *PAIRS[0][0]), target)
    assert result.swapped_ids == [0]
    landmarks = swapper.mesher.landmarks(target, result.faces[0].box)
    pasted = swapper.face_mask(target.shape[:2], landmarks)
    # In the core of the pasted square (inside its feathered border, 20% a side) the picture is
    # what the model says...
    side = cv2.boundingRect(pasted)[2]
    kernel = np.ones((side // 2, side // 2), np.uint8)
    core = cv2.erode(pasted, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    assert core.sum() > 5000
    want = (255.0 - target[core]) / 2 + 255.0 * expected / 2
    assert np.abs(result.image[core].astype(float) - want).mean() < 6
    # ...and outside the square nothing changed.
    outside = cv2.dilate(pasted, np.ones((3, 3), np.uint8)) == 0
    assert np.array_equal(result.image[outside], target[outside])
    assert np.allclose(five_points(landmarks)[0], landmarks[list(RIGHT_EYE), :2].mean(0))
