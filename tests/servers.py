"""Real servers for system tests: a migrated instance and gunicorn serving the app."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, MODEL_DIR, ROOT

# Access log lines carry the worker's pid ("<1234>"), so tests can tell the workers apart.
ACCESS_LOG_FORMAT = 'access pid=%(p)s "%(r)s" %(s)s %(b)s %(L)ss'
ACCESS_LINE = re.compile(r'access pid=<(\d+)> "(\S+) (\S+) [^"]*" (\d{3})')
READY_LINE = "models ready in"
FAILED_LINE = "model loading failed"


def venv_tool(name: str) -> str:
    """A console script of the venv running the tests (falls back to the project's .venv)."""
    for folder in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(f"{name} is not installed in {sys.executable}'s venv nor in .venv")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    """GET a URL on a new connection; return (status, JSON body) for 2xx and 4xx/5xx alike."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:
            return exc.code, {"raw": body[:500].decode(errors="replace")}


class ServerError(RuntimeError):
    """The server could not be prepared or did not become ready."""


class GunicornServer:
    """`with GunicornServer(workers=2) as server:` a migrated instance, an admin, gunicorn ready."""

    def __init__(
        self,
        workers: int = 1,
        *,
        admin: tuple[str, str] | None = (ADMIN_EMAIL, ADMIN_PASSWORD),
        load_models: bool = True,
        ready_timeout: float = 120.0,
        extra_env: dict[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        self.workers = workers
        self.admin = admin
        self.ready_timeout = ready_timeout
        self.keep = keep
        self.instance = Path(tempfile.mkdtemp(prefix="gunicorn-instance-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.instance / "server.log"
        self.env = {
            **os.environ,
            "SECRET_KEY": "system-test-secret",
            "INSTANCE_PATH": str(self.instance),
            "DATABASE_URL": f"sqlite:///{self.instance / 'app.db'}",
            "MEDIA_DIR": str(self.instance / "media"),
            "MODEL_DIR": str(MODEL_DIR),
            "LOAD_MODELS": "true" if load_models else "false",
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PYTHONUNBUFFERED": "1",
            "ACCESS_LOG": "1",  # the tests read which worker answered what
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None
        self.first_ok_seconds: float | None = None
        self.ready_seconds: float | None = None
        # Every /healthz answer seen while waiting: (seconds since launch, status, body).
        self.health_polls: list[tuple[float, int, dict]] = []
        self.failed = False

    # -- set-up -------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """Run `flask --app wsgi ARGS` against this instance; return its stdout."""
        result = subprocess.run(
            [venv_tool("flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ServerError(
                f"flask {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def prepare(self) -> None:
        """Migrate the fresh database and create the admin."""
        (self.instance / "media").mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        if self.admin:
            self.cli("users", "create-admin", self.admin[0], "--password", self.admin[1])

    def start(self) -> None:
        """Launch gunicorn in its own process group; does not wait."""
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [
                    venv_tool("gunicorn"),
                    "-c",
                    "gunicorn.conf.py",
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.started_at = time.monotonic()

    def wait_ready(self, poll: float = 0.05) -> float:
        """Poll /healthz until it says 200 and every worker logged its models ready."""
        assert self.process is not None and self.started_at is not None
        deadline = self.started_at + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"gunicorn exited with {self.process.returncode}; see {self.log_path}"
                )
            log = self.log_text()
            if FAILED_LINE in log:
                raise ServerError(f"a worker failed to load its models; see {self.log_path}")
            try:
                status, body = get_json(f"{self.url}/healthz", timeout=2.0)
            except (OSError, ValueError):  # not listening yet, or a worker busy importing
                time.sleep(poll)
                continue
            elapsed = time.monotonic() - self.started_at
            self.health_polls.append((elapsed, status, body))
            if status == 200 and self.first_ok_seconds is None:
                self.first_ok_seconds = elapsed
            if status == 200 and log.count(READY_LINE) >= self.workers:
                self.ready_seconds = elapsed
                return elapsed
            time.sleep(poll)
        raise ServerError(f"not ready after {self.ready_timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Terminate gunicorn's whole process group (TERM, then KILL after a grace period)."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the master leads its own group
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> GunicornServer:
        try:
            self.prepare()
            self.start()
            self.wait_ready()
        except BaseException:
            self.failed = True
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is not None or self.failed:
            print(f"\n===== gunicorn log ({self.log_path}) =====\n{self.log_tail(20000)}")
        if not self.keep and not (exc_type is not None or self.failed):
            shutil.rmtree(self.instance, ignore_errors=True)

    # -- inspection ---------------------------------------------------------------------------
    def log_text(self) -> str:
        """The server's whole log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the server's log, to show in a failure message."""
        return self.log_text()[-chars:]

    def access_log(self) -> list[tuple[int, str, str, int]]:
        """Every request so far as (worker pid, method, path, status)."""
        return [(int(m[1]), m[2], m[3], int(m[4])) for m in ACCESS_LINE.finditer(self.log_text())]

    def worker_pids(self) -> set[int]:
        """The pids of gunicorn's current workers (children of the master)."""
        assert self.process is not None
        master = self.process.pid
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == master:
                pids.add(int(stat.parent.name))
        return pids


@contextmanager
def studio_worker(server: GunicornServer, email: str, password: str, timeout: float = 300.0):
    """A studio user and a `flask studio worker` on the server's instance, for page tests."""
    server.cli("users", "create", email, "--role", "studio", "--password", password)
    log = server.instance / "studio-worker.log"
    process = subprocess.Popen(
        [venv_tool("flask"), "--app", "wsgi", "studio", "worker"],
        cwd=ROOT,
        env=server.env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while "taking jobs from" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
