"""Write generated frames (and PCM audio) as the studio's H.264 MP4: faststart, yuv420p, AAC.

`ml.video` transcodes a video into a video; an animation has no input video, so frames come from
a generator. The encoder settings are ml.video's, so results play wherever the studio's do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ml.video import AUDIO_BITRATE, DEFAULT_CRF, DEFAULT_PRESET, VideoInfo, probe


def write_video(
    dst: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 22_050,
    metadata: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VideoInfo:
    """Encode RGB uint8 frames (all one size) at `fps`, with mono int16 `audio` if given.

    `progress` gets the number of frames written so far. On any error `dst` is removed.
    """
    import av

    dst = Path(dst)
    options = {"movflags": "+faststart+use_metadata_tags"}
    count = 0
    try:
        with av.open(str(dst), mode="w", format="mp4", options=options) as target:
            for key, value in (metadata or {}).items():
                target.metadata[str(key)] = str(value)
            rate = Fraction(fps).limit_denominator(1001)
            video = target.add_stream("libx264", rate=rate)
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(DEFAULT_CRF), "preset": DEFAULT_PRESET, "profile": "high"}
            video.codec_context.time_base = 1 / rate
            sound = None
            if audio is not None and len(audio):
                sound = target.add_stream("aac", rate=int(sample_rate))
                sound.layout = "mono"
                sound.bit_rate = AUDIO_BITRATE
            size = None
            for frame in frames:
                frame = np.asarray(frame)
                if size is None:
                    size = frame.shape[:2]
                    video.height, video.width = size[0] + size[0] % 2, size[1] + size[1] % 2
                if frame.shape[:2] != size or frame.dtype != np.uint8:
                    raise ValueError(f"frame {count} is {frame.shape} {frame.dtype}, not {size}")
                if frame.shape[0] % 2 or frame.shape[1] % 2:
                    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
                    frame = np.pad(frame, pad, mode="edge")
                out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                out.pts = count
                out.time_base = video.codec_context.time_base
                target.mux(video.encode(out))
                count += 1
                if progress is not None:
                    progress(count)
            if count == 0:
                raise ValueError("no frames to write")
            target.mux(video.encode(None))
            if sound is not None:
                pcm = np.asarray(audio, dtype=np.int16).reshape(1, -1)
                chunk = 1024 * 8
                for start in range(0, pcm.shape[1], chunk):
                    piece = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(pcm[:, start : start + chunk]),
                        format="s16",
                        layout="mono",
                    )
                    piece.sample_rate = int(sample_rate)
                    piece.pts = start
                    piece.time_base = Fraction(1, int(sample_rate))
                    target.mux(sound.encode(piece))
                target.mux(sound.encode(None))
        return probe(dst, max_duration=None, max_pixels=None)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def read_audio(path: str | os.PathLike[str], sample_rate: int = 44_100) -> np.ndarray | None:
    """The first audio stream of a media file as mono int16 at `sample_rate`, or None."""
    import av

    with av.open(str(path), metadata_errors="replace") as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        pieces = []
        try:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            pass  # keep what decoded: the picture matters more than a damaged sound track
    return np.concatenate(pieces).astype(np.int16) if pieces else None
