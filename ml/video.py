"""Video pipeline shared by the studio effects: probe, decode -> per-frame work -> H.264 MP4.

Decoding and encoding use PyAV (`av`), whose wheels bundle FFmpeg with libx264 and the native AAC
encoder, so no system ffmpeg is needed. The output is what every browser plays: H.264 (High
profile) in yuv420p with even width and height, the `moov` atom ahead of `mdat` (faststart, so a
player can start before the whole file has arrived), and the first audio stream kept (copied when
it is already AAC, else re-encoded to AAC). Phone videos carrying a display rotation are turned
upright before the per-frame work, so effects always see the picture as it is shown.

`FaceTracker` gives face boxes stable ids across frames and coasts a lost track for a few frames,
so a face that the detector misses in one frame is still handled in that frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ml.errors import CodedError
from ml.tracking import Box, FaceTracker, Track  # noqa: F401  (kept importable from here)

DEFAULT_MAX_DURATION = 600.0  # seconds
DEFAULT_MAX_PIXELS = 3840 * 2160  # one frame; 4K UHD
DEFAULT_CRF = 20  # x264 constant rate factor: visually lossless-ish for faces, small files
DEFAULT_PRESET = "veryfast"  # x264 speed/size trade-off; the effects dominate the time anyway
AUDIO_BITRATE = 128_000
_COPIED_AUDIO_CODECS = {"aac"}  # audio codecs copied as they are; others are re-encoded to AAC


class MediaError(CodedError, ValueError):
    """A video that cannot be used; `code` is stable and machine readable."""


@dataclass(frozen=True)
class VideoInfo:
    """What probe() found: display size (rotation applied), rate, frame count, duration."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float  # seconds
    has_audio: bool
    codec: str = ""
    rotation: int = 0  # degrees the stored picture is turned to display it (0, 90, 180, 270)
    tags: dict[str, str] = field(default_factory=dict)  # container metadata


def probe(
    path: str | os.PathLike[str],
    max_duration: float | None = DEFAULT_MAX_DURATION,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> VideoInfo:
    """Check that a file is a decodable video within the limits; raise MediaError otherwise.

    Reads every packet of the video stream (no decoding) to count the frames, and decodes the
    first frame, so a file whose data is cut short or garbled is refused here, not mid-job.
    """
    import av

    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise MediaError(
            "corrupt_video", f"The file is not a readable video ({_why(exc)})."
        ) from exc
    with container:
        if not container.streams.video:
            raise MediaError("no_video_stream", "The file has no video stream.")
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise MediaError("corrupt_video", "The video stream has no picture size.")
        if max_pixels is not None and width * height > max_pixels:
            raise MediaError(
                "video_too_large",
                f"The video is {width}x{height}; at most {max_pixels:,} pixels a frame.",
            )
        fps = _frame_rate(stream)
        declared = _duration(container, stream)
        if max_duration is not None and declared is not None and declared > max_duration + 0.5:
            raise MediaError(
                "video_too_long",
                f"The video lasts {declared:.0f} s; at most {max_duration:.0f} s are accepted.",
            )
        frames, last_time, rotation = _count_frames(container, stream)
        tags = {str(k): str(v) for k, v in container.metadata.items()}
    if frames == 0:
        raise MediaError("no_frames", "The video has no frames.")
    if stream.frames and frames < stream.frames:
        raise MediaError(
            "corrupt_video",
            f"The file is cut short: {frames} of {stream.frames} frames are there.",
        )
    duration = declared if declared is not None else (last_time or frames / fps)
    if max_duration is not None and duration > max_duration + 0.5:
        raise MediaError(
            "video_too_long",
            f"The video lasts {duration:.0f} s; at most {max_duration:.0f} s are accepted.",
        )
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(width, height, fps, frames, duration, has_audio, codec, rotation, tags)


def transform_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fn: Callable[[np.ndarray, int], np.ndarray],
    progress: Callable[[float], None] | None = None,
    metadata: dict[str, str] | None = None,
    *,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    max_duration: float | None = DEFAULT_MAX_DURATION,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> VideoInfo:
    """Decode every frame of `src`, pass it through `fn(rgb, index)`, write an H.264 MP4 to `dst`.

    `fn` gets an upright HxWx3 uint8 RGB frame and returns one of the same size. `progress` is
    called with the fraction done (0-1). `metadata` becomes MP4 tags (e.g. `comment`). On any
    error `dst` is removed. Returns the probe of the written file.
    """
    import av

    info = probe(src, max_duration=max_duration, max_pixels=max_pixels)
    dst = Path(dst)
    try:
        _transcode(src, dst, fn, progress, metadata or {}, info, crf, preset)
        written = probe(dst, max_duration=None, max_pixels=None)
    except BaseException as exc:
        dst.unlink(missing_ok=True)
        if isinstance(exc, av.error.FFmpegError):
            raise MediaError(
                "corrupt_video", f"The video could not be decoded ({_why(exc)})."
            ) from exc
        raise
    if progress is not None:
        progress(1.0)
    return written


def encode_video(
    frames: Iterable[np.ndarray],
    dst: str | os.PathLike[str],
    fps: float,
    metadata: dict[str, str] | None = None,
    *,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
) -> VideoInfo:
    """Write RGB frames (all the same even size) as an H.264 yuv420p MP4, `moov` first.

    For effects that make a video from a photo; returns what `probe` says of the file.
    """
    import av

    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart+use_metadata_tags"}
    count = 0
    with av.open(str(dst), mode="w", format="mp4", options=options) as target:
        for key, value in (metadata or {}).items():
            target.metadata[str(key)] = str(value)
        stream = None
        for rgb in frames:
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            if stream is None:
                height, width = rgb.shape[:2]
                if width % 2 or height % 2:
                    raise MediaError("odd_size", f"H.264 needs even sizes, not {width}x{height}")
                stream = target.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset, "profile": "high"}
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            target.mux(stream.encode(frame))
            count += 1
        if stream is None:
            raise MediaError("no_frames", "There were no frames to write.")
        target.mux(stream.encode(None))
    return probe(dst)


def iter_frames(
    path: str | os.PathLike[str], max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Yield the upright RGB frames of a video (for tests and previews)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for count, frame in enumerate(container.decode(stream)):
            if max_frames is not None and count >= max_frames:
                return
            yield _upright(frame)


def read_frame(path: str | os.PathLike[str], index: int = 0) -> np.ndarray:
    """Return one upright RGB frame of a video (the first by default), e.g. to pick faces."""
    for count, frame in enumerate(iter_frames(path, max_frames=index + 1)):
        if count == index:
            return frame
    raise MediaError("no_frames", f"The video has no frame {index}.")


# -- internals -----------------------------------------------------------------------------------


def _transcode(
    src: str | os.PathLike[str],
    dst: Path,
    fn: Callable[[np.ndarray, int], np.ndarray],
    progress: Callable[[float], None] | None,
    metadata: dict[str, str],
    info: VideoInfo,
    crf: int,
    preset: str,
) -> None:
    """Decode, transform and encode; audio is copied or re-encoded, both interleaved by time."""
    import av

    with av.open(str(src), mode="r", metadata_errors="replace") as source:
        in_video = source.streams.video[0]
        in_video.thread_type = "AUTO"
        in_audio = source.streams.audio[0] if source.streams.audio else None
        out_width, out_height = info.width + info.width % 2, info.height + info.height % 2
        options = {"movflags": "+faststart+use_metadata_tags"}
        with av.open(str(dst), mode="w", format="mp4", options=options) as target:
            for key, value in metadata.items():
                target.metadata[str(key)] = str(value)
            rate = Fraction(info.fps).limit_denominator(1001)
            out_video = target.add_stream("libx264", rate=rate)
            out_video.width, out_video.height = out_width, out_height
            out_video.pix_fmt = "yuv420p"
            out_video.time_base = in_video.time_base
            out_video.codec_context.time_base = in_video.time_base
            out_video.options = {"crf": str(crf), "preset": preset, "profile": "high"}
            copy_audio = (
                in_audio is not None and in_audio.codec_context.name in _COPIED_AUDIO_CODECS
            )
            out_audio = None
            if in_audio is not None:
                if copy_audio:
                    out_audio = target.add_stream_from_template(in_audio)
                else:
                    sample_rate = in_audio.codec_context.sample_rate or 48_000
                    out_audio = target.add_stream("aac", rate=min(sample_rate, 48_000))
                    out_audio.bit_rate = AUDIO_BITRATE
                    out_audio.layout = "stereo" if in_audio.codec_context.channels > 1 else "mono"
            streams = [in_video] + ([in_audio] if in_audio is not None else [])
            index = 0
            last_pts = None
            for packet in source.demux(streams):
                if packet.stream is in_audio:
                    if copy_audio:
                        if packet.dts is None:
                            continue
                        packet.stream = out_audio
                        target.mux(packet)
                    else:
                        for frame in packet.decode():
                            frame.pts = None  # let the encoder number the samples
                            target.mux(out_audio.encode(frame))
                    continue
                for frame in packet.decode():
                    rgb = _upright(frame)
                    result = _checked(fn(rgb, index), rgb.shape, index)
                    if result.shape[:2] != (out_height, out_width):
                        pad = (
                            (0, out_height - rgb.shape[0]),
                            (0, out_width - rgb.shape[1]),
                            (0, 0),
                        )
                        result = np.pad(result, pad, mode="edge")  # yuv420p needs even sides
                    out_frame = av.VideoFrame.from_ndarray(result, format="rgb24")
                    pts = frame.pts if frame.pts is not None else index
                    if last_pts is not None and pts <= last_pts:
                        pts = last_pts + 1
                    out_frame.pts, out_frame.time_base, last_pts = pts, in_video.time_base, pts
                    target.mux(out_video.encode(out_frame))
                    index += 1
                    if progress is not None and info.frames:
                        progress(min(index / info.frames, 0.999))
            target.mux(out_video.encode(None))
            if out_audio is not None and not copy_audio:
                target.mux(out_audio.encode(None))
    if index == 0:
        raise MediaError("no_frames", "The video has no decodable frames.")


def _checked(result: np.ndarray, shape: tuple[int, ...], index: int) -> np.ndarray:
    """The per-frame function must give back an RGB uint8 frame of the same size."""
    result = np.asarray(result)
    if result.shape != shape or result.dtype != np.uint8:
        raise ValueError(
            f"frame {index}: the effect returned {result.shape} {result.dtype}, "
            f"expected {shape} uint8"
        )
    return np.ascontiguousarray(result)


def _upright(frame) -> np.ndarray:
    """A decoded frame as RGB with its display rotation applied."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90.0) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _count_frames(container, stream) -> tuple[int, float | None, int]:
    """Frames (video packets with data), time of the last one, and the display rotation.

    The first packets are decoded until a picture comes out, so an undecodable stream is caught.
    """
    import av

    frames = 0
    last_time: float | None = None
    rotation = 0
    decoded = False
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                if not decoded:
                    for frame in packet.decode():  # flush: a short stream may still give one
                        rotation, decoded = _rotation(frame), True
                        break
                continue
            frames += 1
            if packet.pts is not None and packet.time_base is not None:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                last_time = end if last_time is None else max(last_time, end)
            if not decoded and frames <= 64:
                for frame in packet.decode():
                    rotation, decoded = _rotation(frame), True
                    break
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt_video", f"The video data is damaged ({_why(exc)}).") from exc
    if frames and not decoded:
        raise MediaError("corrupt_video", "No frame of the video could be decoded.")
    if last_time is not None and stream.start_time is not None and stream.time_base is not None:
        last_time -= float(stream.start_time * stream.time_base)
    return frames, last_time, rotation


def _rotation(frame) -> int:
    """Clockwise display rotation in degrees, one of 0, 90, 180, 270."""
    return (-round((frame.rotation or 0) / 90.0) * 90) % 360


def _frame_rate(stream) -> float:
    """The stream's average (else guessed) frame rate; 25 when the file says nothing usable."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= 240:
            return float(rate)
    return 25.0


def _duration(container, stream) -> float | None:
    """Declared duration in seconds (stream, else container), or None."""
    if stream.duration is not None and stream.time_base is not None:
        value = float(stream.duration * stream.time_base)
        if value > 0:
            return value
    if container.duration is not None and container.duration > 0:
        import av

        return container.duration / av.time_base
    return None


def _why(exc: BaseException) -> str:
    """A short reason from an FFmpeg error."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")[:200]
