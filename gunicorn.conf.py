"""Gunicorn settings; models load in each worker after the fork, never in the master."""

import os
import tempfile
import threading
import time
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 120
graceful_timeout = 30
preload_app = False  # TensorFlow must not be initialised in the master before fork
# One line per request is for debugging (a kiosk alone sends several a second); Nginx keeps the
# access log in production. ACCESS_LOG=1 turns it on here.
accesslog = "-" if os.environ.get("ACCESS_LOG", "").lower() in ("1", "true", "yes", "on") else None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Each worker leaves a file named after its pid here once its models are loaded (or failed);
# the master says "ready" once every live worker has one.
READY_DIR_ENV = "FACEPLATFORM_READY_DIR"


def when_ready(server):
    """In the master, before the workers start: watch for every worker to finish loading."""
    folder = Path(tempfile.mkdtemp(prefix="faceplatform-ready-"))
    os.environ[READY_DIR_ENV] = str(folder)  # inherited by the workers forked next
    threading.Thread(target=_announce_ready, args=(server, folder), daemon=True).start()


def post_worker_init(worker):
    """Start loading this worker's models in the background; /healthz says 503 until done."""
    app = worker.wsgi
    if app.config.get("LOG_LEVEL") != "DEBUG":
        from webapp.logs import filter_native_stderr

        filter_native_stderr()  # before the models load: TFLite/MediaPipe say harmless things
    registry = app.extensions["model_registry"]
    if app.config.get("LOAD_MODELS", True):
        registry.start_background_load()
    folder = os.environ.get(READY_DIR_ENV)
    if folder:

        def note_when_loaded():
            while not registry.wait(1.0) and not registry.error:
                pass
            text = f"error: {registry.error}" if registry.error else "ok"
            (Path(folder) / str(os.getpid())).write_text(text)

        threading.Thread(target=note_when_loaded, name="ready-note", daemon=True).start()


def _announce_ready(server, folder: Path) -> None:
    """Log one clear line when every live worker has loaded its models (again after a restart)."""
    announced: frozenset = frozenset()
    while True:
        time.sleep(0.5)
        pids = frozenset(server.WORKERS)
        if not pids or pids == announced or len(pids) < server.num_workers:
            continue
        notes = {pid: folder / str(pid) for pid in pids}
        if not all(note.exists() for note in notes.values()):
            continue
        failed = [pid for pid, note in notes.items() if note.read_text() != "ok"]
        if failed:
            server.log.error("worker(s) %s could not load their models; see above", failed)
        else:
            server.log.info(_ready_line())
        announced = pids


def _ready_line() -> str:
    host, _, port = bind.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
    url = f"http://{host}:{port}" if not bind.startswith("unix:") else bind
    admin = os.environ.get("ADMIN_EMAIL", "admin@example.com")
    return (
        f"ready: {url} — admin {url}/admin/ (log in as {admin}), kiosk {url}/kiosk, "
        f"API {url}/api/docs; Ctrl-C stops"
    )
