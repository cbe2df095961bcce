"""Kiosk benchmark: frame time, time to a recorded check-in, and concurrent kiosks on gunicorn.

1. One kiosk frame (640x480 JPEG, one person) through recognition + pose + the check-in flow,
   server time through the real app in-process (Flask test client, as bench/recognition.py does),
   with the rendered people v1 and v2 of tests/data/gestures enrolled from their enroll/ photos;
   then recognition, pose and the gesture rules alone on the same frames (registry models).
2. From stepping up to a recorded check-in: the fewest frames the flow needs (identify + capture
   hold + O hold) at the kiosk's frame rate, computed, and measured by replaying those frames
   through a real gunicorn with a client paced like static/kiosk/kiosk.js.
3. N concurrent kiosks (each its own token, session, thread and HTTP connection) replaying
   standby -> capture -> O -> a blank frame as fast as answers come back, for a bounded time,
   against gunicorn (WEB_CONCURRENCY=2) on 127.0.0.1; every completed check-in the clients saw
   is matched against the rows in the server's database: none may be lost or duplicated.

The challenge is fixed to capture-then-O (KIOSK_CHALLENGE); KIOSK_HOLD_FRAMES and KIOSK_FPS stay
at their defaults, KIOSK_HOLD_MS is 0 (frames are replayed back to back). Run with
`.venv/bin/python bench/kiosk.py` (also part of `make bench`).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, line, pct  # noqa: E402
from bench.served import parse_server_timing  # noqa: E402
from ml.images import decode_image  # noqa: E402

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
GESTURES = ROOT / "tests" / "data" / "gestures"
PEOPLE = (("v1", "Victor One"), ("v2", "Vera Two"))
CHALLENGE = "capture,O"
IDENTIFY_FRAMES = 2  # flow.FlowSettings.identify_frames
ROUNDS = 6  # in-process check-in sequences (alternating v1, v2)
PACED_RUNS = 4  # paced check-ins through gunicorn
KIOSK_COUNTS = (1, 2, 4)
LOAD_SECONDS = 20.0  # per kiosk count; a sequence under way when time is up is finished
WORKERS = 2
# Each completed sequence must record its own event: no result hold-off, no duplicate window.
# Frames are replayed back to back, so a hold is KIOSK_HOLD_FRAMES frames (no minimum time): the
# figures are the protocol's cost per frame, not a person's hold time.
SERVER_SETTINGS = {
    "KIOSK_CHALLENGE": CHALLENGE,
    "KIOSK_RESULT_SECONDS": "0",
    "DUPLICATE_WINDOW_SECONDS": "0",
    "KIOSK_HOLD_MS": "0",
}


def still(person: str, gesture: str) -> bytes:
    """A waist-framed rendered still of a person doing a gesture."""
    return (GESTURES / "stills" / f"{person}_waist_{gesture}.jpg").read_bytes()


def blank_frame() -> bytes:
    """An empty 640x480 frame: the person has stepped away."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 200, 190)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def check_in_sequence(person: str, hold: int) -> list[tuple[str, bytes]]:
    """The fewest frames of one check-in: identify, capture held, O held (label, JPEG)."""
    return (
        [("standby", still(person, "standby"))] * IDENTIFY_FRAMES
        + [("capture", still(person, "capture"))] * hold
        + [("O", still(person, "O"))] * hold
    )


# -- 1. in-process ----------------------------------------------------------------------------


@dataclass
class InProcess:
    """What the in-process part measured, and the tokens it registered for the server parts."""

    frame: list[float] = field(default_factory=list)  # person frames, whole request
    acting: list[float] = field(default_factory=list)  # frames that save the proof / the event
    blank: list[float] = field(default_factory=list)
    decode: list[float] = field(default_factory=list)
    recognition: list[float] = field(default_factory=list)
    pose: list[float] = field(default_factory=list)
    rules: list[float] = field(default_factory=list)
    checked_in: int = 0
    hold: int = 0
    fps: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    load_s: float = 0.0


def in_process(instance: Path) -> InProcess:
    """Enroll v1 and v2, time kiosk frames through the app, then the models alone."""
    from flask_migrate import upgrade

    from ml.gestures import classify_rules
    from webapp import create_app
    from webapp.attendance.services import create_kiosk
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.recognition.services import recognize
    from webapp.registry import current_models

    out = InProcess()
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench",
            "MODEL_DIR": str(MODEL_DIR),
            "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
            "MEDIA_DIR": str(instance / "media"),
            "KIOSK_CHALLENGE": CHALLENGE,
            "KIOSK_RESULT_SECONDS": 0.0,
            "DUPLICATE_WINDOW_SECONDS": 0,
            "KIOSK_HOLD_MS": 0,
        }
    )
    out.hold, out.fps = app.config["KIOSK_HOLD_FRAMES"], app.config["KIOSK_FPS"]
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        current_models().load()
        out.load_s = time.perf_counter() - started
        for person, name in PEOPLE:
            employee = create_employee(name)
            photos = sorted((GESTURES / "enroll" / person).glob("*.jpg"))
            report = enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
            assert len(report.enrolled) == len(photos), report.rejected
        names = ["inprocess", "paced", "warmup"]
        names += [f"load-{n}-{i}" for n in KIOSK_COUNTS for i in range(n)]
        out.tokens = {name: create_kiosk(f"bench-{name}")[1] for name in names}

    client = app.test_client()
    headers = {"X-Kiosk-Token": out.tokens["inprocess"]}
    session = client.post("/api/v1/kiosk/sessions", headers=headers).json["session_id"]
    blank = blank_frame()

    def post(data: bytes) -> tuple[dict, float]:
        started = time.perf_counter()
        response = client.post(
            f"/api/v1/kiosk/sessions/{session}/frames",
            data={"frame": (io.BytesIO(data), "frame.jpg")},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.json
        return response.json, elapsed

    post(blank)  # first request: lazy imports, classifier cache
    for index in range(ROUNDS):
        person = PEOPLE[index % len(PEOPLE)][0]
        view = {}
        sequence = check_in_sequence(person, out.hold)
        for position, (_, data) in enumerate(sequence):
            view, elapsed = post(data)
            out.frame.append(elapsed)
            if position in (IDENTIFY_FRAMES + out.hold - 1, len(sequence) - 1):
                out.acting.append(elapsed)
        out.checked_in += view["phase"] == "done" and view["event"] is not None
        out.blank.append(post(blank)[1])  # step away

    with app.app_context():
        pose_model = current_models().get("pose")
        for _ in range(ROUNDS):
            for person, _ in PEOPLE:
                for gesture in ("standby", "capture", "O"):
                    data = still(person, gesture)
                    started = time.perf_counter()
                    rgb = decode_image(data)
                    out.decode.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    faces, _ = recognize(rgb, "kiosk")
                    out.recognition.append(time.perf_counter() - started)
                    assert faces and faces[0].employee_id is not None
                    started = time.perf_counter()
                    pose = pose_model.estimate(rgb)
                    out.pose.append(time.perf_counter() - started)
                    assert pose is not None
                    started = time.perf_counter()
                    classify_rules(pose.landmarks)
                    out.rules.append(time.perf_counter() - started)
        db.session.remove()
        db.engine.dispose()
    return out


# -- the real server --------------------------------------------------------------------------


class Server:
    """gunicorn on the benchmark's instance (already migrated and enrolled), 127.0.0.1 only."""

    def __init__(self, instance: Path, workers: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.instance, self.workers = instance, workers
        self.log_path = instance / "gunicorn.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "DUPLICATE_"))}
        self.env = {
            **env,
            **SERVER_SETTINGS,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": str(instance),
            "MODEL_DIR": str(MODEL_DIR),
            "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
            "MEDIA_DIR": str(instance / "media"),
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        self.process: subprocess.Popen | None = None
        self.ready_s = 0.0

    def __enter__(self) -> Server:
        venv = Path(sys.executable).parent
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(venv / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.perf_counter()
        try:
            while True:
                if self.process.poll() is not None or time.perf_counter() - started > 240:
                    raise RuntimeError(f"gunicorn did not get ready; see {self.log_path}")
                if self.log_path.read_text(errors="replace").count("models ready in") >= (
                    self.workers
                ):
                    break
                time.sleep(0.2)
        except BaseException:
            self.__exit__()
            raise
        self.ready_s = time.perf_counter() - started
        return self

    def problems(self) -> list[str]:
        """Log lines of errors the server wrote (tracebacks, locked database, worker timeouts)."""
        marks = ("Traceback", "database is locked", "WORKER TIMEOUT", "[ERROR]")
        text = self.log_path.read_text(errors="replace")
        return [row for row in text.splitlines() if any(mark in row for mark in marks)]

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


BOUNDARY = "kiosk-bench-boundary"


def multipart(data: bytes) -> bytes:
    """A multipart/form-data body with the frame in field `frame`, like the kiosk page sends."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="frame"; filename="frame.jpg"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


class KioskClient:
    """One kiosk: its token, its session and its own keep-alive HTTP connection."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token
        self.server_times: list[float] = []  # the app's own time per frame (Server-Timing)
        self.session = self.call("POST", "/api/v1/kiosk/sessions")[1]["session_id"]

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        """(status, JSON) of one request on this kiosk's connection."""
        self.connection.request(
            method, path, body=body, headers={"X-Kiosk-Token": self.token, **(headers or {})}
        )
        response = self.connection.getresponse()
        app_time = parse_server_timing(response.getheader("Server-Timing")).get("app")
        if app_time is not None and "/frames" in path:
            self.server_times.append(app_time)
        return response.status, json.loads(response.read() or b"{}")

    def send(self, body: bytes) -> tuple[int, dict, float]:
        """POST one frame (a prepared multipart body); (status, view, seconds)."""
        started = time.perf_counter()
        status, view = self.call(
            "POST",
            f"/api/v1/kiosk/sessions/{self.session}/frames",
            body,
            {
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        return status, view, time.perf_counter() - started

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def warm_up(port: int, token: str, bodies: list[bytes]) -> None:
    """Send frames from a few connections at once so every worker has run every model."""

    def run() -> None:
        client = KioskClient(port, token)
        for body in bodies:
            client.send(body)
        client.close()

    threads = [threading.Thread(target=run) for _ in range(2 * WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- 2. paced ---------------------------------------------------------------------------------


@dataclass
class PacedRun:
    """One paced check-in: seconds from the first frame to the answer carrying the event."""

    person: str
    seconds: float
    frames: int
    latencies: list[float]
    server: list[float] = field(default_factory=list)  # the app's time per frame


def paced(port: int, token: str, fps: int, hold: int) -> list[PacedRun]:
    """Replay the fewest frames of a check-in at `fps`, paced like static/kiosk/kiosk.js."""
    interval = 1.0 / fps
    client = KioskClient(port, token)
    blank = multipart(blank_frame())
    runs = []
    for index in range(PACED_RUNS):
        person = PEOPLE[index % len(PEOPLE)][0]
        frames = [multipart(data) for _, data in check_in_sequence(person, hold)]
        frames += [frames[-1]] * hold  # keep holding O if it has not counted yet
        latencies: list[float] = []
        first = time.perf_counter()
        seconds = float("nan")
        for body in frames:
            started = time.perf_counter()
            status, view, elapsed = client.send(body)
            latencies.append(elapsed)
            assert status == 200, view
            if view["phase"] == "done" and view["event"]:
                seconds = time.perf_counter() - first
                break
            time.sleep(max(0.0, interval - (time.perf_counter() - started)))
        server = client.server_times[-len(latencies) :]
        runs.append(PacedRun(person, seconds, len(latencies), latencies, server))
        for _ in range(2):  # step away before the next person
            started = time.perf_counter()
            client.send(blank)
            time.sleep(max(0.0, interval - (time.perf_counter() - started)))
    client.close()
    return runs


# -- 3. concurrent kiosks ---------------------------------------------------------------------


@dataclass
class KioskLoad:
    """What one kiosk of the load test saw."""

    name: str
    person: str
    latencies: list[float] = field(default_factory=list)
    sequences: int = 0
    completed: int = 0  # sequences whose answers included phase "done" with an event id
    event_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # non-200 answers
    incomplete: list[str] = field(default_factory=list)  # last phase/message of failed sequences
    stale: int = 0
    server: list[float] = field(default_factory=list)  # the app's time per frame


def kiosk_loop(
    port: int, token: str, load: KioskLoad, hold: int, go: threading.Barrier, deadline: list
) -> None:
    """Replay standby -> capture -> O -> blank until the deadline (checked between sequences)."""
    client = KioskClient(port, token)
    bodies = [multipart(data) for _, data in check_in_sequence(load.person, hold)]
    bodies.append(multipart(blank_frame()))
    go.wait()
    try:
        while time.perf_counter() < deadline[0]:
            load.sequences += 1
            done_ids = []
            last = {}
            for body in bodies:
                status, view, elapsed = client.send(body)
                load.latencies.append(elapsed)
                if status != 200:
                    load.errors.append(f"{status} {view.get('error')}: {view.get('message')}")
                    continue
                last = view
                load.stale += bool(view.get("stale"))
                if view["phase"] == "done" and view["event"]:
                    done_ids.append(view["event"]["id"])
            if done_ids:
                load.completed += 1
                load.event_ids.append(done_ids[0])
            else:
                load.incomplete.append(f"{last.get('phase')}/{last.get('message_code')}")
    finally:
        load.server = client.server_times
        client.close()


@dataclass
class LoadResult:
    """N kiosks for a bounded time."""

    kiosks: int
    seconds: float
    loads: list[KioskLoad]
    rows: dict[str, list[int]]  # kiosk name -> event ids in the database

    @property
    def frames(self) -> int:
        return sum(len(k.latencies) for k in self.loads)

    @property
    def latencies(self) -> list[float]:
        return [s for k in self.loads for s in k.latencies]

    @property
    def server(self) -> list[float]:
        return [s for k in self.loads for s in k.server]

    def lost(self) -> int:
        """Completed sequences without a database row of their own."""
        return sum(
            k.completed - len(set(k.event_ids) & set(self.rows.get(k.name, []))) for k in self.loads
        )

    def duplicated(self) -> int:
        """Database rows that no completed sequence accounts for."""
        return sum(
            len(self.rows.get(k.name, [])) - len(set(k.event_ids) & set(self.rows.get(k.name, [])))
            for k in self.loads
        )


def event_rows(db_file: Path) -> dict[str, list[int]]:
    """Attendance event ids per kiosk name, read straight from the server's SQLite file."""
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute(
            "SELECT k.name, e.id FROM attendance_events e JOIN kiosks k ON k.id = e.kiosk_id"
        ).fetchall()
    out: dict[str, list[int]] = {}
    for name, event_id in rows:
        out.setdefault(name.removeprefix("bench-"), []).append(event_id)
    return out


def concurrent(port: int, tokens: dict[str, str], count: int, hold: int, db_file) -> LoadResult:
    """`count` kiosks replaying check-ins as fast as answers come back for LOAD_SECONDS."""
    loads = [KioskLoad(f"load-{count}-{i}", PEOPLE[i % len(PEOPLE)][0]) for i in range(count)]
    go = threading.Barrier(count + 1)
    deadline = [float("inf")]
    threads = [
        threading.Thread(target=kiosk_loop, args=(port, tokens[k.name], k, hold, go, deadline))
        for k in loads
    ]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + LOAD_SECONDS
    started = time.perf_counter()
    go.wait()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 300)
    seconds = time.perf_counter() - started
    rows = event_rows(db_file)
    return LoadResult(count, seconds, loads, {k.name: rows.get(k.name, []) for k in loads})


# -- report -----------------------------------------------------------------------------------


def main() -> None:
    """Run every measurement and print a Markdown report."""
    if not GESTURES.is_dir():
        sys.exit(f"{GESTURES} is missing (tests/data/gestures is part of the repository)")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    instance = Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    keep = False
    try:
        first = in_process(instance)
        frames_needed = IDENTIFY_FRAMES + 2 * first.hold
        with Server(instance, WORKERS) as server:
            warm_bodies = [
                multipart(still(person, gesture))
                for person, _ in PEOPLE
                for gesture in ("standby", "capture", "O")
            ] + [multipart(blank_frame())]
            warm_up(server.port, first.tokens["warmup"], warm_bodies)
            runs = paced(server.port, first.tokens["paced"], first.fps, first.hold)
            results = [
                concurrent(server.port, first.tokens, n, first.hold, instance / "app.db")
                for n in KIOSK_COUNTS
            ]
            ready_s = server.ready_s
        problems = server.problems()
        keep = any(r.lost() or r.duplicated() for r in results)
    finally:
        if not keep:
            shutil.rmtree(instance, ignore_errors=True)

    out = [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"challenge {CHALLENGE}, KIOSK_HOLD_FRAMES {first.hold}, KIOSK_FPS {first.fps}",
        f"Load average (1/5/15 min) at start {' '.join(load_before)}, at end "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} (shared machine)",
        f"Models load in-process: {first.load_s:.1f} s; gunicorn ({WORKERS} workers) ready in "
        f"{ready_s:.1f} s",
        "",
        "| one kiosk frame 640x480, one person (ms) | p50 | p90 | n |",
        "|---|---|---|---|",
        line("POST .../frames: recognition + pose + flow (server, in-process)", first.frame),
        line(
            "… of which the capture frame that saves the proof photo, the O that records",
            first.acting,
        ),
        line("POST .../frames, blank frame (nobody there)", first.blank),
        line("decode JPEG", first.decode),
        line("recognition (detect + embed + classify)", first.recognition),
        line("pose (MediaPipe, frame margin)", first.pose),
        line("gesture rules", first.rules),
        "",
        f"In-process check-ins completed: {first.checked_in}/{ROUNDS}",
        "",
    ]
    frame_p50 = pct(first.frame, 50) / 1000
    computed = (frames_needed - 1) / first.fps + frame_p50
    measured = [r.seconds for r in runs]
    out += [
        f"Stepping up to recorded check-in: {frames_needed} frames "
        f"({IDENTIFY_FRAMES} identify + {first.hold} capture + {first.hold} O) at {first.fps} fps"
        f" = {frames_needed - 1} intervals of {1000 / first.fps:.0f} ms + the last frame "
        f"({frame_p50 * 1000:.0f} ms) = {computed:.2f} s computed; "
        f"+ up to {1 / first.fps:.2f} s until the first frame after stepping up",
        "Measured through gunicorn, client paced like kiosk.js: "
        + ", ".join(f"{r.person} {r.seconds:.2f} s ({r.frames} frames)" for r in runs)
        + f"; worst {max(measured):.2f} s; frame latency p50 "
        f"{pct([s for r in runs for s in r.latencies], 50):.0f} ms round trip, "
        f"{pct([s for r in runs for s in r.server], 50):.0f} ms in the app (Server-Timing)",
        "",
        f"| kiosks ({LOAD_SECONDS:.0f} s each, not paced) | frames/s | p50 ms | p99 ms "
        "| app p50 ms | sequences (completed) | events seen | DB rows | lost | duplicated "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        seen = sum(len(set(k.event_ids)) for k in r.loads)
        rows = sum(len(v) for v in r.rows.values())
        out.append(
            f"| {r.kiosks} | {r.frames / r.seconds:.2f} | {pct(r.latencies, 50):.0f} | "
            f"{pct(r.latencies, 99):.0f} | {pct(r.server, 50):.0f} | "
            f"{sum(k.sequences for k in r.loads)} "
            f"({sum(k.completed for k in r.loads)}) | {seen} | {rows} | {r.lost()} | "
            f"{r.duplicated()} | {sum(len(k.errors) for k in r.loads)} |"
        )
    for r in results:
        for k in r.loads:
            if k.errors or k.incomplete or k.stale:
                out.append(
                    f"- {k.name} ({k.person}): incomplete {k.incomplete[:5]}, stale {k.stale}, "
                    f"errors {k.errors[:3]}"
                )
    out.append(f"- server log: {len(problems)} error lines {problems[:3]}")
    if keep:
        out.append(f"- events lost or duplicated: instance kept at {instance}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
