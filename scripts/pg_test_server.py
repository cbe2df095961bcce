"""A throwaway PostgreSQL cluster for tests and development (stdlib only); run it to get a URL."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
SUPERUSER = "postgres"
# When we are root, PostgreSQL must run as someone else: the first of these that exists.
UNPRIVILEGED_USERS = ("postgres", "nobody")


class PostgresError(RuntimeError):
    """The cluster could not be created, started or given a database."""


def find_bin_dir() -> Path:
    """Return the folder holding initdb and postgres (PG_BIN, the PATH, then Debian's layout)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    candidates += [Path("/usr/local/pgsql/bin"), Path("/opt/homebrew/bin"), Path("/usr/local/bin")]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise PostgresError(
        "PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL "
        "(`make system-test-deps` or `apt-get install postgresql`) or set PG_BIN"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["PG_TEST_USER"]] if os.environ.get("PG_TEST_USER") else UNPRIVILEGED_USERS
    for name in names:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError(f"running as root and none of the users {names} exists to run PostgreSQL")


class TemporaryPostgres:
    """Start a private PostgreSQL in a temp dir on a free localhost port; remove it on exit."""

    def __init__(
        self,
        dbname: str = "app",
        *,
        port: int | None = None,
        base_dir: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.dbname = dbname
        self.user = SUPERUSER
        self.host = HOST
        self.port = port
        self.timeout = timeout
        self._base_dir = base_dir
        self.root: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._account = _run_as()

    @property
    def url(self) -> str:
        """The database's URL, as DATABASE_URL takes it."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.root / "postgres.log"

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Create the cluster, start the server, wait until it is ready and create the database."""
        bin_dir = find_bin_dir()
        # Root's temp dir may not be reachable by the server's account; /tmp always is.
        base = self._base_dir or ("/tmp" if self._account else None)
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-", dir=base))
        atexit.register(self.stop)
        try:
            if self._account:
                os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
            self._initdb(bin_dir)
            fixed_port = self.port is not None
            for _attempt in range(1 if fixed_port else 5):
                if not fixed_port:
                    self.port = free_port()
                if self._start_server(bin_dir):
                    break
            else:
                raise PostgresError(f"no free port found; log:\n{self._log_tail()}")
            self._createdb(bin_dir)
        except BaseException:
            self.stop()
            raise

    def _as_server_user(self) -> dict:
        """Popen arguments that run a child as the server's account (when we are root)."""
        if not self._account:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", PGCONNECT_TIMEOUT="5")
        if self._account:
            env["HOME"] = str(self.root)
        return env

    def _initdb(self, bin_dir: Path) -> None:
        command = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(
            command,
            cwd=self.root,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._as_server_user(),
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        # Trust, but only for local socket and loopback connections.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def _start_server(self, bin_dir: Path) -> bool:
        """Start postgres on self.port; False if the port was taken meanwhile."""
        command = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the server cleanly
                **self._as_server_user(),
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                log_text = self._log_tail()
                if "could not bind" in log_text or "already in use" in log_text:
                    self.log_path.write_text("")
                    return False
                raise PostgresError(f"postgres exited at start; log:\n{log_text}")
            if self._ready():
                return True
            time.sleep(0.05)
        raise PostgresError(
            f"postgres not ready after {self.timeout:.0f} s; log:\n{self._log_tail()}"
        )

    def _ready(self) -> bool:
        """True once the postmaster says it is ready (as pg_ctl -w checks) and the port answers."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def _createdb(self, bin_dir: Path) -> None:
        command = [
            str(bin_dir / "createdb"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            self.dbname,
        ]
        result = subprocess.run(
            command, env=self._env(), capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise PostgresError(f"createdb failed: {result.stderr.strip()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and remove the temp dir; idempotent."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, then exit
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def main(argv: list[str] | None = None) -> int:
    """Start a throwaway server, print its DATABASE_URL and keep it until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dbname", default="app", help="database to create (default: app)")
    parser.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        with TemporaryPostgres(args.dbname, port=args.port) as server:
            print(f"export DATABASE_URL={server.url}", flush=True)
            print(f"# data in {server.root}; Ctrl-C stops the server and removes it", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except PostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
