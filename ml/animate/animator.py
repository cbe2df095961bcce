"""The three animations of a photo, each written as an MP4: living portrait, reenactment, talk.

`Animator` holds the face detector and mesher (shared with the other studio effects) and, for
the talking photo, the speech synthesizer (created on first use). `prepare` finds the one face of
the photo and sets up its rig and warper once; each animation then turns a sequence of target
landmarks into frames.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.animate.encode import read_audio, write_video
from ml.animate.motions import motion_track
from ml.animate.rig import (
    LOWER_INNER,
    UPPER_INNER,
    Expression,
    FaceRig,
    Pose,
    eye_openness,
    limit_expression,
    place,
    relative_motion,
    split_blinks,
)
from ml.animate.warp import Warper
from ml.detection import FaceDetector, dominant_face
from ml.errors import FaceError, NoFaceError
from ml.face_mesh import NUM_MESH_POINTS, FaceMesher, face_size, mouth_opening
from ml.images import as_rgb
from ml.video import DEFAULT_MAX_PIXELS, MediaError, iter_frames, probe

Target = tuple[np.ndarray, tuple[float, float]]  # landmarks (478, 3) and blinks (left, right)
DEFAULT_MAX_SIDE = 720  # the photo is animated at most this large (long side, pixels)
MAX_DRIVING_SECONDS = 120.0
MAX_DRIVING_MISSES = 0.5  # share of driving frames whose face may be lost before giving up


class DrivingFaceError(FaceError):
    """The driving video shows no face to follow."""

    code = "no_face_in_driving"
    default_message = "No face was found in the driving video."


@dataclass
class Prepared:
    """A photo ready to animate: resized image, its landmarks, rig and warper."""

    image: np.ndarray
    landmarks: np.ndarray
    rig: FaceRig
    warper: Warper

    @property
    def frame(self):
        """The face's frame (axes and size)."""
        return self.rig.frame


@dataclass
class Animation:
    """What an animation produced."""

    path: Path
    frames: int
    fps: float
    duration: float
    width: int
    height: int
    has_audio: bool
    targets: list[Target] = field(default_factory=list, repr=False)  # per frame
    subtitles: str | None = None  # WebVTT, for the talking photo
    language: str | None = None  # of the speech
    speech_version: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Animator:
    """Living portraits, reenactment and talking photos; create once per process."""

    def __init__(
        self,
        detector: FaceDetector,
        mesher: FaceMesher,
        device: str = "cpu",
        max_side: int = DEFAULT_MAX_SIDE,
        speech_library: str | None = None,
    ) -> None:
        """`device`: torch device for the warp; `speech_library`: libespeak-ng path override."""
        self.detector = detector
        self.mesher = mesher
        self.device = device
        self.max_side = int(max_side)
        self.speech_library = speech_library
        self._synth = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """What produced the animation."""
        return f"landmark-tps-animate/{self.mesher.version}"

    # -- set-up ---------------------------------------------------------------------------------

    def prepare(self, photo: np.ndarray) -> Prepared:
        """Find the photo's one face and set up its warp; raises FaceError when unusable."""
        image = as_rgb(photo)
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        if scale < 1.0:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # Even sides: H.264 in yuv420p needs them, and then no frame is padded.
        image = np.ascontiguousarray(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])
        face = dominant_face(self.detector.detect(image))
        landmarks = self.mesher.landmarks(image, face.box)
        if landmarks is None:
            raise NoFaceError("The face in the photo could not be measured (face mesh).")
        return Prepared(image, landmarks, FaceRig(landmarks), Warper(image, landmarks, self.device))

    def target(self, prepared: Prepared, pose: Pose, expression_units: np.ndarray) -> np.ndarray:
        """The photo's landmarks with an expression (face units, (478, 2)) and a pose."""
        frame = prepared.frame
        moved = place(
            prepared.landmarks,
            frame,
            pose.clamped(),
            frame.to_pixels(limit_expression(expression_units)),
        )
        return keep_lips_apart(prepared.landmarks, moved)

    # -- living portrait ------------------------------------------------------------------------

    def living_portrait(
        self,
        photo: np.ndarray,
        dst: str | os.PathLike[str],
        motion: str = "portrait",
        seconds: float = 5.0,
        fps: float = 25.0,
        seed: int | None = None,
        progress: Callable[[float], None] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Animation:
        """Animate the photo with a built-in motion (see `ml.animate.motions.MOTIONS`).

        `metadata` becomes MP4 tags (the studio's provenance fields).
        """
        track = motion_track(motion, seconds, fps, seed)
        started = time.perf_counter()
        prepared = self.prepare(photo)
        targets = [
            (self.target(prepared, p, prepared.rig.displacement(e)), (e.blink_left, e.blink_right))
            for p, e in track
        ]
        return self._write(prepared, targets, dst, fps, None, 0, progress, started, metadata)

    # -- reenactment ----------------------------------------------------------------------------

    def driving_landmarks(
        self,
        driving: str | os.PathLike[str],
        progress: Callable[[float], None] | None = None,
    ) -> tuple[list[np.ndarray], float]:
        """The driving video's smoothed face landmarks per frame, and its frame rate."""
        from ml.tracking import OneEuroFilter

        info = probe(driving, max_duration=MAX_DRIVING_SECONDS, max_pixels=DEFAULT_MAX_PIXELS)
        fps = info.fps if info.fps > 0 else 25.0
        raw: list[np.ndarray | None] = []
        box = None
        for index, frame in enumerate(iter_frames(driving)):
            landmarks = None
            if box is not None:
                landmarks = self.mesher.landmarks(frame, box)
            if landmarks is None:
                faces = self.detector.detect(frame)
                if faces:
                    landmarks = self.mesher.landmarks(frame, dominant_face(faces, ratio=1.01).box)
            raw.append(landmarks)
            box = _box_of(landmarks) if landmarks is not None else None
            if progress is not None and info.frames:
                progress(min(index / info.frames, 1.0))
        if not raw:
            raise MediaError("no_frames", "The driving video has no frames.")
        found = [i for i, lm in enumerate(raw) if lm is not None]
        if not found or len(found) < (1 - MAX_DRIVING_MISSES) * len(raw):
            raise DrivingFaceError(
                None if not found else "The face in the driving video is lost in too many frames."
            )
        # A frame whose face was missed holds the nearest earlier one (or the first found).
        filled, last = [], raw[found[0]]
        for lm in raw:
            last = lm if lm is not None else last
            filled.append(last)
        smoother = OneEuroFilter(min_cutoff=1.5, beta=4.0, scale=face_size(filled[0]))
        smoothed = [smoother(lm, i / fps) for i, lm in enumerate(filled)]
        return smoothed, fps

    def reenact(
        self,
        photo: np.ndarray,
        driving: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        reference: str = "first",
        keep_audio: bool = True,
        progress: Callable[[float], None] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Animation:
        """Move the photo's face as the face in the driving video moves.

        `reference`: "first" (motion relative to the first frame) or "neutral" (to the frame
        with the most closed mouth, open eyes and frontal pose).
        """
        started = time.perf_counter()
        prepared = self.prepare(photo)
        stage = (lambda f: progress(0.4 * f)) if progress else None
        driving_lm, fps = self.driving_landmarks(driving, stage)
        measured = time.perf_counter()
        ref = driving_lm[0] if reference == "first" else driving_lm[neutral_index(driving_lm)]
        targets = []
        for lm in driving_lm:
            pose, expression = relative_motion(ref, lm)
            expression, blinks = split_blinks(ref, lm, expression)
            targets.append((self.target(prepared, pose, expression), blinks))
        audio = read_audio(driving, 44_100) if keep_audio else None
        stage = (lambda f: progress(0.4 + 0.6 * f)) if progress else None
        result = self._write(prepared, targets, dst, fps, audio, 44_100, stage, started, metadata)
        result.timings["driving_landmarks"] = measured - started
        return result

    # -- talking photo --------------------------------------------------------------------------

    def synthesizer(self):
        """The speech synthesizer (libespeak-ng), created on first use."""
        from ml.animate.speech import Synthesizer

        with self._lock:
            if self._synth is None:
                self._synth = Synthesizer(self.speech_library)
            return self._synth

    def talk(
        self,
        photo: np.ndarray,
        text: str,
        dst: str | os.PathLike[str],
        language: str = "auto",
        fps: float = 25.0,
        burn_subtitles: bool = False,
        words_per_minute: int = 150,
        seed: int | None = None,
        progress: Callable[[float], None] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Animation:
        """The photo speaks `text` (Korean or English): audio, lip motion and WebVTT subtitles."""
        from ml.animate.speech import cues, mouth_track, webvtt

        started = time.perf_counter()
        speech = self.synthesizer().speak(text, language, words_per_minute)
        prepared = self.prepare(photo)
        frames = max(1, int(np.ceil(speech.duration * fps - 1e-6)))
        mouths = mouth_track(speech, fps, frames)
        seconds = max(frames / fps, 1.0)
        head = motion_track("portrait", min(seconds, 30.0), fps, seed)
        targets = []
        for i, mouth in enumerate(mouths):
            pose, idle = head[min(i, len(head) - 1)]
            pose = Pose(pose.yaw * 0.6, pose.pitch * 0.6, pose.roll * 0.6)
            expression = Expression(
                blink_left=idle.blink_left,
                blink_right=idle.blink_right,
                smile=0.25 * idle.smile,
                jaw=mouth.jaw,
                spread=mouth.spread,
                round=mouth.round,
                press=mouth.press,
                brows=idle.brows,
            )
            landmarks = self.target(prepared, pose, prepared.rig.displacement(expression))
            targets.append((landmarks, (idle.blink_left, idle.blink_right)))
        subtitle_cues = cues(speech)
        burn = _caption_burner(subtitle_cues, fps, prepared.image.shape) if burn_subtitles else None
        result = self._write(
            prepared, targets, dst, fps, speech.samples, speech.sample_rate, progress, started,
            metadata, post=burn,
        )  # fmt: skip
        result.subtitles = webvtt(subtitle_cues)
        result.language = speech.language
        result.speech_version = self.synthesizer().version
        return result

    # -- rendering ------------------------------------------------------------------------------

    def frames(self, prepared: Prepared, targets: list[Target]) -> Iterator[np.ndarray]:
        """Render each target (for tests and previews)."""
        for landmarks, blinks in targets:
            yield prepared.warper.render(landmarks, blinks)

    def _write(
        self,
        prepared: Prepared,
        targets: list[Target],
        dst: str | os.PathLike[str],
        fps: float,
        audio: np.ndarray | None,
        sample_rate: int,
        progress: Callable[[float], None] | None,
        started: float,
        metadata: dict[str, str] | None = None,
        post: Callable[[np.ndarray, int], np.ndarray] | None = None,
    ) -> Animation:
        total = len(targets)
        render_time = [0.0]

        def produce() -> Iterator[np.ndarray]:
            for i, (landmarks, blinks) in enumerate(targets):
                t = time.perf_counter()
                frame = prepared.warper.render(landmarks, blinks)
                if post is not None:
                    frame = post(frame, i)
                render_time[0] += time.perf_counter() - t
                yield frame

        report = (lambda n: progress(min(n / total, 0.999))) if progress else None
        tags = {"comment": self.version, **(metadata or {})}
        info = write_video(dst, produce(), fps, audio, sample_rate, tags, report)
        height, width = prepared.image.shape[:2]
        return Animation(
            Path(dst), info.frames, fps, info.duration, width, height, info.has_audio, targets,
            timings={"render": render_time[0], "total": time.perf_counter() - started},
        )  # fmt: skip


MIN_LIP_GAP = 0.35  # of the photo's own gap between the inner lips


def keep_lips_apart(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Inner lips closed no further than MIN_LIP_GAP of the photo's own opening.

    Closing an open mouth is a fold (the teeth must vanish under the lips) that a smooth warp
    cannot make: squeezed harder, the spline overshoots around the mouth. The lips meet at
    most that far; a closed-mouth photo is not affected.
    """
    out = np.array(target, dtype=np.float64, copy=True)
    up, low = list(UPPER_INNER), list(LOWER_INNER)
    src_gap = source[low, :2] - source[up, :2]
    src_len = np.linalg.norm(src_gap, axis=1)
    gap = out[low, :2] - out[up, :2]
    length = np.linalg.norm(gap, axis=1)
    floor = MIN_LIP_GAP * src_len
    short = (src_len > 2.0) & (length < floor)
    if short.any():
        own = src_gap / np.maximum(src_len[:, None], 1e-6)
        direction = np.where(length[:, None] > 1e-6, gap / np.maximum(length[:, None], 1e-6), own)
        push = ((floor - length) / 2)[:, None] * direction * short[:, None]
        out[up, :2] -= push
        out[low, :2] += push
    return out


def neutral_index(landmarks: list[np.ndarray]) -> int:
    """The frame with the most neutral face: closed mouth, open eyes, facing like the median."""
    scores = []
    first = landmarks[0]
    poses = [relative_motion(first, lm)[0] for lm in landmarks]
    yaw_m = np.median([p.yaw for p in poses])
    pitch_m = np.median([p.pitch for p in poses])
    for lm, pose in zip(landmarks, poses, strict=True):
        eyes = float(eye_openness(lm).mean())
        turn = (abs(pose.yaw - yaw_m) + abs(pose.pitch - pitch_m)) / 30.0
        scores.append(mouth_opening(lm) - 2.0 * eyes + turn)
    return int(np.argmin(scores))


def _box_of(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """A detector-like face box around the mesh (for the next frame's crop)."""
    pts = np.asarray(landmarks)[:NUM_MESH_POINTS, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _caption_burner(items, fps: float, shape: tuple[int, ...]):
    """A per-frame function drawing the current cue at the bottom of the frame."""
    from PIL import Image, ImageDraw

    from ml.animate.speech import SpeechError

    height, width = shape[:2]
    font = caption_font(max(14, round(height / 22)))
    hangul = any(re.search(r"[\uac00-\ud7a3]", c.text) for c in items)
    if hangul and "Nanum" not in str(getattr(font, "path", "")):
        raise SpeechError(
            "subtitle_font_missing",
            "Burnt-in Korean subtitles need a Hangul font (Debian package fonts-nanum); "
            "leave 'burn the subtitles' off to get them as a subtitle track only.",
        )
    rendered: dict[int, tuple[np.ndarray, np.ndarray, int, int]] = {}

    def draw(frame: np.ndarray, index: int) -> np.ndarray:
        t = index / fps
        current = next((k for k, c in enumerate(items) if c.start <= t < c.end), None)
        if current is None:
            return frame
        if current not in rendered:
            text = items[current].text
            probe_img = ImageDraw.Draw(Image.new("L", (1, 1)))
            lines = _wrap(text, font, probe_img, int(width * 0.9))
            box = probe_img.multiline_textbbox((0, 0), "\n".join(lines), font=font, align="center")
            box = [round(b) for b in box]
            w, h = box[2] - box[0] + 16, box[3] - box[1] + 12
            canvas = Image.new("L", (w, h), 0)
            ImageDraw.Draw(canvas).multiline_text(
                (8 - box[0], 6 - box[1]), "\n".join(lines), font=font, fill=255, align="center"
            )
            alpha = np.asarray(canvas, dtype=np.float32) / 255.0
            x = max(0, (width - w) // 2)
            y = max(0, height - h - round(height * 0.04))
            rendered[current] = (alpha, np.ones_like(alpha) * 0.55, x, y)
        alpha, back, x, y = rendered[current]
        out = frame.copy()
        h, w = min(alpha.shape[0], height - y), min(alpha.shape[1], width - x)
        region = out[y : y + h, x : x + w].astype(np.float32)
        region *= 1 - back[:h, :w, None]
        region = region * (1 - alpha[:h, :w, None]) + 255 * alpha[:h, :w, None]
        out[y : y + h, x : x + w] = np.clip(region, 0, 255).astype(np.uint8)
        return out

    return draw


FONT_FILES = (
    "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)


def caption_font(size: int):
    """A TrueType font with Hangul (Nanum, Debian fonts-nanum) or, failing that, DejaVu."""
    from PIL import ImageFont

    for path in FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def _wrap(text: str, font, draw, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines
