"""The classical swap pipeline: mesh warp onto the target, Lab colour transfer, Poisson cloning."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml import colour
from ml.detection import DetectedFace
from ml.face_mesh import (
    FACE_OVAL,
    INNER_LIPS,
    LEFT_EYE,
    NUM_MESH_POINTS,
    RIGHT_EYE,
    face_size,
    iris_mask,
    polygon_mask,
    warp_mesh,
)

_SOURCE_RIM = 0.04  # of the face size: the source's outer rim that is replaced by inpainting


@dataclass(frozen=True, eq=False)
class SourceFace:
    """The source identity, prepared once: face crop, its mesh and triangulation, latent."""

    image: np.ndarray  # RGB crop around the face
    landmarks: np.ndarray  # (478, 3) in crop pixels
    triangles: np.ndarray  # (T, 3) Delaunay triangles over the 468 mesh points
    face: DetectedFace  # the face in the original source photo
    latent: np.ndarray | None = None  # identity vector for an ONNX swap model


def classical_swap(
    image: np.ndarray,
    source: SourceFace,
    landmarks: np.ndarray,
    blend_margin: float,
    shape_transfer: float = 0.0,
    eyes: str = "iris",
) -> np.ndarray:
    """Warp, colour-match and Poisson-blend the source onto one target face."""
    height, width = image.shape[:2]
    points = np.asarray(landmarks, dtype=np.float32)
    size = face_size(points)
    pad = int(np.ceil(0.1 * size)) + 4
    x1, y1 = np.floor(points[:NUM_MESH_POINTS, :2].min(axis=0)).astype(int) - pad
    x2, y2 = np.ceil(points[:NUM_MESH_POINTS, :2].max(axis=0)).astype(int) + pad
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if x2 - x1 < 16 or y2 - y1 < 16:
        return image
    region = image[y1:y2, x1:x2]
    local = points.copy()
    local[:, 0] -= x1
    local[:, 1] -= y1
    if shape_transfer > 0:
        # Move the features toward the source's proportions, the target's own pixels with them
        # (its eyes and mouth interior too), the face outline staying where it is.
        drawn = _transfer_shape(local, source.landmarks, shape_transfer, size)
        morphed, moved = warp_mesh(
            region,
            local[:NUM_MESH_POINTS, :2],
            drawn[:NUM_MESH_POINTS, :2],
            source.triangles,
            region.shape[:2],
            target_depth=drawn[:NUM_MESH_POINTS, 2],
        )
        region = np.where(moved[..., None] > 0, morphed, region)
    else:
        drawn = local
    warped, covered = warp_mesh(
        source.image,
        source.landmarks[:NUM_MESH_POINTS, :2],
        drawn[:NUM_MESH_POINTS, :2],
        source.triangles,
        region.shape[:2],
        target_depth=drawn[:NUM_MESH_POINTS, 2],
    )
    # The target keeps its own eye openings and mouth interior (see the module docstring).
    holes = polygon_mask(covered.shape, drawn, INNER_LIPS)
    if eyes == "target":
        for ring in (RIGHT_EYE, LEFT_EYE):
            holes |= polygon_mask(covered.shape, drawn, ring)
    elif eyes == "iris":
        holes |= iris_mask(covered.shape, drawn)
    grow = max(1, round(0.01 * size))
    holes = cv2.dilate(holes, _disc(grow))
    mask = cv2.bitwise_and(covered, cv2.bitwise_not(holes))
    # Nothing may touch the region's border: seamlessClone needs a frame around the mask.
    mask[:2, :] = 0
    mask[-2:, :] = 0
    mask[:, :2] = 0
    mask[:, -2:] = 0
    margin = max(2, round(blend_margin * size))
    clone_mask = cv2.erode(mask, _disc(margin // 2))  # the other half is the feathered edge
    if cv2.countNonZero(clone_mask) < 64:
        out = image.copy()
        out[y1:y2, x1:x2] = region
        return out
    matched = _match_colours(warped, region, clone_mask)
    x, y, w, h = cv2.boundingRect(clone_mask)
    centre = (x + w // 2, y + h // 2)
    try:  # seamlessClone writes into its mask argument (OpenCV 5): give it a copy
        cloned = cv2.seamlessClone(matched, region, clone_mask.copy(), centre, cv2.NORMAL_CLONE)
    except cv2.error:
        cloned = matched
    # Feathered edge: support strictly inside clone_mask, so nothing outside the face changes.
    feather = max(1, margin // 2)
    core = cv2.erode(clone_mask, _disc(feather))
    alpha = cv2.blur(core.astype(np.float32) / 255.0, (2 * feather + 1, 2 * feather + 1))
    alpha *= clone_mask > 0
    blended = region.astype(np.float32) + alpha[..., None] * (
        cloned.astype(np.float32) - region.astype(np.float32)
    )
    out = image.copy()
    out[y1:y2, x1:x2] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def _transfer_shape(
    target: np.ndarray, source: np.ndarray, amount: float, size: float
) -> np.ndarray:
    """Target landmarks moved by `amount` toward the source's face shape in the target's pose.

    The source's 3-D mesh is put in the target's pose by a similarity transform (Umeyama); each
    point then moves `amount` of the way to it, fading to nothing at the face outline.
    """
    src = np.asarray(source, dtype=np.float64)[:NUM_MESH_POINTS]
    dst = np.asarray(target, dtype=np.float64)[:NUM_MESH_POINTS]
    scale, rotation, shift = umeyama(src, dst)
    aligned = scale * src @ rotation.T + shift
    outline = dst[list(FACE_OVAL), :2].astype(np.float32).reshape(-1, 1, 2)
    depth_in = np.array(
        [cv2.pointPolygonTest(outline, (float(x), float(y)), True) for x, y in dst[:, :2]]
    )
    weight = amount * np.clip(depth_in / (0.15 * size), 0.0, 1.0)
    moved = np.array(target, dtype=np.float32, copy=True)
    moved[:NUM_MESH_POINTS, :2] += (weight[:, None] * (aligned[:, :2] - dst[:, :2])).astype(
        np.float32
    )
    return moved


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

    The mesh's outer ring often reaches past the skin into hair or background. Left there, that
    edge would sit on the Poisson boundary and its strong gradient would shift the whole face's
    brightness; skin-coloured fill keeps the boundary smooth.
    """
    inside = polygon_mask(crop.shape[:2], landmarks, FACE_OVAL)
    inside = cv2.erode(inside, _disc(max(1, round(_SOURCE_RIM * face_size(landmarks)))))
    return cv2.inpaint(crop, cv2.bitwise_not(inside), 5, cv2.INPAINT_TELEA)


def _match_colours(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer in CIE Lab: give `source` the target's mean and spread in mask."""
    src = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    dst = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab = colour.transfer(src, dst, mask, (0.75, 1.33))
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _disc(radius: int) -> np.ndarray:
    """An elliptic structuring element of this radius."""
    side = 2 * max(int(radius), 0) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
