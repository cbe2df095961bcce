"""Recognition as a user gets it: a real gunicorn on 127.0.0.1, clients posting JPEG frames.

`ServedApp` prepares an instance (migrated, the 5-celebrity train photos enrolled with
`flask employees import`, a kiosk registered), starts gunicorn with the project's gunicorn.conf.py
and an access log that carries each request's time; `post_frames` sends frames from 1..N clients,
each on its own keep-alive connection, and returns the round trips and the server's own times
(the access log's request time and the app's Server-Timing stages).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
BOUNDARY = "served-bench-boundary"
# %(D)s: the whole request in the worker, in microseconds (what gunicorn's access log reports).
ACCESS_FORMAT = 'access "%(r)s" %(s)s %(D)sus'
ACCESS_LINE = re.compile(r'access "POST (\S+) [^"]*" (\d{3}) (\d+)us')


def multipart(field_name: str, data: bytes) -> bytes:
    """A multipart/form-data body with one JPEG in `field_name`."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field_name}"; '
        'filename="frame.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def parse_server_timing(header: str | None) -> dict[str, float]:
    """`detect;dur=20.1, embed;dur=9.0` -> {"detect": 0.0201, "embed": 0.009} (seconds)."""
    stages: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, rest = part.strip().partition(";dur=")
        if name and rest:
            stages[name] = float(rest) / 1000.0
    return stages


@dataclass
class Sample:
    """One request as the client saw it, with the app's stage times."""

    status: int
    round_trip: float
    stages: dict[str, float] = field(default_factory=dict)


class ServedApp:
    """`with ServedApp(threads=4) as app:` gunicorn serving an enrolled instance on 127.0.0.1."""

    def __init__(
        self, workers: int = 1, threads: int | None = None, env: dict | None = None
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workers = workers
        self.instance = Path(tempfile.mkdtemp(prefix="bench-served-"))
        self.log_path = self.instance / "gunicorn.log"
        self.env = {
            **os.environ,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": str(self.instance),
            "MODEL_DIR": str(MODEL_DIR),
            "DATABASE_URL": f"sqlite:///{self.instance / 'app.db'}",
            "MEDIA_DIR": str(self.instance / "media"),
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PYTHONUNBUFFERED": "1",
            "ACCESS_LOG": "1",  # the worker's own request times come from its access log
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **({"GUNICORN_THREADS": str(threads)} if threads else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.token = ""

    def flask(self, *args: str) -> str:
        """Run `flask --app wsgi ARGS` on the instance; its stdout."""
        venv = Path(sys.executable).parent
        result = subprocess.run(
            [str(venv / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            raise RuntimeError(f"flask {args} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def __enter__(self) -> ServedApp:
        try:
            self.flask("db", "upgrade")
            self.flask("employees", "import", str(DATASET / "train"), "--consent-given")
            self.token = self.flask("kiosks", "create", "bench").strip().splitlines()[-1]
            venv = Path(sys.executable).parent
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        str(venv / "gunicorn"),
                        "-c",
                        "gunicorn.conf.py",
                        "--access-logformat",
                        ACCESS_FORMAT,
                        "wsgi:app",
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started = time.perf_counter()
            while self.log_path.read_text(errors="replace").count("models ready in") < (
                self.workers
            ):
                if self.process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError(f"gunicorn did not get ready; see {self.log_path}")
                time.sleep(0.2)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.instance, ignore_errors=True)

    def access_times(self, path_prefix: str) -> list[float]:
        """Server request times (seconds) from the access log, in order, for 2xx/4xx POSTs."""
        text = self.log_path.read_text(errors="replace")
        return [
            int(match[3]) / 1e6
            for match in ACCESS_LINE.finditer(text)
            if match[1].startswith(path_prefix)
        ]

    def post_frames(
        self, path: str, field_name: str, frames: list[bytes], clients: int, rounds: int
    ) -> list[Sample]:
        """Each of `clients` threads posts every frame `rounds` times on its own connection."""
        samples: list[Sample] = []
        lock = threading.Lock()
        bodies = [multipart(field_name, frame) for frame in frames]

        def run(offset: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            mine = []
            for index in range(rounds * len(bodies)):
                body = bodies[(index + offset) % len(bodies)]
                started = time.perf_counter()
                connection.request(
                    "POST",
                    path,
                    body=body,
                    headers={
                        "X-Kiosk-Token": self.token,
                        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                    },
                )
                response = connection.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                mine.append(
                    Sample(
                        response.status,
                        elapsed,
                        parse_server_timing(response.getheader("Server-Timing")),
                    )
                )
            connection.close()
            with lock:
                samples.extend(mine)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return samples
