"""Studio test media made from the celebrity photos, and small helpers for the studio API."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support import DATASET, MODEL_DIR, ROOT, create_user, login

GESTURES = ROOT / "tests" / "data" / "gestures"

FINISHED = {"done", "failed", "cancelled"}
STUDIO_EMAIL = "pix@example.com"
OTHER_EMAIL = "other@example.com"
PASSWORD = "correct-horse-battery"


def photo(person: str, index: int = 0, split: str = "val") -> np.ndarray:
    """One celebrity photo as RGB."""
    files = sorted((DATASET / split / person).iterdir())
    return np.asarray(Image.open(files[index]).convert("RGB"))


def two_people(width: int = 640, height: int = 360) -> np.ndarray:
    """A scene with two people side by side on a grey background (the left one larger)."""
    scene = np.full((height, width, 3), 120, dtype=np.uint8)
    left = Image.fromarray(photo("ben_afflek", 1)).resize((300, 300))
    right = Image.fromarray(photo("mindy_kaling", 0)).resize((220, 220))
    canvas = Image.fromarray(scene)
    canvas.paste(left, (20, 30))
    canvas.paste(right, (380, 70))
    return np.asarray(canvas)


def still_head(name: str, size: int) -> Image.Image:
    """A square around the head of a rendered person (not a real person, never enrolled)."""
    still = Image.open(GESTURES / "stills" / f"{name}.jpg").convert("RGB")
    return still.crop((200, 120, 420, 340)).resize((size, size))


def enrolled_and_strangers() -> np.ndarray:
    """A 640x360 scene: a large rendered stranger (the main subject), an enrolled employee (Ben
    Affleck, smaller) and a small rendered bystander."""
    canvas = Image.fromarray(np.full((360, 640, 3), 120, dtype=np.uint8))
    canvas.paste(still_head("v3_waist_standby", 300), (10, 30))
    canvas.paste(Image.fromarray(photo("ben_afflek", 1)).resize((150, 150)), (330, 30))
    canvas.paste(still_head("v1_waist_standby", 150), (480, 190))
    return np.asarray(canvas)


def encode(rgb: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    """An image's bytes in `fmt`."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int = 10,
    codec: str = "libx264",
    container_format: str | None = None,
    audio: bool = False,
) -> Path:
    """Encode RGB frames (even sizes) into a video file with PyAV."""
    import av

    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        audio_stream = container.add_stream("aac", rate=44100) if audio else None
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            samples = int(44100 * len(frames) / fps)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 44100)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
            frame.sample_rate = 44100
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
    return path


def scene_frames(count: int, width: int = 320, height: int = 240) -> list[np.ndarray]:
    """A small clip: the two-people scene, drifting a few pixels a frame."""
    base = np.asarray(Image.fromarray(two_people()).resize((width + 40, height)))
    return [np.ascontiguousarray(base[:, i % 40 : i % 40 + width]) for i in range(count)]


def audio_only_mp4(path: Path) -> Path:
    """An MP4 holding only an audio stream."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        tone = np.zeros((1, 44100), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def top_level_boxes(data: bytes) -> list[str]:
    """The order of an MP4's top-level boxes (to check `moov` comes before `mdat`)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def studio_client(app, email: str = STUDIO_EMAIL):
    """A test client logged in as a (new) studio user."""
    create_user(app, email, PASSWORD, role="studio")
    return login(app.test_client(), email, PASSWORD)


def make_token(app, email: str) -> str:
    """A personal API token for `email` made through `flask users token`."""
    result = app.test_cli_runner().invoke(args=["users", "token", email, "--name", "tests"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def bearer(token: str) -> dict:
    """The header that carries a personal API token."""
    return {"Authorization": f"Bearer {token}"}


def wait_for(client, url: str, headers: dict, done, timeout: float = 120.0, seen=None) -> dict:
    """Poll a JSON URL until `done(body)`; `seen` collects every (status, progress) observed."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers=headers).get_json()
        if seen is not None and (
            not seen or seen[-1] != (body.get("status"), body.get("progress"))
        ):
            seen.append((body.get("status"), body.get("progress")))
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on {url}: {body}")
        time.sleep(0.05)


def finished(body: dict) -> bool:
    """True once a job's status will not change by itself."""
    return body["status"] in FINISHED


class Worker:
    """A `flask studio worker` process on the test instance; its output goes to a log file."""

    def __init__(self, instance: Path, name: str, **settings) -> None:
        self.log = instance / f"{name}.log"
        env = {
            **{key: value for key, value in os.environ.items() if key != "REDIS_URL"},
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
            "MODEL_DIR": str(MODEL_DIR),
            "MEDIA_DIR": str(instance / "media"),
            "STUDIO_HEARTBEAT_SECONDS": "1",
            "STUDIO_STALE_SECONDS": "30",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **{key: str(value) for key, value in settings.items()},
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "studio", "worker", "--threads", "2"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while "taking jobs from" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def studio_with_worker(tmp_path_factory, migrated_db, name: str, timeout: float = 600.0):
    """A fresh instance with a studio user and a running worker: `{"app", "token", "worker"}`."""
    from tests.conftest import _app_from

    instance = tmp_path_factory.mktemp(f"studio-{name}") / "instance"
    app = _app_from(instance, migrated_db)
    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    worker = Worker(instance, f"worker-{name}")
    try:
        worker.wait_ready(timeout)  # a busy CPU can take minutes to load the models
        yield {"app": app, "token": make_token(app, STUDIO_EMAIL), "worker": worker}
    finally:
        worker.stop()
