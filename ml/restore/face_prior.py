"""Faces by the generative prior: automatic face colour for grey photos, and face restoration.

Each face is put in the generator's FFHQ frame (ml/stylemix/align.py) and projected into
MobileStyleGAN (ml/stylemix/projection.py):

- **colour**: the projection matches the face's luminance only, so the generator's colour is
  free and comes out as a plausible face's; the chroma (Lab a, b) of the reconstruction, where
  its luminance agrees with the photo's, is warped back into the photo as seeds for the
  Levin et al. propagation (ml/restore/colorize.py);
- **restoration**: the degraded face is projected as it is (RGB), the reconstruction's colour
  is matched to the face's and it is blended back under a feathered face mask at a strength.

`FacePrior.reconstruct` is the one place that calls the projection (through
ml/restore/prior_projection.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.detection import DetectedFace, five_points
from ml.stylemix.align import AlignedFace, align, face_mask, frame_matrix, paste_back

from .color import grey_rgb, lab_to_rgb, rgb_to_lab
from .propagation import Seeds

Progress = Callable[[float, str], None]

#: Side of the FFHQ-framed crop a face is aligned to before projection.
ALIGN_SIDE = 256
#: Faces whose eyes are closer than this (photo pixels) are too small to project.
MIN_EYE_DISTANCE = 8.0
#: Seeds only where the reconstruction's lightness is within this of the photo's (Lab L).
L_AGREEMENT = 12.0


@dataclass(frozen=True)
class PriorSettings:
    """How hard to project each face, how many faces, and the time they may take together."""

    resolution: int = 64
    iterations: int = 30
    max_faces: int = 4
    time_budget: float = 45.0  # seconds; no further face is started after it


@dataclass
class FaceColour:
    """One face's chroma from the prior, in its FFHQ frame, and how it sits in the photo."""

    matrix: np.ndarray  # 2x3 photo pixel -> aligned pixel (ALIGN_SIDE frame)
    ab: np.ndarray  # ALIGN_SIDE x ALIGN_SIDE x 2 float32
    weight: np.ndarray  # ALIGN_SIDE x ALIGN_SIDE float32 in [0, 1]: where the seeds may go
    reconstruction: np.ndarray  # ALIGN_SIDE x ALIGN_SIDE x 3 uint8 RGB


@dataclass
class FittedFace:
    """One face's reconstruction by the generator (FFHQ frame), colour-matched to the photo."""

    points: np.ndarray  # the five points in the photo
    reconstruction: np.ndarray  # side x side x 3 uint8 RGB


@dataclass
class PriorReport:
    """What the prior did: faces found, faces projected, seconds taken."""

    faces_found: int = 0
    faces_used: int = 0
    seconds: float = 0.0
    skipped_for_time: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """For a job's details."""
        return {
            "faces_found": self.faces_found,
            "faces_used": self.faces_used,
            "seconds": round(self.seconds, 2),
            "skipped_for_time": self.skipped_for_time,
        }


def _noop(_fraction: float, _stage: str) -> None:
    return None


def head_mask(size: int) -> np.ndarray:
    """Face and the hair just around it in an FFHQ crop (0...1, soft edge): where seeds go."""
    mask = np.zeros((size, size), dtype=np.float32)
    cv2.ellipse(
        mask, (size // 2, int(size * 0.5)), (int(size * 0.34), int(size * 0.45)), 0, 0, 360, 1, -1
    )
    blur = max(3, int(size * 0.04) | 1)
    return cv2.GaussianBlur(mask, (blur, blur), 0)


def match_colour(face: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`face` with its Lab mean and spread (L) and mean (a, b) moved to `target`'s in `mask`."""
    lab_face, lab_target = rgb_to_lab(face), rgb_to_lab(target)
    inside = mask > 0.5
    out = lab_face.copy()
    for channel in range(3):
        src, dst = lab_face[:, :, channel][inside], lab_target[:, :, channel][inside]
        if src.size == 0:
            return face
        shifted = lab_face[:, :, channel] - src.mean()
        if channel == 0:
            shifted *= float(np.clip(dst.std() / max(src.std(), 1e-3), 0.5, 2.0))
        out[:, :, channel] = shifted + dst.mean()
    out[:, :, 0] = np.clip(out[:, :, 0], 0, 100)
    return lab_to_rgb(out)


class FacePrior:
    """Project photo faces into the generator for their colour or their restoration."""

    def __init__(self, generator, detector, settings: PriorSettings | None = None) -> None:
        self.generator = generator
        self.detector = detector
        self.settings = settings or PriorSettings()

    def faces(self, rgb: np.ndarray) -> list:
        """The detected faces large enough to project, largest first."""
        found = sorted(self.detector.detect(rgb), key=lambda face: face.area, reverse=True)
        usable = []
        for face in found:
            points = five_points(face)
            if np.linalg.norm(points[1] - points[0]) >= MIN_EYE_DISTANCE:
                usable.append(face)
        return usable

    def reconstruct(
        self,
        aligned: AlignedFace,
        luminance_only: bool,
        progress: Callable[[float], None] | None = None,
        resolution: int | None = None,
        iterations: int | None = None,
        side: int | None = None,
    ) -> np.ndarray:
        """The generator's reconstruction of an aligned face (uint8 RGB, side px, default the
        aligned size)."""
        from .prior_projection import project_face

        return project_face(
            self.generator,
            aligned.image,
            aligned.points,
            luminance_only=luminance_only,
            resolution=resolution or self.settings.resolution,
            iterations=self.settings.iterations if iterations is None else iterations,
            progress=progress,
            side=side,
        )

    def faces_in_budget(
        self, rgb: np.ndarray, report: PriorReport, progress: Progress | None = None
    ) -> Iterator[tuple[DetectedFace, Callable[[float], None]]]:
        """The faces to project (largest first, at most `max_faces`), each with its progress.

        No face after the first is started once the time budget (counted from detection) is
        spent: a user who asked for the faces gets at least one. Fills in `report`'s counts and
        seconds as it goes.
        """
        progress = progress or _noop
        started = time.perf_counter()
        faces = self.faces(rgb)
        report.faces_found = len(faces)
        faces = faces[: self.settings.max_faces]
        try:
            for number, face in enumerate(faces):
                if number > 0 and time.perf_counter() - started > self.settings.time_budget:
                    report.skipped_for_time = len(faces) - number
                    return

                def step(fraction: float, number: int = number) -> None:
                    label = f"face {number + 1} of {len(faces)}"
                    progress((number + fraction) / len(faces), label)

                yield face, step
                report.faces_used += 1
        finally:
            report.seconds = time.perf_counter() - started

    def face_colours(
        self, rgb: np.ndarray, progress: Progress | None = None
    ) -> tuple[list[FaceColour], PriorReport]:
        """Chroma for each face in a grey photo (largest first, within the time budget)."""
        report = PriorReport()
        grey = grey_rgb(rgb)
        colours: list[FaceColour] = []
        for face, step in self.faces_in_budget(rgb, report, progress):
            aligned = align(grey, five_points(face), ALIGN_SIDE)
            recon = self.reconstruct(aligned, luminance_only=True, progress=step)
            recon = _fit_side(recon, ALIGN_SIDE)
            lab_recon = rgb_to_lab(recon)
            lab_photo = rgb_to_lab(aligned.image)
            disagreement = np.abs(
                cv2.GaussianBlur(lab_recon[:, :, 0], (0, 0), 2)
                - cv2.GaussianBlur(lab_photo[:, :, 0], (0, 0), 2)
            )
            weight = head_mask(ALIGN_SIDE) * (disagreement < L_AGREEMENT)
            colours.append(FaceColour(aligned.matrix, lab_recon[:, :, 1:].copy(), weight, recon))
        return colours, report

    def fit_faces(
        self,
        rgb: np.ndarray,
        resolution: int = 128,
        iterations: int = 60,
        progress: Progress | None = None,
    ) -> tuple[list[FittedFace], PriorReport]:
        """Project each face of a (degraded) photo as it is; the reconstructions, colour-matched."""
        report = PriorReport()
        fitted: list[FittedFace] = []
        for face, step in self.faces_in_budget(rgb, report, progress):
            points = five_points(face)
            aligned = align(rgb, points, ALIGN_SIDE)
            # Rendered at the size the FFHQ frame has in the photo (64...1024), so warping it
            # back neither blurs nor aliases.
            scale = float(np.hypot(*frame_matrix(points, 1024)[0, :2]))
            side = int(np.clip(round(1024 / scale), 64, 1024))
            recon = self.reconstruct(
                aligned, False, step, resolution=resolution, iterations=iterations, side=side
            )
            target = align(rgb, points, side).image
            fitted.append(FittedFace(points, match_colour(recon, target, face_mask(side, 0.0))))
        return fitted, report

    def blend_faces(
        self, rgb: np.ndarray, fitted: list[FittedFace], strength: float, feather: float = 0.12
    ) -> np.ndarray:
        """The photo with the reconstructions blended over their faces at `strength` (0...1)."""
        out = rgb
        for face in reversed(fitted):
            matrix = frame_matrix(face.points, face.reconstruction.shape[0])
            out = _blend(out, paste_back(out, face.reconstruction, matrix, feather), strength)
        return out

    def restore(
        self,
        rgb: np.ndarray,
        strength: float,
        resolution: int = 128,
        iterations: int = 60,
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, PriorReport]:
        """The photo with each face's reconstruction blended back at `strength` (0 = as it is)."""
        if strength <= 0:
            return rgb, PriorReport()
        fitted, report = self.fit_faces(rgb, resolution, iterations, progress)
        return self.blend_faces(rgb, fitted, strength), report


def _blend(a: np.ndarray, b: np.ndarray, strength: float) -> np.ndarray:
    mixed = a.astype(np.float32) * (1.0 - strength) + b.astype(np.float32) * strength
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _fit_side(rgb: np.ndarray, side: int) -> np.ndarray:
    if rgb.shape[0] == side:
        return rgb
    interpolation = cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(rgb, (side, side), interpolation=interpolation)


def colour_seeds(colours: list[FaceColour], photo_shape: tuple[int, int], grid: tuple[int, int]):
    """Seeds on the solve grid from the faces' chroma (later, smaller faces under earlier)."""
    seeds = Seeds.empty(grid)
    height, width = photo_shape[:2]
    scale = np.array([[grid[1] / width, 0, 0], [0, grid[0] / height, 0]], np.float64)
    for colour in reversed(colours):
        to_photo = np.vstack([cv2.invertAffineTransform(colour.matrix), [0, 0, 1]])
        to_grid = scale @ to_photo
        size = (grid[1], grid[0])
        ab = cv2.warpAffine(colour.ab, to_grid, size, flags=cv2.INTER_LINEAR)
        weight = cv2.warpAffine(colour.weight, to_grid, size, flags=cv2.INTER_LINEAR)
        face = Seeds(weight > 0.5, np.where((weight > 0.5)[..., None], ab, 0).astype(np.float32))
        seeds = seeds.overlay(face)
    return seeds
