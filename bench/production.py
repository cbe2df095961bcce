"""Production stack under load and faults, loopback only: Nginx (HTTPS) -> gunicorn -> PostgreSQL.

1. N kiosks replay check-ins through Nginx over TLS for T seconds: frames/s, latency, and every
   completed check-in matched against the database (0 lost, 0 duplicated, 0 5xx expected).
2. kill -9 of one gunicorn worker in the middle of the load: what the kiosks saw (the request in
   flight on that worker, then the new worker answering 503 while it loads its models), and
   whether any check-in was lost or recorded twice.
3. The database stopped for 5 s in the middle of the load: the answers while it is down (503 with
   Retry-After, never 500) and the time until frames succeed again.
4. kill -9 of the studio worker while it runs a video job: a new worker takes the job again and
   finishes it with exactly one result.

Run: `.venv/bin/python bench/production.py` (needs nginx and PostgreSQL from Debian's packages,
`make system-test-deps`). Prints a Markdown report for bench/RESULTS.md.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT), str(ROOT / "scripts")]

import kiosk as kb  # noqa: E402  (bench/kiosk.py: frames, kiosk loops, gunicorn runner)
from common import cpu_name, pct  # noqa: E402
from pg_test_server import TemporaryPostgres, find_bin_dir  # noqa: E402

from tests.proxy import BEHIND_NGINX, NginxFront  # noqa: E402

KIOSKS = (2, 4)
LOAD_SECONDS = 30.0
FAULT_AT = 10.0  # seconds into a fault run
DB_DOWN_SECONDS = 5.0
WORKERS = 2
HOLD = 3  # KIOSK_HOLD_FRAMES at its default, as the server runs


class TlsKioskClient(kb.KioskClient):
    """bench/kiosk.py's kiosk client over HTTPS through Nginx; non-JSON answers (Nginx's 502
    page) are reported, not raised."""

    context: ssl.SSLContext | None = None

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=120, context=self.context
        )
        self.token = token
        self.session = None
        deadline = time.monotonic() + 300
        while self.session is None:  # a session even while the stack is recovering
            status, body = self.call("POST", "/api/v1/kiosk/sessions")
            self.session = body.get("session_id") if status == 201 else None
            if self.session is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no kiosk session: {status} {body}")
                time.sleep(0.5)

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        try:
            self.connection.request(
                method, path, body=body, headers={"X-Kiosk-Token": self.token, **(headers or {})}
            )
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            return 599, {"error": "connection", "message": str(exc)[:80]}
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {"error": "not_json", "message": data[:60].decode("latin-1")}


def prepare(instance: Path, database_url: str) -> dict[str, str]:
    """Migrate PostgreSQL, enroll v1 and v2 from their photos, register kiosks and a studio user;
    return the tokens by name."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.attendance.services import create_kiosk
    from webapp.auth.models import Role
    from webapp.auth.services import create_user
    from webapp.auth.tokens import create_token
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.registry import current_models

    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench",
            "MODEL_DIR": str(kb.MODEL_DIR),
            "DATABASE_URL": database_url,
            "MEDIA_DIR": str(instance / "media"),
        }
    )
    with app.app_context():
        upgrade()
        current_models().load()
        for person, name in kb.PEOPLE:
            employee = create_employee(name)
            photos = sorted((kb.GESTURES / "enroll" / person).glob("*.jpg"))
            enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
        names = [
            f"{run}-{i}" for run in ("load2", "load4", "web-kill", "db-stop") for i in range(4)
        ]
        tokens = {name: create_kiosk(f"bench-{name}")[1] for name in names}
        user = create_user("bench@example.com", "bench-password", Role.STUDIO)
        tokens["studio"] = create_token(user, "bench")[1]
        db.session.remove()
        db.engine.dispose()
    return tokens


def event_rows(database_url: str) -> dict[str, list[int]]:
    """Attendance event ids per kiosk name, read straight from PostgreSQL."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT k.name, e.id FROM attendance_events e JOIN kiosks k ON k.id = e.kiosk_id"
        ).fetchall()
    out: dict[str, list[int]] = {}
    for name, event_id in rows:
        out.setdefault(name.removeprefix("bench-"), []).append(event_id)
    return out


def load_run(
    port: int, tokens: dict, names: list[str], database_url: str, fault=None
) -> kb.LoadResult:
    """Kiosks `names` replay check-ins for LOAD_SECONDS; `fault()` runs FAULT_AT s in."""
    loads = [kb.KioskLoad(name, kb.PEOPLE[i % 2][0]) for i, name in enumerate(names)]
    go = threading.Barrier(len(loads) + 1)
    deadline = [float("inf")]
    threads = [
        threading.Thread(target=kb.kiosk_loop, args=(port, tokens[k.name], k, HOLD, go, deadline))
        for k in loads
    ]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + LOAD_SECONDS
    started = time.perf_counter()
    go.wait()
    if fault is not None:
        time.sleep(FAULT_AT)
        fault()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 600)
    rows = event_rows(database_url)
    return kb.LoadResult(
        len(loads), time.perf_counter() - started, loads, {n: rows.get(n, []) for n in names}
    )


def statuses(result: kb.LoadResult) -> dict[str, int]:
    """How many answers of each non-200 status the kiosks saw."""
    counts: dict[str, int] = {}
    for load in result.loads:
        for error in load.errors:
            code = error.split(" ", 2)[0] + " " + error.split(" ", 2)[1].rstrip(":")
            counts[code] = counts.get(code, 0) + 1
    return counts


def row(label: str, r: kb.LoadResult) -> str:
    """One Markdown row of a load run."""
    seen = sum(len(set(k.event_ids)) for k in r.loads)
    rows = sum(len(v) for v in r.rows.values())
    fivexx = sum(n for code, n in statuses(r).items() if code[0] == "5")
    return (
        f"| {label} | {r.kiosks} | {r.frames / r.seconds:.2f} | {pct(r.latencies, 50):.0f} | "
        f"{pct(r.latencies, 99):.0f} | {sum(k.completed for k in r.loads)} | {seen} | {rows} | "
        f"{r.lost()} | {r.duplicated()} | {fivexx} | {statuses(r) or '-'} |"
    )


def studio_kill(front: NginxFront, instance: Path, database_url: str, token: str) -> list[str]:
    """Upload a video job through Nginx, kill -9 its worker mid-job, start another; report."""
    import requests

    from tests.studio_helpers import Worker, scene_frames, write_video

    session = requests.Session()
    session.trust_env, session.verify = False, str(front.cert)
    session.headers["Authorization"] = f"Bearer {token}"
    video = write_video(instance / "bench.mp4", scene_frames(120, 320, 240))
    settings = {
        "DATABASE_URL": database_url,
        "STUDIO_HEARTBEAT_SECONDS": "1",
        "STUDIO_STALE_SECONDS": "10",
    }
    first = Worker(instance, "studio-1", **settings)
    first.wait_ready(timeout=600)
    with video.open("rb") as fh:
        job = session.post(
            f"{front.url}/api/v1/studio/jobs",
            files={"media": ("bench.mp4", fh, "video/mp4")},
            data={"effect": "anonymize", "params": '{"mode": "pixelate"}'},
        )
    assert job.status_code == 202, job.text
    url = front.url + job.json()["status_url"]
    while session.get(url).json()["status"] != "running":
        time.sleep(0.2)
    time.sleep(1.0)
    killed_at = session.get(url).json().get("progress")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    started = time.perf_counter()
    second = Worker(instance, "studio-2", **settings)
    try:
        second.wait_ready(timeout=600)
        while (body := session.get(url).json())["status"] not in kb_finished():
            time.sleep(0.5)
    finally:
        second.stop()
    import psycopg

    with psycopg.connect(database_url) as connection:
        attempts, result_id = connection.execute(
            "SELECT attempts, result_id FROM studio_jobs WHERE id = %s", (body["job_id"],)
        ).fetchone()
        results = connection.execute(
            "SELECT COUNT(*) FROM media_assets WHERE origin = 'result'"
        ).fetchone()[0]
    return [
        f"- studio worker kill -9 at progress {killed_at} of a 120-frame 320x240 video job: a new "
        f"worker took it again; final status {body['status']} after "
        f"{time.perf_counter() - started:.1f} s (incl. the new worker's model load), "
        f"attempts {attempts}, result media rows {results} (result id {result_id})"
    ]


def progress(result: tuple[str, kb.LoadResult]) -> None:
    """Show a finished run at once on stderr (the report comes at the end on stdout)."""
    print(row(*result), file=sys.stderr, flush=True)


def kb_finished() -> set[str]:
    return {"done", "failed", "cancelled"}


def main() -> None:
    """Run every part and print a Markdown report."""
    if shutil.which("nginx") is None:
        sys.exit("nginx is missing: run `make system-test-deps`")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    instance = Path(tempfile.mkdtemp(prefix="bench-production-"))
    out: list[str] = []
    with TemporaryPostgres("bench") as pg:
        tokens = prepare(instance, pg.url)
        server = kb.Server(instance, WORKERS)
        server.env.update(BEHIND_NGINX)
        server.env["DATABASE_URL"] = pg.url
        with server, NginxFront(server) as front:
            TlsKioskClient.context = front.ssl_context()
            kb.KioskClient = TlsKioskClient  # kiosk_loop opens its clients through Nginx
            port = front.https_port
            warm = [kb.multipart(kb.still(p, g)) for p, _ in kb.PEOPLE for g in ("O", "capture")]
            kb.warm_up(port, tokens["load2-0"], warm)
            results = []
            for n in KIOSKS:
                names = [f"load{n}-{i}" for i in range(n)]
                results.append(("steady", load_run(port, tokens, names, pg.url)))
                progress(results[-1])

            def kill_web_worker() -> None:
                os.kill(min(worker_pids(server.process.pid)), signal.SIGKILL)

            results.append(
                (
                    "kill -9 web worker",
                    load_run(port, tokens, ["web-kill-0", "web-kill-1"], pg.url, kill_web_worker),
                )
            )
            progress(results[-1])
            server_ready_again = wait_all_ready(server, front)

            def stop_database() -> None:
                proc = pg._proc
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
                time.sleep(DB_DOWN_SECONDS)
                pg._start_server(find_bin_dir())

            results.append(
                (
                    f"database down {DB_DOWN_SECONDS:.0f} s",
                    load_run(port, tokens, ["db-stop-0", "db-stop-1"], pg.url, stop_database),
                )
            )
            progress(results[-1])
            try:
                studio = studio_kill(front, instance, pg.url, tokens["studio"])
            except Exception as exc:  # report the other figures anyway
                studio = [f"- studio worker kill -9: the measurement failed: {exc!r}"]
            problems = [p for p in server.problems() if "Traceback" in p]
            nginx_log = front.access_log()
    out += [
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"Nginx {nginx_version()} (TLS) -> gunicorn {WORKERS} workers -> PostgreSQL, loopback",
        f"Load average (1/5/15 min) at start {' '.join(load_before)}, at end "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} (shared machine)",
        "",
        f"| run ({LOAD_SECONDS:.0f} s, fault at {FAULT_AT:.0f} s) | kiosks | frames/s | p50 ms "
        "| p99 ms | completed | events seen | DB rows | lost | duplicated | 5xx | non-200 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(label, r) for label, r in results),
        "",
        f"- after the web worker kill: all workers ready again {server_ready_again}",
        *studio,
        f"- gunicorn log: {len(problems)} tracebacks; Nginx access log lines: "
        f"{len(nginx_log.splitlines())}",
    ]
    shutil.rmtree(instance, ignore_errors=True)
    print("\n".join(out))


def worker_pids(master: int) -> set[int]:
    """gunicorn's workers: the children of the master."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.add(int(stat.parent.name))
    return pids


def wait_all_ready(server, front) -> str:
    """Wait until the replacement worker has loaded its models (its log line)."""
    started = time.perf_counter()
    while server.log_path.read_text(errors="replace").count("models ready in") < WORKERS + 1:
        if time.perf_counter() - started > 600:
            return "no (600 s)"
        time.sleep(0.5)
    return f"{time.perf_counter() - started:.0f} s after the load run ended"


def nginx_version() -> str:
    import subprocess

    result = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    return result.stderr.strip().split("/")[-1]


if __name__ == "__main__":
    main()
