"""Recognition benchmark: accuracy, stranger rejection and per-stage latency on this machine.

Enrolls the 5-celebrity train photos, names the val photos, leaves each person out in turn to
measure stranger rejection, times detect / embed / classify on the val photos and on 640x480
frames, times POST /api/v1/recognize in-process and through a real gunicorn over HTTP (1 and 4
clients: round trip, the worker's time from its access log, the app's stage times), and starts
gunicorn to measure cold start to ready and worker memory.
Run with `make bench` (or `.venv/bin/python bench/recognition.py`); RECOGNITION_VIEWS=box+landmarks
measures the two-view pipeline (in-process and in the served app alike), RECOGNITION_RUNTIME /
RECOGNITION_PRECISION another runtime, RECOGNITION_MODEL an operator's ONNX model;
`--open-set-only` stops after the operating point (no latency runs); `--latency-only` skips the
operating point and times the runtimes side by side (TensorFlow, OpenVINO f32 and bf16,
interleaved) and the served route.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_name, line, rss_mb  # noqa: E402
from bench.open_set import OpenSetData, evaluate  # noqa: E402
from ml.alignment import align_face  # noqa: E402
from ml.classifier import OpenSetClassifier  # noqa: E402
from ml.images import decode_image, encode_jpeg  # noqa: E402
from ml.population import population_mean  # noqa: E402
from ml.quality import assess  # noqa: E402
from ml.recognition import FaceAnalyzer  # noqa: E402

MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
GESTURES = ROOT / "tests" / "data" / "gestures"
THRESHOLD = float(os.environ.get("RECOGNITION_THRESHOLD", "0.45"))
VIEWS = os.environ.get("RECOGNITION_VIEWS", "box")
RUNTIME = os.environ.get("RECOGNITION_RUNTIME", "auto")
PRECISION = os.environ.get("RECOGNITION_PRECISION", "f32")
MODEL_FILE = os.environ.get("RECOGNITION_MODEL") or None  # an operator's ONNX model


def letterbox_640x480(rgb: np.ndarray) -> np.ndarray:
    """Fit a photo into a 640x480 frame, as a kiosk camera would deliver it."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(640 / w, 480 / h)
    resized = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))))
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    y, x = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
    frame[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return frame


def people_photos(split: str) -> list[tuple[str, Path]]:
    """(person, path) for every photo of a split."""
    return [
        (person.name, photo)
        for person in sorted((DATASET / split).iterdir())
        for photo in sorted(person.iterdir())
    ]


def strangers(analyzer) -> dict[str, np.ndarray]:
    """Embeddings of both sets of generated strangers (made once, then read from the cache)."""
    from ml.generator import load_generator
    from ml.strangers import (
        HELD_OUT_SEEDS,
        STRANGER_SEEDS,
        generated_stranger_embeddings,
        stranger_cache,
    )

    generator = load_generator(MODEL_DIR, "cpu")
    sets = {}
    for label, seeds in (
        ("70000-70239 (tuned on)", STRANGER_SEEDS),
        ("80000-80239 (held out)", HELD_OUT_SEEDS),
    ):
        cache = stranger_cache(analyzer, generator, seeds)
        sets[label] = generated_stranger_embeddings(analyzer, generator, seeds, cache=cache)
    return sets


def stage_times(analyzer, classifier, images, preset):
    """Time detect / embed / classify for each image."""
    detect, embed, classify = [], [], []
    for rgb in images:
        timings: dict = {}
        faces = analyzer.analyze(rgb, preset, timings)
        started = time.perf_counter()
        if faces:
            classifier.predict(np.stack([f.embedding for f in faces]))
        classify.append(time.perf_counter() - started)
        detect.append(timings["detect"])
        embed.append(timings["embed"])
    return detect, embed, classify


def runtime_table(frames: list[np.ndarray], rounds: int = 3) -> list[str]:
    """Kiosk detect and FaceNet per 640x480 frame on each runtime, interleaved: Markdown rows.

    Each frame goes through every runtime in turn, so load changes hit them all alike; also the
    largest difference of the embeddings from TensorFlow's (cosine) and the faces found."""
    runtimes = {
        "TensorFlow (Keras reference)": ("tensorflow", "f32"),
        "OpenVINO f32": ("openvino", "f32"),
        "OpenVINO bf16": ("openvino", "bf16"),
    }
    analyzers = {
        label: FaceAnalyzer.from_model_dir(MODEL_DIR, runtime=rt, views=VIEWS, precision=pr)
        for label, (rt, pr) in runtimes.items()
    }
    times = {label: ([], []) for label in analyzers}
    agreement = {label: [] for label in analyzers}
    for _ in range(rounds):
        for rgb in frames:
            reference = None
            for label, analyzer in analyzers.items():
                timings: dict = {}
                faces = analyzer.analyze(rgb, "kiosk", timings)
                times[label][0].append(timings["detect"])
                times[label][1].append(timings["embed"])
                if faces:
                    if reference is None:
                        reference = faces[0].embedding
                    agreement[label].append(float(faces[0].embedding @ reference))
    rows = [
        f"Runtimes side by side ({len(frames)} frames x {rounds}, interleaved; load "
        f"{os.getloadavg()[0]:.1f} at the end):",
        "",
        "| runtime | detect p50 ms | embed p50 ms | detect + embed p50 ms | "
        "lowest cosine to TensorFlow's embedding |",
        "|---|---|---|---|---|",
    ]
    for label, (detect, embed) in times.items():
        total = [a + b for a, b in zip(detect, embed, strict=True)]
        rows.append(
            f"| {label} | {np.median(detect) * 1000:.1f} | {np.median(embed) * 1000:.1f} | "
            f"{np.median(total) * 1000:.1f} | {min(agreement[label], default=float('nan')):.5f} |"
        )
    return rows


def api_server_times(frames: list[np.ndarray], rounds: int = 3) -> list[float]:
    """Server-side time of POST /api/v1/recognize through the real app (in-process WSGI)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.attendance.services import create_kiosk
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.registry import current_models

    instance = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        app = create_app(
            {
                "INSTANCE_PATH": str(instance),
                "SECRET_KEY": "bench",
                "MODEL_DIR": str(MODEL_DIR),
                "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
                "MEDIA_DIR": str(instance / "media"),
            }
        )
        with app.app_context():
            upgrade()
            current_models().load()
            for person in sorted((DATASET / "train").iterdir()):
                employee = create_employee(person.name)
                photos = sorted(person.iterdir())[:5]
                enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
            token = create_kiosk("bench")[1]
        client = app.test_client()
        bodies = [encode_jpeg(frame, 90) for frame in frames]
        times = []
        for _ in range(rounds):
            for body in bodies:
                import io

                started = time.perf_counter()
                response = client.post(
                    "/api/v1/recognize",
                    data={"image": (io.BytesIO(body), "frame.jpg")},
                    headers={"X-Kiosk-Token": token},
                )
                times.append(time.perf_counter() - started)
                assert response.status_code in (200, 422), response.json
        return times
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def served_times(frames: list[np.ndarray], clients: tuple[int, ...] = (1, 4)) -> list[str]:
    """POST /api/v1/recognize through a real gunicorn (1 worker) over HTTP: Markdown rows.

    For each number of clients (each on its own keep-alive connection, posting back to back):
    the round trip the client saw, the worker's own request time (gunicorn access log) and the
    app's stage times (Server-Timing), with the load average while it ran.
    """
    from bench.served import ServedApp

    bodies = [encode_jpeg(frame, 90) for frame in frames]
    rows = []
    with ServedApp(workers=1) as app:
        app.post_frames("/api/v1/recognize", "image", bodies, 2, 1)  # warm every thread
        for count in clients:
            before = len(app.access_times("/api/v1/recognize"))
            load_before = os.getloadavg()[0]
            samples = app.post_frames("/api/v1/recognize", "image", bodies, count, 2)
            load_after = os.getloadavg()[0]
            server = app.access_times("/api/v1/recognize")[before:]
            assert all(s.status == 200 for s in samples), {s.status for s in samples}
            label = (
                f"{count} client{'s' if count > 1 else ''}, load {load_before:.1f}-{load_after:.1f}"
            )
            rows.append(
                line(f"HTTP via gunicorn, {label}: round trip", [s.round_trip for s in samples])
            )
            rows.append(line(f"HTTP via gunicorn, {label}: server (access log)", server))
            for stage in ("decode", "detect", "embed", "classify", "app"):
                values = [s.stages[stage] for s in samples if stage in s.stages]
                rows.append(line(f"HTTP via gunicorn, {label}: app stage {stage}", values))
    return rows


def gunicorn_cold_start() -> tuple[float, float]:
    """Start gunicorn with one worker; return (seconds to /healthz 200, worker RSS in MB)."""
    instance = Path(tempfile.mkdtemp(prefix="bench-gunicorn-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "SECRET_KEY": "bench",
        "MODEL_DIR": str(MODEL_DIR),
        "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
        "MEDIA_DIR": str(instance / "media"),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    venv = Path(sys.executable).parent
    subprocess.run(
        [str(venv / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    log = open(instance / "gunicorn.log", "w")  # noqa: SIM115  (closed in finally)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(venv / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - started < 180:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        ready = time.perf_counter() - started
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        worker_rss = rss_mb(children[0]) if children else float("nan")
        return ready, worker_rss
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(instance, ignore_errors=True)


def main() -> None:
    """Run every measurement and print a Markdown report."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-set-only", action="store_true", help="skip the latency runs")
    parser.add_argument(
        "--latency-only", action="store_true", help="runtimes side by side and the served route"
    )
    args = parser.parse_args()
    if args.latency_only:
        latency_only()
        return
    out = []
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    analyzer = FaceAnalyzer.from_model_dir(
        MODEL_DIR, runtime=RUNTIME, views=VIEWS, precision=PRECISION, model_file=MODEL_FILE
    )
    center = population_mean(analyzer.version)
    load_s = time.perf_counter() - started
    load_rss = rss_mb()

    embeddings, labels, names = [], [], []
    enroll_started = time.perf_counter()
    skipped = 0
    groups: list[int] = []
    photo_ok: dict[int, bool] = {}
    for person, photo in people_photos("train"):
        rgb = decode_image(photo.read_bytes())
        try:
            face, templates = analyzer.enrollment_templates(rgb)
        except ValueError:
            skipped += 1
            continue
        if person not in names:
            names.append(person)
        photo_ok[len(photo_ok)] = assess(face, align_face(rgb, face)).ok
        embeddings += [emb for _, emb in templates]
        labels += [names.index(person)] * len(templates)
        groups += [len(photo_ok) - 1] * len(templates)
    enroll_s = time.perf_counter() - enroll_started
    x, y = np.stack(embeddings), np.array(labels)

    val = people_photos("val")
    val_rgb = [decode_image(p.read_bytes()) for _, p in val]
    val_emb = np.stack([analyzer.analyze(rgb)[0].embedding for rgb in val_rgb])
    val_y = np.array([names.index(person) for person, _ in val])

    classifier = OpenSetClassifier.fit(x, y, THRESHOLD, groups=np.array(groups), center=center)
    matches = classifier.predict(val_emb)
    correct = sum(m.label == t for m, t in zip(matches, val_y, strict=True))
    known_sims = [m.similarity for m in matches]

    rejected = stranger_total = accepted = known_total = 0
    stranger_sims = []
    for left_out in range(len(names)):
        keep = y != left_out
        loo = OpenSetClassifier.fit(
            x[keep], y[keep], THRESHOLD, groups=np.array(groups)[keep], center=center
        )
        for m in loo.predict(val_emb[val_y == left_out]):
            stranger_total += 1
            rejected += not m.known
            stranger_sims.append(m.similarity)
        for m, t in zip(
            loo.predict(val_emb[val_y != left_out]), val_y[val_y != left_out], strict=True
        ):
            known_total += 1
            accepted += m.label == t

    rendered = [
        found[0].embedding
        for path in sorted((GESTURES / "enroll").rglob("*.jpg"))
        if (found := analyzer.analyze(decode_image(path.read_bytes())))
    ]
    open_set = evaluate(
        OpenSetData(
            x,
            y,
            np.array(groups),
            photo_ok,
            val_emb,
            val_y,
            np.stack(rendered) if rendered else np.zeros((0, 128), np.float32),
            strangers(analyzer),
            names,
            center,
        ),
        THRESHOLD,
        ROOT / "bench" / ("open_set.png" if VIEWS == "box" else "open_set_two_views.png"),
    )

    if args.open_set_only:
        print(f"Pipeline {analyzer.version}; load {load_at_start[0]:.1f} at the start")
        print(f"Val accuracy: {correct}/{len(val)}")
        print("\n".join(open_set))
        return
    frames = [letterbox_640x480(rgb) for rgb in val_rgb]
    stills = sorted((GESTURES / "stills").glob("*_waist_*.jpg")) if GESTURES.is_dir() else []
    kiosk_frames = [decode_image(p.read_bytes()) for p in stills]

    photo_stages = stage_times(analyzer, classifier, val_rgb, "photo")
    frame_stages = stage_times(analyzer, classifier, frames * 2, "kiosk")
    kiosk_stages = stage_times(analyzer, classifier, kiosk_frames * 2, "kiosk") if stills else None
    api_times = api_server_times(frames)
    served_rows = served_times(frames)
    cold_s, worker_rss = gunicorn_cold_start()

    out.append(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; threshold {THRESHOLD}; pipeline "
        f"{analyzer.version} on {analyzer.runtime}; load average "
        f"{load_at_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    out.append(f"Model load in-process: {load_s:.1f} s, RSS after load {load_rss:.0f} MB")
    out.append(
        f"Enroll train: {len(x)} templates from {len(set(labels))} people "
        f"({skipped} photos refused), {enroll_s:.1f} s"
    )
    out.append(f"Val accuracy: {correct}/{len(val)}; lowest known similarity {min(known_sims):.3f}")
    out.append(
        f"Leave-one-person-out: strangers rejected {rejected}/{stranger_total} "
        f"(highest stranger similarity {max(stranger_sims):.3f}); "
        f"knowns accepted {accepted}/{known_total}"
    )
    out.append("")
    out.extend(open_set)
    out.append("")
    out.append("| stage (ms) | p50 | p90 | n |")
    out.append("|---|---|---|---|")
    for title, stages in (
        ("val photos, photo detector", photo_stages),
        ("val photos in 640x480 frames, kiosk detector", frame_stages),
        ("rendered kiosk frames 640x480, kiosk detector", kiosk_stages),
    ):
        if stages is None:
            continue
        for stage, values in zip(("detect", "embed", "classify"), stages, strict=True):
            out.append(line(f"{title}: {stage}", values))
    out.append(line("POST /api/v1/recognize 640x480 (server, in-process)", api_times))
    out.extend(served_rows)
    out.append("")
    out.append(
        f"gunicorn cold start to /healthz 200 (1 worker): {cold_s:.1f} s; "
        f"worker RSS when ready {worker_rss:.0f} MB"
    )
    print("\n".join(out))


def latency_only() -> None:
    """The runtimes side by side in-process, then the served route: printed as Markdown."""
    load_at_start = os.getloadavg()[0]
    frames = [letterbox_640x480(decode_image(p.read_bytes())) for _, p in people_photos("val")]
    out = [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores; served with RECOGNITION_RUNTIME="
        f"{RUNTIME}, RECOGNITION_PRECISION={PRECISION}; load {load_at_start:.1f} at the start",
        "",
    ]
    out.extend(runtime_table(frames))
    out.append("")
    out.append("| stage (ms) | p50 | p90 | n |")
    out.append("|---|---|---|---|")
    out.extend(served_times(frames))
    out.append(f"Load {os.getloadavg()[0]:.1f} at the end")
    print("\n".join(out))


if __name__ == "__main__":
    main()
