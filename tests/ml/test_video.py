"""Tests for ml.video: probe, transform_video (H.264, faststart, audio, tags) and FaceTracker."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ml.images import decode_image
from ml.video import FaceTracker, MediaError, iter_frames, probe, transform_video

CANVAS = (640, 360)


def make_video(
    path: Path,
    faces: list[np.ndarray],
    seconds: float = 2.0,
    fps: int = 12,
    size: tuple[int, int] = CANVAS,
    audio: str | None = "aac",
    video_codec: str = "libx264",
    container_format: str | None = None,
    rotation: int | None = None,
    face_height: int = 200,
) -> Path:
    """A real video: each photo pans across a grey canvas; a 440 Hz sine as the sound track."""
    width, height = size
    frames = round(seconds * fps)
    patches = [
        cv2.resize(face, (round(face.shape[1] * face_height / face.shape[0]), face_height))
        for face in faces
    ]
    with av.open(str(path), "w", format=container_format) as container:
        video = container.add_stream(video_codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            rate = 48_000 if audio == "libopus" else 44_100
            sound = container.add_stream(audio, rate=rate)
            sound.layout = "mono"
        lane = width // max(1, len(patches))
        for index in range(frames):
            canvas = np.full((height, width, 3), 96, dtype=np.uint8)
            for k, patch in enumerate(patches):
                ph, pw = patch.shape[:2]
                travel = max(0, lane - pw)
                x = k * lane + round(travel * index / max(1, frames - 1))
                y = (height - ph) // 2
                canvas[y : y + ph, x : x + min(pw, width - x)] = patch[:, : width - x]
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples = round(sound.rate * frames / fps)
            t = np.arange(samples) / sound.rate
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(wave[:, start : start + 1024]), format="flt", layout="mono"
                )
                chunk.sample_rate, chunk.pts = sound.rate, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def top_level_atoms(path: Path) -> list[str]:
    """The top-level MP4 box types, in file order."""
    data = path.read_bytes()
    atoms, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return atoms


@pytest.fixture(scope="module")
def faces(dataset) -> list[np.ndarray]:
    """Two real photos (val) to pan across the canvas."""
    files = [sorted((dataset / "val" / who).glob("*.jpg"))[1] for who in ("ben_afflek", "madonna")]
    return [decode_image(f.read_bytes()) for f in files]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, faces) -> Path:
    """2 s of 640x360 at 12 fps, H.264 + AAC, moov at the end (no faststart)."""
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", faces)


def test_probe_reads_a_real_video(clip):
    info = probe(clip)
    assert (info.width, info.height, info.frames, info.fps) == (640, 360, 24, 12.0)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.codec == "h264" and info.rotation == 0
    assert top_level_atoms(clip).index("mdat") < top_level_atoms(clip).index("moov")


def test_transform_video_round_trip(clip, tmp_path):
    seen: list[int] = []
    progress: list[float] = []

    def mark(rgb: np.ndarray, index: int) -> np.ndarray:
        seen.append(index)
        out = rgb.copy()
        out[:20, :20] = (255, 0, 0)  # a red corner: proof that fn's frames are the ones encoded
        return out

    out = tmp_path / "out.mp4"
    info = transform_video(
        clip, out, mark, progress.append, metadata={"comment": "synthetic: test", "effect": "x"}
    )
    assert seen == list(range(24))
    assert info.frames == 24 and (info.width, info.height) == (640, 360)
    assert info.has_audio and info.tags["comment"] == "synthetic: test"
    assert info.tags["effect"] == "x"
    assert progress == sorted(progress) and progress[-1] == 1.0
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # faststart
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.audio[0].duration * container.streams.audio[0].time_base > 1.9
    originals = list(iter_frames(clip))
    for before, after in zip(originals, iter_frames(out), strict=True):
        assert after[5, 5, 0] > 200 and after[5, 5, 1] < 60  # the red corner
        assert cv2.PSNR(before[40:, 40:], after[40:, 40:]) > 32  # the rest: the same picture


def test_webm_with_odd_size_and_opus_becomes_even_h264_with_aac(faces, tmp_path):
    src = make_video(
        tmp_path / "odd.webm",
        faces[:1],
        seconds=1.0,
        size=(321, 241),
        audio="libopus",
        video_codec="libvpx-vp9",
        face_height=150,
    )
    assert probe(src).codec == "vp9"
    info = transform_video(src, tmp_path / "even.mp4", lambda rgb, i: rgb)
    assert (info.width, info.height) == (322, 242)  # yuv420p needs even sides
    assert info.frames == 12 and info.has_audio
    with av.open(str(tmp_path / "even.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_phone_rotation_is_applied_before_the_effect(faces, tmp_path):
    src = make_video(
        tmp_path / "phone.mov", faces[:1], seconds=0.5, audio=None, container_format="mov",
        rotation=-90, size=(320, 240), face_height=150,
    )  # fmt: skip
    info = probe(src)
    assert info.rotation == 90 and (info.width, info.height) == (240, 320)
    shapes = set()
    result = transform_video(
        src, tmp_path / "upright.mp4", lambda rgb, i: shapes.add(rgb.shape) or rgb
    )
    assert shapes == {(320, 240, 3)}
    assert (result.width, result.height, result.rotation) == (240, 320, 0)


def test_an_effect_returning_a_wrong_frame_fails_and_leaves_no_file(clip, tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="frame 0"):
        transform_video(clip, out, lambda rgb, i: rgb[:100])
    assert not out.exists()


def test_probe_refuses_a_text_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError) as error:
        probe(path)
    assert error.value.code == "corrupt_video"


def test_probe_refuses_an_audio_only_file(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44_100)
        sound.layout = "mono"
        for k in range(20):
            chunk = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="flt", layout="mono"
            )
            chunk.sample_rate, chunk.pts = 44_100, k * 1024
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    with pytest.raises(MediaError) as error:
        probe(path)
    assert error.value.code == "no_video_stream"


def test_probe_refuses_truncated_mp4s(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"  # moov at the end: the index is gone
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as error:
        probe(cut)
    assert error.value.code == "corrupt_video"
    faststart = tmp_path / "faststart.mp4"
    transform_video(clip, faststart, lambda rgb, i: rgb)
    data = faststart.read_bytes()
    cut_fast = tmp_path / "cut_fast.mp4"  # index intact, half of the frames' data missing
    cut_fast.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as error:
        probe(cut_fast)
    assert error.value.code == "corrupt_video"  # "cut short", or damaged where the cut falls


def test_probe_refuses_an_mp4_with_zero_frames(tmp_path):
    path = tmp_path / "empty.mp4"
    # A fragmented MP4 writes its (empty) video track up front, and no fragment follows.
    with av.open(
        str(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as c:
        video = c.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        c.start_encoding()
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1  # the stream is there...
    with pytest.raises(MediaError) as error:
        probe(path)
    assert error.value.code == "no_frames"  # ...with no frame in it


def test_probe_limits(clip):
    with pytest.raises(MediaError) as error:
        probe(clip, max_duration=1.0)
    assert error.value.code == "video_too_long"
    with pytest.raises(MediaError) as error:
        probe(clip, max_pixels=320 * 240)
    assert error.value.code == "video_too_large"


def test_tracker_keeps_ids_while_faces_move():
    tracker = FaceTracker()
    ids = None
    for step in range(10):
        boxes = [(10 + 8 * step, 50, 60, 70), (400 - 6 * step, 40, 80, 90)]
        tracks = tracker.update(boxes)
        now = [t.id for t in sorted(tracks, key=lambda t: t.index)]
        assert all(t.detected for t in tracks)
        ids = ids or now
        assert now == ids
    assert len(set(ids)) == 2


def test_tracker_coasts_through_a_missed_detection():
    tracker = FaceTracker(max_coast=5)
    for step in range(4):
        (first,) = tracker.update([(100 + 10 * step, 80, 64, 64)])
    # The detector misses the face in one frame: the track is still reported, moved on.
    (coasting,) = tracker.update([])
    assert coasting.id == first.id and not coasting.detected and coasting.index is None
    assert coasting.box[0] > 125  # moved on with its velocity (last box at x=130, -grow)
    (back,) = tracker.update([(150, 80, 64, 64)])
    assert back.id == first.id and back.detected and back.index == 0


def test_tracker_drops_a_track_after_max_coast_frames():
    tracker = FaceTracker(max_coast=2)
    (first,) = tracker.update([(100, 100, 50, 50)])
    assert len(tracker.update([])) == 1
    assert len(tracker.update([])) == 1
    assert tracker.update([]) == []  # third miss: gone
    (new,) = tracker.update([(100, 100, 50, 50)])
    assert new.id != first.id


def test_encode_video_writes_frames_an_effect_made(tmp_path):
    """Photo in, video out: frames made in memory become a playable H.264 MP4 with tags."""
    import av

    from ml.video import encode_video

    base = np.zeros((64, 96, 3), dtype=np.uint8)
    frames = [np.roll(base + np.uint8(40 + 10 * i), i, axis=1) for i in range(12)]
    info = encode_video(iter(frames), tmp_path / "made.mp4", 12.0, {"comment": "made here"})
    assert (info.width, info.height, info.frames) == (96, 64, 12)
    assert abs(info.duration - 1.0) < 0.1
    with av.open(str(tmp_path / "made.mp4")) as container:
        assert container.metadata.get("comment") == "made here"
        assert container.streams.video[0].codec_context.name == "h264"
    with pytest.raises(MediaError):
        encode_video(iter([]), tmp_path / "none.mp4", 12.0)
    with pytest.raises(MediaError):
        encode_video(iter([np.zeros((63, 96, 3), np.uint8)]), tmp_path / "odd.mp4", 12.0)
