"""Face motion from landmarks: head pose vs expression, retargeting, and a parametric face rig.

All landmarks are MediaPipe Face Mesh points (478, 3): x, y in image pixels, depth in the same
units, growing away from the camera. A face's *frame* is its eye line (u, image-left eye to
image-right eye) and the perpendicular pointing down (v), with its width W (cheek to cheek) and
height H (mid-forehead to chin); expressions are stored in (u/W, v/H) units so they can be carried
from one face to another of other proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ml.face_mesh import LEFT_EYE, NUM_MESH_POINTS, RIGHT_EYE

# Points that do not move with expression (upper face outline, nose, eye corners): the head pose
# is fitted on them.
RIGID = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    1, 4, 5, 6, 168, 197, 195, 98, 327, 33, 133, 362, 263,
)  # fmt: skip
CHEEK_RIGHT, CHEEK_LEFT, FOREHEAD, CHIN = 234, 454, 10, 152

# Eyelids, image-left eye first; each upper point paired with the lower point it closes onto.
UPPER_LIDS = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LIDS = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
LID_CREASES = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
BROWS = (
    (70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
    (300, 293, 334, 296, 336, 285, 295, 282, 283, 276),
)
# Lips: the inner contour from the image-left corner to the image-right corner, upper then lower.
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LOWER_LIP = (
    146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324,
    77, 90, 180, 85, 16, 315, 404, 320, 307, 96, 89, 179, 86, 15, 316, 403, 319, 325,
)  # fmt: skip
UPPER_LIP = (
    185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415,
    184, 74, 73, 72, 11, 302, 303, 304, 408, 183, 42, 41, 38, 12, 268, 271, 272, 407,
)  # fmt: skip
MOUTH_CORNERS = ((61, 78, 62, 76), (291, 308, 292, 306))  # image-left corner, image-right corner

# How far a 2-D warp may turn a head before it tears (degrees), and move it (face widths).
MAX_YAW, MAX_PITCH, MAX_ROLL = 16.0, 12.0, 18.0
DEPTH_FACTOR = 0.6  # a flatter head than the mesh's: less fold at the far cheek when turned
MAX_SHIFT = 0.12
MAX_SCALE = 0.08
MAX_EXPRESSION = 0.25  # largest displacement of one point, in face-size units


@dataclass(frozen=True)
class FaceFrame:
    """A face's own axes and size (see the module docstring)."""

    u: np.ndarray  # (2,) unit vector along the eye line
    v: np.ndarray  # (2,) unit vector down the face
    width: float
    height: float
    centre: np.ndarray  # (3,) centroid of the mesh

    def to_units(self, displacement: np.ndarray) -> np.ndarray:
        """(N, 2) pixel displacements -> (N, 2) face units (along u / W, along v / H)."""
        d = np.asarray(displacement, dtype=np.float64)[:, :2]
        return np.stack([d @ self.u / self.width, d @ self.v / self.height], axis=1)

    def to_pixels(self, units: np.ndarray) -> np.ndarray:
        """(N, 2) face units -> (N, 2) pixel displacements in this face."""
        e = np.asarray(units, dtype=np.float64)
        return np.outer(e[:, 0] * self.width, self.u) + np.outer(e[:, 1] * self.height, self.v)

    def coords(self, points: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """(N, 2) positions relative to `origin` in face units."""
        return self.to_units(np.asarray(points, dtype=np.float64)[:, :2] - origin[:2])


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """The frame (axes, width, height, centre) of a face's landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    right_eye = pts[list(RIGHT_EYE), :2].mean(axis=0)
    left_eye = pts[list(LEFT_EYE), :2].mean(axis=0)
    u = left_eye - right_eye
    u /= max(np.linalg.norm(u), 1e-9)
    v = np.array([-u[1], u[0]])
    width = float(np.linalg.norm(pts[CHEEK_LEFT, :2] - pts[CHEEK_RIGHT, :2]))
    height = float(abs((pts[CHIN, :2] - pts[FOREHEAD, :2]) @ v))
    centre = pts[:NUM_MESH_POINTS].mean(axis=0)
    return FaceFrame(u, v, max(width, 1.0), max(height, 1.0), centre)


@dataclass(frozen=True)
class Pose:
    """A head pose relative to a reference: rotation (degrees), scale, shift (face widths)."""

    yaw: float = 0.0  # about the vertical axis; positive turns the face to image-right
    pitch: float = 0.0  # about the horizontal axis; positive nods down
    roll: float = 0.0  # in the image plane, degrees clockwise
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # along image x and y, in face widths

    def clamped(self) -> Pose:
        """This pose limited to what a warp can show without tearing."""
        return Pose(
            float(np.clip(self.yaw, -MAX_YAW, MAX_YAW)),
            float(np.clip(self.pitch, -MAX_PITCH, MAX_PITCH)),
            float(np.clip(self.roll, -MAX_ROLL, MAX_ROLL)),
            float(np.clip(self.scale, 1 - MAX_SCALE, 1 + MAX_SCALE)),
            (
                float(np.clip(self.shift[0], -MAX_SHIFT, MAX_SHIFT)),
                float(np.clip(self.shift[1], -MAX_SHIFT, MAX_SHIFT)),
            ),
        )

    def rotation(self) -> np.ndarray:
        """The 3x3 rotation in camera axes (x right, y down, z away)."""
        return Rotation.from_euler(
            "YXZ", [self.yaw, -self.pitch, self.roll], degrees=True
        ).as_matrix()

    @staticmethod
    def from_rotation(matrix: np.ndarray, scale: float, shift: tuple[float, float]) -> Pose:
        """The pose of a rotation matrix (camera axes), scale and shift."""
        yaw, pitch, roll = Rotation.from_matrix(matrix).as_euler("YXZ", degrees=True)
        return Pose(float(yaw), float(-pitch), float(roll), float(scale), shift)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares 3-D similarity (Umeyama): dst ≈ scale * R @ (src - mean_src) + mean_dst.

    Returns (R, scale, mean_dst - mean_src).
    """
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    cov = bc.T @ ac / len(a)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(3)
    if np.linalg.det(u @ vt) < 0:
        d[2, 2] = -1
    rot = u @ d @ vt
    var = (ac**2).sum() / len(a)
    scale = float(np.trace(np.diag(s) @ d) / var) if var > 0 else 1.0
    return rot, scale, mb - ma


def relative_motion(reference: np.ndarray, current: np.ndarray) -> tuple[Pose, np.ndarray]:
    """Head pose of `current` relative to `reference`, and its expression in face units (478, 2).

    The expression is what remains of `current` once its pose is undone, measured from
    `reference`, in the reference's face frame.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    rigid = list(RIGID)
    rot, scale, _ = fit_similarity(ref[rigid], cur[rigid])
    ref_mean, cur_mean = ref[rigid].mean(axis=0), cur[rigid].mean(axis=0)
    frame = face_frame(ref)
    # Rotation about the whole mesh's centre, as `place` applies it.
    pivot_ref = frame.centre
    pivot_cur = scale * rot @ (pivot_ref - ref_mean) + cur_mean
    shift = (pivot_cur - pivot_ref)[:2] / frame.width
    pose = Pose.from_rotation(rot, scale, (float(shift[0]), float(shift[1])))
    undone = (rot.T @ (cur - cur_mean).T).T / scale + ref_mean
    expression = frame.to_units(undone[:, :2] - ref[:, :2])
    return pose, expression


def place(
    landmarks: np.ndarray, frame: FaceFrame, pose: Pose, expression_px: np.ndarray | None = None
) -> np.ndarray:
    """The landmarks with an expression (pixels, (N, 2)) added, then put in `pose` (N, 3)."""
    pts = np.asarray(landmarks, dtype=np.float64).copy()
    if expression_px is not None:
        pts[:, :2] += expression_px
    rot = pose.rotation()
    centred = pts - frame.centre
    centred[:, 2] *= DEPTH_FACTOR
    moved = pose.scale * (rot @ centred.T).T + frame.centre
    moved[:, 0] += pose.shift[0] * frame.width
    moved[:, 1] += pose.shift[1] * frame.width
    return moved


def limit_expression(units: np.ndarray) -> np.ndarray:
    """Expression displacements with each point's length capped at MAX_EXPRESSION face units."""
    e = np.asarray(units, dtype=np.float64)
    length = np.linalg.norm(e, axis=1, keepdims=True)
    return e * np.minimum(1.0, MAX_EXPRESSION / np.maximum(length, 1e-9))


@dataclass(frozen=True)
class Expression:
    """Parametric expression: each value about 0 (rest) to 1 (full)."""

    blink_left: float = 0.0  # image-left eye (0 open, 1 closed)
    blink_right: float = 0.0  # image-right eye
    smile: float = 0.0
    jaw: float = 0.0  # mouth opening
    spread: float = 0.0  # lips drawn sideways (ee, s)
    round: float = 0.0  # lips rounded (oo, w)
    press: float = 0.0  # lips pressed together (m, b, p)
    brows: float = 0.0  # raised brows; negative frowns


class FaceRig:
    """Expression displacements for one face from `Expression` parameters (in face units)."""

    def __init__(self, landmarks: np.ndarray) -> None:
        """Precompute each point's weights from the face's own landmarks."""
        pts = np.asarray(landmarks, dtype=np.float64)
        self.frame = face_frame(pts)
        n = len(pts)
        self.n = n
        corners = np.array([pts[list(c), :2].mean(axis=0) for c in MOUTH_CORNERS])
        mouth = corners.mean(axis=0)
        self.mouth_width = float(np.linalg.norm(corners[1] - corners[0]) / self.frame.width)
        uv = self.frame.coords(pts, mouth)  # face units from the mouth centre
        self.uv = uv
        # Jaw: the lower lip and chin drop fully, fading towards the ears and up to the corners.
        below = _smoothstep(uv[:, 1], -0.01, 0.05)
        across = 1.0 - _smoothstep(np.abs(uv[:, 0]), 0.18, 0.5)
        jaw = below * across
        upper = np.zeros(n)
        # The lower lip drops most in the middle, as little as the corners at the corners.
        half = max(self.mouth_width / 2, 1e-3)
        lower = list(LOWER_LIP)
        jaw[lower] = 0.4 + 0.6 * (1 - np.clip(np.abs(uv[lower, 0]) / half, 0.0, 1.0) ** 2)
        jaw[list(UPPER_LIP)] = 0.0
        upper[list(UPPER_LIP)] = 1.0
        for side in MOUTH_CORNERS:
            jaw[list(side)] = 0.4
        self.jaw_weight = jaw
        self.upper_lip_weight = upper
        # Mouth corners and what moves with them (a smile pulls the cheeks).
        self.corner_weight = []
        for centre in corners:
            d = self.frame.coords(pts, centre)
            self.corner_weight.append(np.exp(-(d**2).sum(axis=1) / (2 * 0.07**2)))
        eye_points = set(RIGHT_EYE) | set(LEFT_EYE)
        for i in (*eye_points, *(p for lids in UPPER_LIDS + LOWER_LIDS for p in lids)):
            for w in self.corner_weight:
                w[i] = 0.0
        self.cheek_weight = (
            _smoothstep(-uv[:, 1], 0.02, 0.12)
            * (1 - _smoothstep(-uv[:, 1], 0.3, 0.42))
            * _smoothstep(np.abs(uv[:, 0]), 0.12, 0.25)
        )
        # Brows and the forehead above them.
        brow_v = np.mean([uv[list(b), 1].mean() for b in BROWS])
        self.brow_weight = 1.0 - _smoothstep(uv[:, 1], brow_v, brow_v + 0.08)
        self.brow_weight *= 1.0 - _smoothstep(uv[:, 1], brow_v - 0.35, brow_v - 0.15) * 0.7
        self.lid_gap = [
            pts[list(lower), :2] - pts[list(upper), :2]
            for upper, lower in zip(UPPER_LIDS, LOWER_LIDS, strict=True)
        ]
        lips_gap = pts[list(LOWER_INNER), :2] - pts[list(UPPER_INNER), :2]
        self.lips_gap = lips_gap

    def displacement(self, e: Expression) -> np.ndarray:
        """(N, 2) displacements in face units for the expression."""
        d = np.zeros((self.n, 2))
        # Jaw: down along v, up to 0.17 face heights at the lower lip; the upper lip lifts a bit.
        d[:, 1] += self.jaw_weight * 0.17 * e.jaw
        d[:, 1] -= self.upper_lip_weight * 0.012 * e.jaw
        # Lips pressed: the inner gap the photo shows closes.
        if e.press > 0:
            gap = self.frame.to_units(self.lips_gap)
            # The whole lips move, their inner edge most, so the lip tissue is squeezed
            # smoothly instead of folding at the inner contour.
            mean = 0.5 * e.press * gap.mean(axis=0)
            d[list(UPPER_LIP)] += 0.45 * mean
            d[list(LOWER_LIP)] -= 0.45 * mean
            for k, (up, low) in enumerate(zip(UPPER_INNER, LOWER_INNER, strict=True)):
                d[up] += 0.5 * e.press * gap[k] - 0.45 * mean
                d[low] -= 0.5 * e.press * gap[k] - 0.45 * mean
        # Corners: smile (out and up), spread (out), round (in).
        for side, weight in zip((-1.0, 1.0), self.corner_weight, strict=True):
            out = 0.055 * e.smile + 0.045 * e.spread - 0.09 * e.round
            d[:, 0] += weight * side * out
            d[:, 1] -= weight * 0.045 * e.smile
        d[:, 1] -= self.cheek_weight * 0.018 * e.smile
        # Rounded lips pucker: the lip centres come together a little less than the corners.
        d[:, 1] -= self.brow_weight * 0.035 * e.brows
        # Eyelids: a smile lifts the lower lids a little. Blinks are not displacements: the warp
        # closes the lids itself (`Warper.render(blinks=...)`), a fold a spline cannot make.
        for eye in range(2):
            gap = self.frame.to_units(self.lid_gap[eye])
            squint = 0.2 * max(e.smile, 0.0)
            for k, low in enumerate(LOWER_LIDS[eye]):
                d[low] -= squint * gap[k]
        return d


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """Each eye's mean lid gap over the face height (image-left eye first)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    height = face_frame(pts).height
    return np.array(
        [
            np.linalg.norm(pts[list(low), :2] - pts[list(up), :2], axis=1).mean() / height
            for up, low in zip(UPPER_LIDS, LOWER_LIDS, strict=True)
        ]
    )


def split_blinks(
    reference: np.ndarray, current: np.ndarray, expression: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """Take the lids' closing out of a driving expression (face units) as blink amounts.

    The lids then keep the reference's opening in the expression (they move with the eye), and
    each eye's closing (0 open as in the reference, 1 shut) is returned for the warp to apply.
    """
    e = np.asarray(expression, dtype=np.float64).copy()
    ratio = eye_openness(current) / np.maximum(eye_openness(reference), 1e-6)
    blinks = np.clip((1.0 - ratio) / 0.85, 0.0, 1.0)
    for eye in range(2):
        ring = list(UPPER_LIDS[eye] + LOWER_LIDS[eye] + LID_CREASES[eye])
        corners = e[[(RIGHT_EYE, LEFT_EYE)[eye][0], (RIGHT_EYE, LEFT_EYE)[eye][8]]].mean(axis=0)
        if ratio[eye] < 1.0:  # opening wider than the reference stays as it is
            e[ring] = corners
    return e, (float(blinks[0]), float(blinks[1]))
