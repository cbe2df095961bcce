"""Gunicorn settings; models load in each worker after the fork, never in the master.

Graceful reload (new code or settings, no dropped requests): `kill -HUP <master pid>` starts new
workers, which load their models, and stops the old ones after their requests finish
(graceful_timeout). `kill -TERM` stops gracefully; `kill -QUIT` at once.
"""

import os
import tempfile
import threading
import time
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")

# Each worker holds its own copy of the models (FaceNet, MTCNN, pose, age/gender: ~1.2 GiB resident
# measured on CPU, see bench/RESULTS.md). Unless WEB_CONCURRENCY says otherwise, run as many as
# fit in WEB_MEMORY_BUDGET_MB (default: half of this machine's memory), at least 1, at most
# 2 x CPUs; threads serve more requests per worker without more model copies.
MODEL_MEMORY_MB = int(os.environ.get("WEB_WORKER_MEMORY_MB", "1300"))


def _memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):
        return 4096


def sized_workers() -> int:
    """Workers that fit the memory budget and the CPUs."""
    budget = int(os.environ.get("WEB_MEMORY_BUDGET_MB", str(_memory_mb() // 2)))
    return max(1, min(budget // MODEL_MEMORY_MB, 2 * (os.cpu_count() or 1)))


workers = int(os.environ.get("WEB_CONCURRENCY") or sized_workers())
worker_class = "gthread"
# Threads share one TensorFlow pool per worker (sized to the cores); see docs/recognition.md.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 120
graceful_timeout = 30
preload_app = False  # TensorFlow must not be initialised in the master before fork
# Recycle workers now and then (slow leaks in native libraries); jitter keeps them from all
# restarting at once. A recycled worker reloads its models while the others serve.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "500"))
# One line per request is for debugging (a kiosk alone sends several a second); Nginx keeps the
# access log in production. ACCESS_LOG=1 turns it on here.
accesslog = "-" if os.environ.get("ACCESS_LOG", "").lower() in ("1", "true", "yes", "on") else None
errorlog = "-"
# %(L)s: request time in seconds; %(M)s: in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Each worker leaves a file named after its pid here once its models are loaded (or failed);
# the master says "ready" once every live worker has one.
READY_DIR_ENV = "FACEPLATFORM_READY_DIR"


def when_ready(server):
    """In the master, before the workers start: watch for every worker to finish loading."""
    folder = Path(tempfile.mkdtemp(prefix="faceplatform-ready-"))
    os.environ[READY_DIR_ENV] = str(folder)  # inherited by the workers forked next
    threading.Thread(target=_announce_ready, args=(server, folder), daemon=True).start()


def on_starting(server):
    """Remove partial uploads a crash left behind before any worker writes new ones."""
    from webapp.media import clean_partials

    instance = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).parent / "instance")
    clean_partials(Path(os.environ.get("MEDIA_DIR") or instance / "media"))


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
