"""Test scenes for the studio: a "group photo" pasted together from real and rendered faces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.images import decode_image

GESTURES = Path(__file__).resolve().parents[2] / "tests" / "data" / "gestures"

# (source, face width in the scene in px). Celebrity val photos (first file of the person's
# folder, sorted) and the rendered people's waist stills; widths from 36 to 190 px.
GROUP_FACES: tuple[tuple[str, int], ...] = (
    ("val/mindy_kaling/0", 190),
    ("val/ben_afflek/0", 150),
    ("gestures/v3_waist_standby", 120),
    ("val/jerry_seinfeld/0", 105),
    ("val/elton_john/0", 90),
    ("gestures/v2_waist_standby", 75),
    ("val/madonna/0", 64),
    ("gestures/v1_waist_standby", 52),
    ("val/ben_afflek/2", 44),
    ("val/mindy_kaling/3", 36),
)


@dataclass(frozen=True)
class PlacedFace:
    """A face pasted into a scene: where its detected box landed and whose it is."""

    source: str
    person: str
    box: tuple[int, int, int, int]


def load_source(dataset: Path, source: str) -> np.ndarray:
    """Decode a scene source: "val/<person>/<index>" or "gestures/<still name>"."""
    kind, _, rest = source.partition("/")
    if kind == "gestures":
        return decode_image((GESTURES / "stills" / f"{rest}.jpg").read_bytes())
    person, _, index = rest.rpartition("/")
    files = sorted((dataset / kind / person).glob("*.jpg"))
    return decode_image(files[int(index)].read_bytes())


def person_of(source: str) -> str:
    """The identity behind a scene source (celebrity folder name or rendered person v1-v3)."""
    kind, _, rest = source.partition("/")
    return rest.split("_")[0] if kind == "gestures" else rest.rpartition("/")[0]


def group_photo(
    dataset: Path,
    detector,
    faces: tuple[tuple[str, int], ...] = GROUP_FACES,
    width: int = 1280,
    height: int = 800,
    seed: int = 5,
) -> tuple[np.ndarray, list[PlacedFace]]:
    """Paste each source's largest face (head and some shoulders) onto one canvas, no overlaps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    canvas = np.stack(
        [120 + 50 * xx / width, 130 + 30 * yy / height, 150 - 40 * xx / width], axis=-1
    )
    canvas += rng.normal(0, 4, canvas.shape)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    placed: list[PlacedFace] = []
    taken: list[tuple[int, int, int, int]] = []
    for source, face_width in faces:
        patch, alpha, (bx, by, bw, bh) = face_patch(dataset, detector, source, face_width)
        ph, pw = patch.shape[:2]
        for _ in range(2000):
            px, py = int(rng.integers(0, width - pw)), int(rng.integers(0, height - ph))
            if all(
                px + pw <= tx or tx + tw <= px or py + ph <= ty or ty + th <= py
                for tx, ty, tw, th in taken
            ):
                break
        else:
            raise RuntimeError(f"no room left for {source}")
        taken.append((px, py, pw, ph))
        paste(canvas, patch, alpha, px, py)
        box = (px + bx, py + by, bw, bh)
        placed.append(PlacedFace(source, person_of(source), box))
    return canvas, placed


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def face_patch(dataset: Path, detector, source: str, face_width: int):
    """A source's largest face with head and neck, scaled so the face box is `face_width` wide.

    Returns (patch, feathered elliptical alpha, face box inside the patch).
    """
    rgb = load_source(dataset, source)
    face = detector.detect(rgb)[0]
    x, y, w, h = face.box
    scale = face_width / w
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - w)), int(max(0, cy - 0.95 * h))
    x1, y1 = int(min(rgb.shape[1], cx + w)), int(min(rgb.shape[0], cy + 0.95 * h))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    patch = cv2.resize(
        rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    ph, pw = patch.shape[:2]
    alpha = np.zeros((ph, pw), np.float32)
    cv2.ellipse(alpha, (pw // 2, ph // 2), (pw // 2 - 1, ph // 2 - 1), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, pw / 30))[..., None]
    box = (round((x - x0) * scale), round((y - y0) * scale), round(w * scale), round(h * scale))
    return patch, alpha, box


def paste(canvas: np.ndarray, patch: np.ndarray, alpha: np.ndarray, px: int, py: int) -> None:
    """Alpha-blend a patch onto the canvas at (px, py), in place (the patch must fit)."""
    ph, pw = patch.shape[:2]
    region = canvas[py : py + ph, px : px + pw].astype(np.float32)
    canvas[py : py + ph, px : px + pw] = np.round(alpha * patch + (1 - alpha) * region).astype(
        np.uint8
    )


def moving_scene(
    dataset: Path,
    detector,
    frames: int = 12,
    width: int = 640,
    height: int = 360,
    step: int = 14,
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
    """Frames with a still face on the left (jerry) and a bystander (ben) walking to the right.

    Returns (frames, the still face's box per frame, the bystander's box per frame).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack(
        [110 + 40 * xx / width, 125 + 30 * yy / height, 140 - 30 * xx / width], axis=-1
    ).astype(np.uint8)
    still, still_alpha, still_box = face_patch(dataset, detector, "val/jerry_seinfeld/0", 100)
    walker, walker_alpha, walker_box = face_patch(dataset, detector, "val/ben_afflek/0", 80)
    out, still_boxes, walker_boxes = [], [], []
    for index in range(frames):
        frame = background.copy()
        paste(frame, still, still_alpha, 20, 60)
        wx, wy = 240 + step * index, 90
        paste(frame, walker, walker_alpha, wx, wy)
        out.append(frame)
        still_boxes.append((20 + still_box[0], 60 + still_box[1], still_box[2], still_box[3]))
        walker_boxes.append((wx + walker_box[0], wy + walker_box[1], walker_box[2], walker_box[3]))
    return out, still_boxes, walker_boxes


def person_centroids(analyzer, dataset: Path, people) -> dict[str, np.ndarray]:
    """Each person's mean FaceNet embedding over 8 train photos (3-10) no face bank holds."""
    out = {}
    for person in people:
        vectors = []
        for path in sorted((dataset / "train" / person).glob("*.jpg"))[3:11]:
            faces = analyzer.analyze(decode_image(path.read_bytes()))
            if faces:
                vectors.append(faces[0].embedding)
        centroid = np.mean(vectors, axis=0)
        out[person] = centroid / np.linalg.norm(centroid)
    return out


def embed_face(analyzer, rgb: np.ndarray, face) -> np.ndarray:
    """FaceNet embedding of one detected face."""
    from ml.alignment import align_face

    return analyzer.embedder.embed(align_face(rgb, face)[None])[0]
