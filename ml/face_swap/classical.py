"""The classical swap pipeline: whole-face shape transfer, mesh warp, masks, light, blending.

For one target face (478 landmarks):

1. Shape. The source's 3-D mesh is put in the target's pose (a similarity fitted on the face's
   rigid points: outline, nose, brows, eye and mouth corners). The displacement of those points,
   outline included, is spread over the whole mesh by a thin-plate spline, so the target's jaw
   line, cheeks, brows and nose move to the source's proportions while the target's expression
   (lids, lips) stays; `shape_transfer` says how far (1 = the source's shape).
2. The target's picture is warped along (a liquify): its mesh points move, a ring of anchors
   around the face (hair, neck, background) stays put, so the target's own jaw, neck and the
   background next to the cheek follow the new outline, and its eyes and mouth interior come along.
3. The source's face, forehead to chin, is mesh-warped onto the moved mesh (back faces culled,
   drawn far to near).
4. Mask: the moved face oval, cut to the person by MediaPipe selfie segmentation (background
   showing past the outline is not painted over), minus the target's mouth interior and irises,
   hair on either forehead (`forehead_hair`: not the face's own skin colour) and, in photos, hands
   in front of the face (MediaPipe Hands).
5. Colour and light: Reinhard transfer in CIE Lab inside the mask, then the target's
   low-frequency lighting (a ratio of mask-normalized blurs of L), so shading falls on the source's
   face as it fell on the target's.
6. Multi-band (Laplacian pyramid) blending with a feathered mask: fine detail switches sharply,
   broad tone blends over a wide band, so no seam and no colour bleeding from hair or background.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.detection import DetectedFace
from ml.face_mesh import (
    FACE_OVAL,
    INNER_LIPS,
    LEFT_EYE,
    NUM_MESH_POINTS,
    RIGHT_EYE,
    delaunay_triangles,
    face_size,
    iris_mask,
    polygon_mask,
    warp_mesh,
)

_SOURCE_RIM = 0.04  # of the face size: the source's outer rim that is replaced by inpainting
# Points whose place is identity, not expression: outline, nose, brows, eye and mouth corners.
SHAPE_POINTS = tuple(
    dict.fromkeys(
        (
            *FACE_OVAL,
            *(1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294),
            *(326, 327, 344, 440),  # the nose
            *(46, 52, 53, 55, 63, 65, 66, 70, 105, 107),  # the right brow
            *(276, 282, 283, 285, 293, 295, 296, 300, 334, 336),  # the left brow
            *(33, 133, 263, 362, 61, 291),  # eye and mouth corners
        )
    )
)
ANCHOR_REACH = 1.45  # the fixed ring around the face, in outline radii from the face centre
LIGHT_SIGMA = 0.2  # of the face size: the scale of the lighting carried over from the target
LIGHT_BOUNDS = (0.7, 1.4)  # the lighting ratio's bounds
# Not skin: the colour and light statistics leave out eyes, brows and lips (make-up, shadows).
FEATURES = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
    (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    (
        *(0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181),
        *(185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402),
        *(405, 409, 415),
    ),  # the lips
)
# The Reinhard spread ratio's bounds, lightness and chroma (a grey target gets a grey face).
COLOUR_BOUNDS = (np.array([0.75, 0.1, 0.1]), np.array([1.33, 1.33, 1.33]))


@dataclass(frozen=True, eq=False)
class SourceFace:
    """The source identity, prepared once: face crop, its mesh and triangulation, latent."""

    image: np.ndarray  # RGB crop around the face
    landmarks: np.ndarray  # (478, 3) in crop pixels
    triangles: np.ndarray  # (T, 3) Delaunay triangles over the 468 mesh points
    face: DetectedFace  # the face in the original source photo
    latent: np.ndarray | None = None  # identity vector for an ONNX swap model
    hair: np.ndarray | None = None  # uint8, 255 where hair covers the source's forehead


@dataclass
class SwapState:
    """What one tracked face carries from frame to frame: its smoothed colour statistics."""

    rate: float = 0.35  # weight of the new frame in the running average
    colour: np.ndarray | None = field(default=None)  # (4, 3): source mean, spread; target's
    # The liquify's triangulation (mesh and anchor ring), made on the track's first frame and
    # kept: the topology does not change, and a triangle that flips later is simply not drawn.
    triangles: np.ndarray | None = field(default=None)

    def smooth(self, stats: np.ndarray) -> np.ndarray:
        """The running average of the colour statistics, `stats` being this frame's."""
        if self.colour is None:
            self.colour = stats
        else:
            self.colour = (1.0 - self.rate) * self.colour + self.rate * stats
        return self.colour


def classical_swap(
    image: np.ndarray,
    source: SourceFace,
    landmarks: np.ndarray,
    blend_margin: float,
    shape_transfer: float = 1.0,
    eyes: str = "iris",
    segment=None,
    person: np.ndarray | None = None,
    state: SwapState | None = None,
    hands=None,
) -> np.ndarray:
    """Swap the source onto one target face; a new image.

    `segment(rgb) -> float map` gives the person's probability (selfie segmentation) for the
    region, unless `person` (the whole image's map, e.g. smoothed over a video) is given;
    `hands(rgb) -> uint8 mask` finds hands in front of the face, which are left as they are.
    """
    height, width = image.shape[:2]
    points = np.asarray(landmarks, dtype=np.float32)
    size = face_size(points)
    drawn = transfer_shape(points, source.landmarks, shape_transfer)
    ring = anchor_ring(points, drawn)
    x1, y1 = np.floor(ring.min(axis=0)).astype(int) - 2
    x2, y2 = np.ceil(ring.max(axis=0)).astype(int) + 2
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if x2 - x1 < 16 or y2 - y1 < 16:
        return image
    shift = np.array([x1, y1], dtype=np.float32)
    local, moved, ring = points[:, :2] - shift, drawn[:, :2] - shift, ring - shift
    region = image[y1:y2, x1:x2]
    shape = region.shape[:2]

    # 2. The target's picture (and the person map) follows the new shape; the ring stays.
    layers = region
    if person is not None:
        prob = np.clip(person[y1:y2, x1:x2] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        layers = np.dstack([region, prob])
    morphed = layers
    if shape_transfer > 0:
        src_pts = np.vstack([local[:NUM_MESH_POINTS], ring])
        dst_pts = np.vstack([moved[:NUM_MESH_POINTS], ring])
        if state is not None and state.triangles is not None:
            triangles = state.triangles
        else:
            triangles = delaunay_triangles(dst_pts)
            if state is not None:
                state.triangles = triangles
        morphed = liquify(layers, src_pts, dst_pts, triangles)
    target = np.ascontiguousarray(morphed[..., :3])
    # Hands in front of the face stay where they are, as they are: not warped, not painted over.
    in_front = hands(region) if hands is not None else None
    if in_front is not None and in_front.any():
        target = np.where(in_front[..., None] > 0, region, target)
    else:
        in_front = None

    # Steps 3-6 need only the box around the moved face.
    bx1, by1 = np.floor(moved[:NUM_MESH_POINTS].min(axis=0)).astype(int) - 4
    bx2, by2 = np.ceil(moved[:NUM_MESH_POINTS].max(axis=0)).astype(int) + 4
    bx1, by1 = max(bx1, 0), max(by1, 0)
    bx2, by2 = min(bx2, target.shape[1]), min(by2, target.shape[0])
    if bx2 - bx1 < 16 or by2 - by1 < 16:
        out = image.copy()
        out[y1:y2, x1:x2] = target
        return out
    face = target[by1:by2, bx1:bx2]
    moved = moved - np.array([bx1, by1], dtype=np.float32)
    shape = face.shape[:2]
    hand_mask = in_front[by1:by2, bx1:bx2] if in_front is not None else None
    if person is not None:
        person_map = morphed[by1:by2, bx1:bx2, 3].astype(np.float32) / 255.0
    elif segment is not None:
        person_map = segment(np.ascontiguousarray(face))
    else:
        person_map = None

    # 3. The source's face onto the moved mesh (its forehead hair, if any, along as a 4th layer).
    texture = source.image if source.hair is None else np.dstack([source.image, source.hair])
    warped, covered = warp_mesh(
        texture,
        source.landmarks[:NUM_MESH_POINTS, :2],
        moved[:NUM_MESH_POINTS],
        source.triangles,
        shape,
        target_depth=drawn[:NUM_MESH_POINTS, 2],
    )
    source_hair = warped[..., 3] if source.hair is not None else None
    warped = np.ascontiguousarray(warped[..., :3])

    # 4. The mask: the moved oval, cut to the person, less the target's mouth interior, irises and
    # any hand in front of the face.
    mask = polygon_mask(shape, moved, FACE_OVAL) & covered
    if person_map is not None:
        body = (person_map > 0.5).astype(np.uint8) * 255
        body = _grow(body, 0.02 * size)
        cut = mask & body
        # A segmentation that loses most of the face is wrong about this face: ignore it.
        if cv2.countNonZero(cut) >= 0.7 * cv2.countNonZero(mask):
            mask = cut
    holes = polygon_mask(shape, moved, INNER_LIPS)
    if eyes == "target":
        for eye_ring in (RIGHT_EYE, LEFT_EYE):
            holes |= polygon_mask(shape, moved, eye_ring)
    elif eyes == "iris":
        holes |= iris_mask(shape, moved)
    holes = cv2.dilate(holes, _disc(max(1, round(0.01 * size))))
    if hand_mask is not None and hand_mask.any():
        holes |= _grow(hand_mask, 0.02 * size)
    # Hair on the forehead: the target's fringe stays in front; where the source's fringe was, the
    # target's own forehead shows (the source's hair is not painted on as if it were skin).
    hair = forehead_hair(face, moved)
    if source_hair is not None:
        hair |= np.where(source_hair > 127, 255, 0).astype(np.uint8)
    if hair.any():
        holes |= _grow(hair, 0.01 * size)
    mask &= cv2.bitwise_not(holes)
    feather = max(1, round(blend_margin * size / 2))
    core = _shrink(mask, feather)
    if cv2.countNonZero(core) < 64:
        out = image.copy()
        out[y1:y2, x1:x2] = target
        return out
    alpha = cv2.GaussianBlur(core.astype(np.float32) / 255.0, (0, 0), feather / 2.0)
    alpha *= mask > 0  # nothing outside the mask changes

    # 5. Colour and light matched on the skin inside the mask's core.
    skin = core.copy()
    for feature in FEATURES:
        hull = cv2.convexHull(np.round(moved[list(feature)]).astype(np.int32))
        cv2.fillConvexPoly(skin, hull, 0)
    skin = _shrink(skin, 0.03 * size)
    if cv2.countNonZero(skin) < 0.2 * cv2.countNonZero(core):
        skin = core
    matched = match_colour_and_light(warped, face, skin, size, state)
    matched = np.where(covered[..., None] > 0, matched, face)

    # 6. Multi-band blend.
    blended = pyramid_blend(matched, face, alpha)
    target[by1:by2, bx1:bx2] = np.where(alpha[..., None] > 0, blended, face)
    out = image.copy()
    out[y1:y2, x1:x2] = target
    return out


def liquify(
    layers: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    triangles: np.ndarray | None = None,
) -> np.ndarray:
    """`layers` warped so that its points `src_pts` land on `dst_pts` (piecewise affine over
    `triangles`, by default the Delaunay triangulation of `dst_pts`).

    The warp's maps are continuous and piecewise linear, so they are computed at half resolution
    (by warping a grid of coordinates) and interpolated: the same picture at a quarter of the cost.
    """
    height, width = layers.shape[:2]
    step = 2 if min(height, width) >= 64 else 1
    small = (-(-height // step), -(-width // step))
    # Sample positions of the small grid in full-resolution pixels (cv2.resize's convention).
    xs = (np.arange(small[1], dtype=np.float32) + 0.5) * step - 0.5
    ys = (np.arange(small[0], dtype=np.float32) + 0.5) * step - 0.5
    grid = np.dstack(np.meshgrid(xs, ys))
    to_small = lambda pts: (np.asarray(pts, dtype=np.float64) + 0.5) / step - 0.5  # noqa: E731
    maps, covered = warp_mesh(
        grid,
        to_small(src_pts),
        to_small(dst_pts),
        delaunay_triangles(dst_pts) if triangles is None else triangles,
        small,
    )
    # Outside the triangles the map is the identity, so it stays continuous when interpolated.
    maps = np.where(covered[..., None] > 0, maps, grid)
    maps = cv2.resize(maps, (width, height), interpolation=cv2.INTER_LINEAR)
    covered = cv2.resize(covered, (width, height), interpolation=cv2.INTER_NEAREST)
    moved = cv2.remap(
        layers, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = covered > 0  # the picture stays exactly as it was outside the warp's reach
    if moved.ndim == 3:
        inside = inside[..., None]
    return np.where(inside, moved, layers)


# The forehead: the outline's upper arc from temple to temple, closed along the brows' tops.
FOREHEAD = (
    127, 162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389, 356,
    300, 293, 334, 296, 336, 107, 66, 105, 63, 70,
)  # fmt: skip
HAIR_DISTANCE = 4.0  # Mahalanobis distance (Lab) from the face's own skin that marks hair


def forehead_hair(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A uint8 mask of what on the forehead is not skin (a fringe, a hat's brim), 255 there.

    Skin is learnt from the face itself: the colour (CIE Lab mean and covariance) of the cheeks
    and nose; forehead pixels far from it (Mahalanobis) are hair.
    """
    shape = rgb.shape[:2]
    size = face_size(landmarks)
    band = polygon_mask(shape, landmarks, FOREHEAD)
    skin = polygon_mask(shape, landmarks, FACE_OVAL) & cv2.bitwise_not(band)
    for feature in FEATURES:
        hull = cv2.convexHull(np.round(landmarks[list(feature), :2]).astype(np.int32))
        cv2.fillConvexPoly(skin, hull, 0)
    skin = _shrink(skin, 0.04 * size)
    if cv2.countNonZero(skin) < 64 or not band.any():
        return np.zeros(shape, dtype=np.uint8)
    # Smoothed first: single-pixel noise must not flip pixels between hair and skin (in a video
    # that would shimmer along a fringe's edge).
    smooth = cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), max(1.0, 0.012 * size))
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
    reference = lab[skin > 0]
    mean = reference.mean(axis=0)
    cov = np.cov(reference, rowvar=False) + np.eye(3) * 4.0
    inside = band > 0
    diff = lab[inside] - mean
    distance = np.sqrt(np.einsum("ij,jk,ik->i", diff, np.linalg.inv(cov), diff))
    hair = np.zeros(shape, dtype=np.uint8)
    hair[inside] = np.where(distance > HAIR_DISTANCE, 255, 0).astype(np.uint8)
    hair = cv2.morphologyEx(hair, cv2.MORPH_OPEN, _disc(max(1, round(0.015 * size))))
    return cv2.morphologyEx(hair, cv2.MORPH_CLOSE, _disc(max(1, round(0.015 * size))))


def transfer_shape(target: np.ndarray, source: np.ndarray, amount: float) -> np.ndarray:
    """Target landmarks moved by `amount` toward the source's face shape in the target's pose.

    The source mesh is put in the target's pose by a similarity transform (Umeyama, 3-D) fitted
    on SHAPE_POINTS; their displacement is interpolated over every point by a thin-plate spline.
    """
    moved = np.array(target, dtype=np.float32, copy=True)
    if amount <= 0:
        return moved
    from scipy.interpolate import RBFInterpolator

    rigid = list(SHAPE_POINTS)
    src = np.asarray(source, dtype=np.float64)[rigid]
    dst = np.asarray(target, dtype=np.float64)[rigid]
    scale, rotation, shift = umeyama(src, dst)
    aligned = scale * src @ rotation.T + shift
    size = face_size(target)
    spline = RBFInterpolator(
        dst[:, :2] / size, (aligned[:, :2] - dst[:, :2]) / size, kernel="thin_plate_spline"
    )
    field_ = spline(np.asarray(target, dtype=np.float64)[:, :2] / size) * size
    moved[:, :2] += (amount * field_).astype(np.float32)
    return moved


def anchor_ring(target: np.ndarray, drawn: np.ndarray, reach: float = ANCHOR_REACH) -> np.ndarray:
    """Fixed points around the face (36, 2): each outline point pushed out from the centre."""
    oval_t = np.asarray(target, dtype=np.float64)[list(FACE_OVAL), :2]
    oval_d = np.asarray(drawn, dtype=np.float64)[list(FACE_OVAL), :2]
    centre = oval_t.mean(axis=0)
    radius_t = np.linalg.norm(oval_t - centre, axis=1)
    radius = np.maximum(radius_t, np.linalg.norm(oval_d - centre, axis=1))
    directions = (oval_t - centre) / np.maximum(radius_t, 1e-6)[:, None]
    return (centre + directions * (reach * radius)[:, None]).astype(np.float32)


def change_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The most the classical swap may change around a face (uint8 mask, 255 inside)."""
    ring = anchor_ring(landmarks, landmarks, ANCHOR_REACH * 1.25)
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(cv2.convexHull(ring)).astype(np.int32), 255)
    return mask


def match_colour_and_light(
    source: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    size: float,
    state: SwapState | None = None,
) -> np.ndarray:
    """`source` with the target's colour statistics and low-frequency lighting inside `mask`."""
    src = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    dst = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    inside = mask > 0
    src_px, dst_px = src[inside], dst[inside]
    stats = np.stack([src_px.mean(0), src_px.std(0) + 1e-3, dst_px.mean(0), dst_px.std(0) + 1e-3])
    if state is not None:
        stats = state.smooth(stats)
    ratio = np.clip(stats[3] / stats[1], *COLOUR_BOUNDS)
    lab = (src - stats[0]) * ratio + stats[2]
    # The target's shading: ratio of the two faces' local mean lightness (mask-normalized blurs,
    # at a reduced scale, ~48 px a face).
    scale = min(1.0, 48.0 / max(size, 1.0))
    small = (max(1, round(mask.shape[1] * scale)), max(1, round(mask.shape[0] * scale)))
    weight = cv2.resize(inside.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    sigma = max(0.8, LIGHT_SIGMA * size * scale)

    def local_mean(channel: np.ndarray) -> np.ndarray:
        little = cv2.resize(channel * inside, small, interpolation=cv2.INTER_AREA)
        num = cv2.GaussianBlur(little, (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        return num / np.maximum(den, 1e-3)

    light = local_mean(dst[..., 0]) / np.maximum(local_mean(lab[..., 0]), 1.0)
    light = cv2.resize(np.clip(light, *LIGHT_BOUNDS), (mask.shape[1], mask.shape[0]))
    lab[..., 0] *= light
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pyramid_blend(front: np.ndarray, back: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Multi-band blend (Burt and Adelson): `front` over `back` by `alpha`, band by band."""
    height, width = alpha.shape
    levels = int(max(1, min(6, np.log2(max(min(height, width), 2) / 8.0))))
    a, b = front.astype(np.float32), back.astype(np.float32)
    m = alpha.astype(np.float32)[..., None]
    bands = []
    for _ in range(levels):
        a_down, b_down = cv2.pyrDown(a), cv2.pyrDown(b)
        m_down = cv2.pyrDown(m)
        if m_down.ndim == 2:
            m_down = m_down[..., None]
        size = (a.shape[1], a.shape[0])
        lap_a = a - cv2.pyrUp(a_down, dstsize=size)
        lap_b = b - cv2.pyrUp(b_down, dstsize=size)
        bands.append(m * lap_a + (1.0 - m) * lap_b)
        a, b, m = a_down, b_down, m_down
    out = m * a + (1.0 - m) * b
    for band in reversed(bands):
        out = cv2.pyrUp(out, dstsize=(band.shape[1], band.shape[0])) + band
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, rotation, shift) taking points `src` onto `dst`."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.eye(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1, -1] = -1
    rotation = u @ d @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float(np.trace(np.diag(singular) @ d) / variance) if variance > 0 else 1.0
    return scale, rotation, dst_mean - scale * rotation @ src_mean


def remove_irises(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inpaint the source's irises from the white and lids around them, once per source."""
    irises = iris_mask(crop.shape[:2], landmarks, grow=1.25)
    if not irises.any():
        return crop
    return cv2.inpaint(crop, irises, 3, cv2.INPAINT_TELEA)


def fill_outside_face(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inpaint the source crop outside its face oval (eroded), once per source.

    The mesh's outer ring often reaches past the skin into hair or background; skin-coloured fill
    keeps that out of the colour statistics and of the blend's low bands.
    """
    inside = polygon_mask(crop.shape[:2], landmarks, FACE_OVAL)
    inside = cv2.erode(inside, _disc(max(1, round(_SOURCE_RIM * face_size(landmarks)))))
    return cv2.inpaint(crop, cv2.bitwise_not(inside), 5, cv2.INPAINT_TELEA)


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    """`mask` eroded by a disc of `radius` pixels (a distance transform: any radius, one pass)."""
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    return np.where(inside > radius, 255, 0).astype(np.uint8)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """`mask` dilated by a disc of `radius` pixels."""
    outside = cv2.distanceTransform(cv2.bitwise_not(mask), cv2.DIST_L2, 3)
    return np.where(outside <= radius, 255, 0).astype(np.uint8)


def _disc(radius: int) -> np.ndarray:
    """An elliptic structuring element of this radius."""
    side = 2 * max(int(radius), 0) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def source_fitness(landmarks: np.ndarray, rgb: np.ndarray | None = None) -> float:
    """How poor a face is as a swap source: 0 for frontal with a closed mouth, larger worse.

    The sum of the head's turn (the nose tip's offset from the eyes' midpoint, in eye distances),
    the mouth's opening (an open source mouth paints its teeth onto the target's lips) and, given
    the image, hands over the face (MediaPipe Hands: a hand on the chin would be painted onto the
    target). Sunglasses it cannot see (lens reflections look like eyes to simple statistics).
    """
    from ml.face_mesh import mouth_opening

    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    right, left = pts[33], pts[263]
    eyes = float(np.linalg.norm(left - right))
    if eyes <= 0:
        return float("inf")
    axis = (left - right) / eyes
    score = abs(float((pts[1] - (left + right) / 2) @ axis)) / eyes + mouth_opening(landmarks)
    if rgb is not None:
        score += 4.0 * _hand_cover(rgb, pts)
    return float(score)


_HANDS: list = []  # the MediaPipe Hands graph, built on first use
_HANDS_LOCK = threading.Lock()


def _hand_cover(rgb: np.ndarray, points: np.ndarray) -> float:
    """The share of the face's box (grown) that boxes around detected hands cover (0-1)."""
    height, width = rgb.shape[:2]
    with _HANDS_LOCK:
        if not _HANDS:
            import mediapipe as mp

            _HANDS.append(
                mp.solutions.hands.Hands(
                    static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5
                )
            )
        found = _HANDS[0].process(np.ascontiguousarray(rgb))
    # The face's box grown by a tenth a side: a hand touching the chin bends the mesh there.
    fx1, fy1 = points[:NUM_MESH_POINTS].min(axis=0)
    fx2, fy2 = points[:NUM_MESH_POINTS].max(axis=0)
    grow_x, grow_y = 0.1 * (fx2 - fx1), 0.1 * (fy2 - fy1)
    fx1, fy1, fx2, fy2 = fx1 - grow_x, fy1 - grow_y, fx2 + grow_x, fy2 + grow_y
    area = max((fx2 - fx1) * (fy2 - fy1), 1.0)
    cover = 0.0
    for hand in found.multi_hand_landmarks or []:
        xs = [p.x * width for p in hand.landmark]
        ys = [p.y * height for p in hand.landmark]
        ix = max(0.0, min(fx2, max(xs)) - max(fx1, min(xs)))
        iy = max(0.0, min(fy2, max(ys)) - max(fy1, min(ys)))
        cover += ix * iy / area
    return min(cover, 1.0)
