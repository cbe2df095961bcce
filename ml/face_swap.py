"""Face swap: put the face of a source photo onto chosen faces of a target photo or video.

The classical pipeline (mesh warp, Lab colour transfer, Poisson cloning; target mouth and
eyelids kept), the video tracker and smoothing, the ONNX model slot, and the measurements behind
the defaults are described in docs/face-swap.md.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml import colour
from ml.detection import DetectedFace, FaceDetector
from ml.device import onnx_providers
from ml.errors import FaceError, NoFaceError
from ml.face_mesh import (
    FACE_OVAL,
    INNER_LIPS,
    LEFT_EYE,
    NUM_MESH_POINTS,
    RIGHT_EYE,
    FaceMesher,
    delaunay_triangles,
    face_size,
    five_points,
    iris_mask,
    polygon_mask,
    warp_mesh,
)
from ml.images import as_rgb
from ml.tracking import FaceTracker, OneEuroFilter

SWAP_MODEL_FILE = "face_swap.onnx"
EMBEDDER_FILE = "face_swap_embedder.onnx"
CLASSICAL_NAME = "classical-mesh-swap"

# The five-point template ArcFace and the 128-px swap models are aligned to (112x112 pixels):
# image-left eye, image-right eye, nose tip, image-left and image-right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
_SOURCE_MAX_FACE = 400  # px: a larger source face is shrunk before use (no visible loss)
EYE_MODES = ("iris", "target", "source")  # what of the eyes is kept from the target
SHAPE_TRANSFER = 0.5  # how far the features move toward the source's proportions (0-1)
_SOURCE_RIM = 0.04  # of the face size: the source's outer rim that is replaced by inpainting


class SwapModelError(RuntimeError):
    """The operator-supplied swap model cannot be used (raised at load, never mid-job)."""


class UnknownFaceError(FaceError):
    """A requested face id is not among the faces found in the target."""

    code = "unknown_face"
    default_message = "A chosen face id is not one of the faces found in the image."


@dataclass(frozen=True)
class SwapResult:
    """The swapped image, the ids (indexes into `faces`) that were swapped, and every face."""

    image: np.ndarray
    swapped_ids: list[int]
    faces: list[DetectedFace]


@dataclass(frozen=True, eq=False)
class SourceFace:
    """The source identity, prepared once: face crop, its mesh and triangulation, latent."""

    image: np.ndarray  # RGB crop around the face
    landmarks: np.ndarray  # (478, 3) in crop pixels
    triangles: np.ndarray  # (T, 3) Delaunay triangles over the 468 mesh points
    face: DetectedFace  # the face in the original source photo
    latent: np.ndarray | None = None  # identity vector for an ONNX swap model


class FaceSwapper:
    """Swaps a source face onto target faces; create once per process and reuse."""

    def __init__(
        self,
        detector: FaceDetector,
        mesher: FaceMesher,
        model: OnnxSwapModel | None = None,
        blend_margin: float = 0.06,
        shape_transfer: float = SHAPE_TRANSFER,
        eyes: str = "iris",
    ) -> None:
        """`blend_margin`: blended edge, in face sizes; `shape_transfer`: 0 (target's) to 1."""
        if not 0.0 < blend_margin < 0.25:
            raise ValueError("blend_margin must be in (0, 0.25)")
        if not 0.0 <= shape_transfer <= 1.0:
            raise ValueError("shape_transfer must be in [0, 1]")
        if eyes not in EYE_MODES:
            raise ValueError(f"eyes must be one of {EYE_MODES}")
        self.shape_transfer = float(shape_transfer)
        self.eyes = eyes
        self.detector = detector
        self.mesher = mesher
        self.model = model
        self.blend_margin = float(blend_margin)

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, detector: FaceDetector | None = None
    ) -> FaceSwapper:
        """Classical swapper, or the ONNX model in `model_dir` when an operator put one there."""
        model = OnnxSwapModel.from_model_dir(model_dir)
        if detector is None:
            detector = FaceDetector.for_photos()
            detector.warmup()
        return cls(detector, FaceMesher(), model)

    @property
    def engine(self) -> str:
        """'onnx' when an operator's swap model is used, else 'classical'."""
        return "onnx" if self.model is not None else "classical"

    @property
    def version(self) -> str:
        """What produced the result: the ONNX files' digests, or the classical pipeline's parts."""
        if self.model is not None:
            return self.model.version
        return f"{CLASSICAL_NAME}+{self.mesher.version}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """The faces of an image, largest first (their positions are the face ids)."""
        return self.detector.detect(as_rgb(rgb))

    def prepare_source(self, source_rgb: np.ndarray) -> SourceFace:
        """Find the source photo's largest face and prepare it; NoFaceError when there is none."""
        source_rgb = as_rgb(source_rgb)
        faces = self.detect(source_rgb)
        for face in faces:  # largest first; a face the mesh cannot read is skipped
            landmarks = self.mesher.landmarks(source_rgb, face.box)
            if landmarks is not None:
                break
        else:
            raise NoFaceError("No usable face was found in the source photo.")
        size = face_size(landmarks)
        scale = min(1.0, _SOURCE_MAX_FACE / size)
        margin = 0.15 * size
        x1, y1 = np.floor(landmarks[:, :2].min(axis=0) - margin).astype(int)
        x2, y2 = np.ceil(landmarks[:, :2].max(axis=0) + margin).astype(int)
        height, width = source_rgb.shape[:2]
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        crop = source_rgb[y1:y2, x1:x2]
        local = landmarks.copy()
        local[:, 0] -= x1
        local[:, 1] -= y1
        if scale < 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            local *= scale
        crop = _fill_outside_face(np.ascontiguousarray(crop), local)
        if self.eyes == "iris":
            crop = _remove_irises(crop, local)
        triangles = delaunay_triangles(local[:NUM_MESH_POINTS, :2])
        latent = self.model.identity(source_rgb, five_points(landmarks)) if self.model else None
        return SourceFace(crop, local, triangles, face, latent)

    def swap_image(
        self,
        source_rgb: np.ndarray,
        target_rgb: np.ndarray,
        target_ids: list[int] | None = None,
    ) -> SwapResult:
        """Swap the source face onto the target faces `target_ids` (None: every face)."""
        target_rgb = as_rgb(target_rgb)
        source = self.prepare_source(source_rgb)
        faces = self.detect(target_rgb)
        if not faces:
            raise NoFaceError("No face was found in the target image.")
        ids = _chosen_ids(target_ids, len(faces))
        image = target_rgb.copy()
        swapped: list[int] = []
        for face_id in ids:
            landmarks = self.mesher.landmarks(target_rgb, faces[face_id].box)
            if landmarks is None:
                continue
            image = self.swap_face(image, source, landmarks)
            swapped.append(face_id)
        return SwapResult(image, swapped, faces)

    def swap_face(self, image: np.ndarray, source: SourceFace, landmarks: np.ndarray) -> np.ndarray:
        """Swap the source onto the one face whose (478, 3) landmarks are given; a new image."""
        if self.model is not None:
            if source.latent is None:
                raise ValueError("the source was prepared without the swap model")
            return self.model.swap(image, five_points(landmarks), source.latent)
        return _classical_swap(
            image, source, landmarks, self.blend_margin, self.shape_transfer, self.eyes
        )

    def face_mask(self, shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
        """The region swap_face may change for these landmarks (uint8, 255 inside)."""
        height, width = shape
        if self.model is not None:
            return self.model.paste_mask((height, width), five_points(landmarks))
        hull = cv2.convexHull(np.round(landmarks[:NUM_MESH_POINTS, :2]).astype(np.int32))
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.fillConvexPoly(mask, hull, 255)
        return mask


class VideoSwapper:
    """Per-frame face swap for `ml.video.transform_video`: `fn(frame, index) -> frame`.

    The faces chosen by `target_ids` (ids of the first frame's faces, largest first; None: every
    face in every frame) are followed by tracker id. Landmarks are smoothed per track.
    """

    def __init__(
        self,
        swapper: FaceSwapper,
        source_rgb: np.ndarray,
        target_ids: list[int] | None = None,
        fps: float = 25.0,
        max_coast: int = 5,
    ) -> None:
        """Prepare the source once; `fps` scales the smoothing, `max_coast` the tracking."""
        self.swapper = swapper
        self.source = swapper.prepare_source(source_rgb)
        self.target_ids = None if target_ids is None else list(target_ids)
        self.fps = float(fps) if fps > 0 else 25.0
        self.max_coast = int(max_coast)
        self.tracker = FaceTracker(max_coast=max_coast)
        self.chosen_tracks: set[int] | None = None  # track ids; None until the first frame
        self.swapped_per_frame: list[list[int]] = []  # track ids swapped, per frame
        self._filters: dict[int, OneEuroFilter] = {}
        self._last: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}
        self._lock = threading.Lock()

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Swap the chosen faces in one frame."""
        with self._lock:
            return self._frame(as_rgb(frame), index)

    def _frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        faces = self.swapper.detect(frame)
        tracks = self.tracker.update([face.box for face in faces])
        if self.chosen_tracks is None and self.target_ids is not None:
            ids = _chosen_ids(self.target_ids, len(faces))
            self.chosen_tracks = {t.id for t in tracks if t.index is not None and t.index in ids}
        live = {t.id for t in tracks}
        for gone in set(self._filters) - live:
            self._filters.pop(gone, None)
            self._last.pop(gone, None)
        out = frame
        swapped: list[int] = []
        for track in tracks:
            if self.chosen_tracks is not None and track.id not in self.chosen_tracks:
                continue
            landmarks = self.swapper.mesher.landmarks(frame, track.box)
            if landmarks is None:
                landmarks = self._coasted(track.id, track.box)
                if landmarks is None:
                    continue
            else:
                landmarks = self._smoothed(track.id, landmarks, index)
            self._last[track.id] = (landmarks, track.box)
            out = self.swapper.swap_face(out, self.source, landmarks)
            swapped.append(track.id)
        self.swapped_per_frame.append(swapped)
        return out

    def _smoothed(self, track_id: int, landmarks: np.ndarray, index: int) -> np.ndarray:
        """Landmarks through this track's One-Euro filter (in face-size units)."""
        smoother = self._filters.get(track_id)
        if smoother is None:
            smoother = self._filters[track_id] = OneEuroFilter(scale=face_size(landmarks))
        return smoother(landmarks, index / self.fps)

    def _coasted(self, track_id: int, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """The track's last landmarks moved with its box, when the mesh misses a frame."""
        last = self._last.get(track_id)
        if last is None:
            return None
        landmarks, old_box = last
        shift = np.array(
            [box[0] + box[2] / 2 - old_box[0] - old_box[2] / 2,
             box[1] + box[3] / 2 - old_box[1] - old_box[3] / 2, 0.0],
            dtype=np.float32,
        )  # fmt: skip
        return landmarks + shift


# -- the classical pipeline ----------------------------------------------------------------------


def _classical_swap(
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
    scale, rotation, shift = _umeyama(src, dst)
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


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
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


def _remove_irises(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inpaint the source's irises from the white and lids around them, once per source."""
    irises = iris_mask(crop.shape[:2], landmarks, grow=1.25)
    if not irises.any():
        return crop
    return cv2.inpaint(crop, irises, 3, cv2.INPAINT_TELEA)


def _fill_outside_face(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
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


# -- the model slot ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OnnxSwapModel:
    """An operator-supplied swap model with the common 128-px interface, plus its embedder.

    `face_swap.onnx` (e.g. InsightFace's inswapper_128, which we cannot ship: it is a download,
    not a package) takes two inputs:
      - the target face, float32 1x3xSxS (S = 128), RGB in [0, 1], aligned by a similarity
        transform of its five points (eyes, nose tip, mouth corners) onto the ArcFace template
        (112-px template shifted by 8 px to the right for 128);
      - the source identity, float32 1xD (D = 512): the source's ArcFace embedding, L2-normalized,
        multiplied by the model's `emap` matrix when the graph carries one (inswapper stores it as
        its last initializer, used by no node) and normalized again;
    and gives the swapped face, 1x3xSxS RGB in [0, 1], which is pasted back with the inverse
    transform through a feathered square mask.

    The identity must come from the embedder the swap model was trained with (ArcFace, e.g.
    InsightFace's w600k_r50 or glintr100: input 1x3x112x112 RGB, (x - 127.5) / 127.5, output 1xD).
    FaceNet's 128-d embedding here is a different space, so it cannot stand in; the operator puts
    the embedder beside the model as `face_swap_embedder.onnx`. Without it loading fails with a
    clear SwapModelError (at worker start, not in a job).
    """

    swap_session: object
    embed_session: object
    target_input: str
    latent_input: str
    size: int  # S
    embed_size: int  # the embedder's square input side (112 for ArcFace)
    latent_dim: int
    emap: np.ndarray | None
    version: str
    feather: float = field(default=0.1)  # of S: width of the mask's feathered border

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> OnnxSwapModel | None:
        """Load `face_swap.onnx` and its embedder from `model_dir`; None when there is no model."""
        swap_path = Path(model_dir) / SWAP_MODEL_FILE
        if not swap_path.is_file():
            return None
        embed_path = Path(model_dir) / EMBEDDER_FILE
        if not embed_path.is_file():
            raise SwapModelError(
                f"{swap_path} needs the identity embedder it was trained with (an ArcFace ONNX "
                f"model, 1x3x112x112 in, 1x512 out) as {embed_path}; we cannot ship one offline. "
                f"Add it, or remove {swap_path.name} to use the classical face swap."
            )
        return cls.load(swap_path, embed_path)

    @classmethod
    def load(cls, swap_path: Path, embed_path: Path) -> OnnxSwapModel:
        """Open both ONNX files and check their inputs and outputs against the interface."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        providers = onnx_providers()
        try:
            swap = ort.InferenceSession(str(swap_path), options, providers=providers)
            embed = ort.InferenceSession(str(embed_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SwapModelError(f"cannot open the swap model files: {exc}") from exc
        images = [i for i in swap.get_inputs() if len(i.shape) == 4]
        vectors = [i for i in swap.get_inputs() if len(i.shape) == 2]
        outputs = swap.get_outputs()
        if len(images) != 1 or len(vectors) != 1 or len(swap.get_inputs()) != 2:
            raise SwapModelError(
                f"{swap_path.name} must take one 1x3xSxS image and one 1xD identity vector; it "
                f"takes {[(i.name, i.shape) for i in swap.get_inputs()]}"
            )
        size = _static_dim(images[0].shape[2], 128)
        if _static_dim(images[0].shape[1], 3) != 3 or _static_dim(images[0].shape[3], size) != size:
            raise SwapModelError(f"{swap_path.name}: the image input must be 1x3xSxS")
        latent_dim = _static_dim(vectors[0].shape[1], 512)
        out_shape = outputs[0].shape
        if len(out_shape) != 4 or _static_dim(out_shape[1], 3) != 3:
            raise SwapModelError(f"{swap_path.name}: the output must be 1x3xSxS, got {out_shape}")
        embed_inputs, embed_outputs = embed.get_inputs(), embed.get_outputs()
        if len(embed_inputs) != 1 or len(embed_inputs[0].shape) != 4:
            raise SwapModelError(f"{embed_path.name} must take one 1x3xNxN image")
        embed_size = _static_dim(embed_inputs[0].shape[2], 112)
        embed_dim = _static_dim(embed_outputs[0].shape[-1], latent_dim)
        if embed_dim != latent_dim:
            raise SwapModelError(
                f"{embed_path.name} gives {embed_dim}-d vectors, "
                f"{swap_path.name} takes {latent_dim}"
            )
        digest = hashlib.sha256()
        for path in (swap_path, embed_path):
            digest.update(path.read_bytes())
        version = f"onnx:{swap_path.name}+{embed_path.name}@{digest.hexdigest()[:12]}"
        return cls(
            swap,
            embed,
            images[0].name,
            vectors[0].name,
            size,
            embed_size,
            latent_dim,
            _unused_square_initializer(swap_path, latent_dim),
            version,
        )

    def identity(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The source identity vector the swap model takes, from a face's five points."""
        matrix = _similarity(points, _template(self.embed_size))
        face = cv2.warpAffine(rgb, matrix, (self.embed_size, self.embed_size))
        blob = ((face.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        name = self.embed_session.get_inputs()[0].name
        vector = np.asarray(self.embed_session.run(None, {name: blob})[0], np.float32).reshape(-1)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        if self.emap is not None:
            vector = vector @ self.emap
            vector /= max(float(np.linalg.norm(vector)), 1e-12)
        return vector.reshape(1, -1).astype(np.float32)

    def swap(self, image: np.ndarray, points: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Align the target face, run the model, paste the result back; a new image."""
        size = self.size
        matrix = _similarity(points, _template(size))
        aligned = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR)
        blob = (aligned.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        result = self.swap_session.run(None, {self.target_input: blob, self.latent_input: latent})
        face = np.asarray(result[0], dtype=np.float32)[0].transpose(1, 2, 0)
        if face.shape[:2] != (size, size):
            face = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
        face = np.clip(face * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return self._paste(image, face, matrix)

    def paste_mask(self, shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
        """The pixels `swap` may change (uint8, 255 inside) for a face with these five points."""
        matrix = _similarity(points, _template(self.size))
        square = np.full((self.size, self.size), 255, dtype=np.uint8)
        inverse = cv2.invertAffineTransform(matrix)
        return cv2.warpAffine(square, inverse, (shape[1], shape[0]), flags=cv2.INTER_NEAREST)

    def _paste(self, image: np.ndarray, face: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = self.size
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        mapped = corners @ inverse.T
        x1, y1 = np.floor(mapped.min(axis=0)).astype(int) - 1
        x2, y2 = np.ceil(mapped.max(axis=0)).astype(int) + 1
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            return image
        shifted = inverse.copy()
        shifted[:, 2] -= (x1, y1)
        border = max(1, round(self.feather * size))
        alpha = np.zeros((size, size), dtype=np.float32)
        alpha[border:-border, border:-border] = 1.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), border / 2.0)
        alpha[[0, -1], :] = 0.0
        alpha[:, [0, -1]] = 0.0
        out_size = (x2 - x1, y2 - y1)
        pasted = cv2.warpAffine(face, shifted, out_size, flags=cv2.INTER_LINEAR)
        weight = cv2.warpAffine(alpha, shifted, out_size, flags=cv2.INTER_LINEAR)[..., None]
        region = image[y1:y2, x1:x2].astype(np.float32)
        out = image.copy()
        out[y1:y2, x1:x2] = np.clip(region + weight * (pasted - region) + 0.5, 0, 255).astype(
            np.uint8
        )
        return out


def _template(size: int) -> np.ndarray:
    """The ArcFace five-point template for a size x size crop (InsightFace's rule)."""
    if size % 112 == 0:
        ratio, shift = size / 112.0, 0.0
    else:
        ratio, shift = size / 128.0, 8.0 * size / 128.0
    template = ARCFACE_TEMPLATE * ratio
    template[:, 0] += shift
    return template


def _similarity(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform taking 2-D `points` onto `template`, as 2x3."""
    src = np.asarray(points, dtype=np.float64)[:, :2]
    scale, rotation, shift = _umeyama(src, np.asarray(template, dtype=np.float64))
    return np.hstack([scale * rotation, shift[:, None]])


def _static_dim(value: object, default: int) -> int:
    """An ONNX input dimension: its number, or `default` when it is symbolic."""
    return int(value) if isinstance(value, int) and value > 0 else default


def _unused_square_initializer(path: Path, dim: int) -> np.ndarray | None:
    """inswapper's `emap`: the graph's last initializer when it is DxD and no node uses it."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    if not graph.initializer:
        return None
    last = graph.initializer[-1]
    if tuple(last.dims) != (dim, dim):
        return None
    if any(last.name in node.input for node in graph.node):
        return None
    return numpy_helper.to_array(last).astype(np.float32)


def _chosen_ids(target_ids: list[int] | None, count: int) -> list[int]:
    """Validate the chosen face ids against the number of faces found."""
    if target_ids is None:
        return list(range(count))
    ids: list[int] = []
    for value in target_ids:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise UnknownFaceError(f"Face ids are whole numbers; got {value!r}.")
        if not 0 <= int(value) < count:
            raise UnknownFaceError(f"There is no face {value}; the image has {count} face(s).")
        if int(value) not in ids:
            ids.append(int(value))
    return ids
