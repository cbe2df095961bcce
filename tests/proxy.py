"""Nginx in front of a test gunicorn, rendered by scripts/nginx.sh like `make run-nginx` does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

from tests.servers import GunicornServer, ServerError, free_port
from tests.support import ROOT

# The settings gunicorn needs behind Nginx (what scripts/run.sh sets with WITH_NGINX=1).
BEHIND_NGINX = {
    "TRUSTED_PROXIES": "1",
    "MEDIA_ACCEL_REDIRECT": "/_media/",
    "SESSION_COOKIE_SECURE": "true",
}


class NginxFront:
    """`with NginxFront(server) as front:` Nginx on free loopback ports before `server`."""

    def __init__(self, server: GunicornServer, upstreams: list[str] | None = None) -> None:
        if shutil.which("nginx") is None:
            raise ServerError("nginx is missing: run `make system-test-deps` (make test does it)")
        self.server = server
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.run_dir = server.instance / "nginx"
        self.cert = server.instance / "tls" / "cert.pem"
        upstreams = upstreams or [f"127.0.0.1:{server.port}"]
        self.env = {
            **os.environ,
            "INSTANCE_PATH": str(server.instance),
            "MEDIA_DIR": str(server.instance / "media"),
            "NGINX_HTTP_PORT": f"127.0.0.1:{self.http_port}",
            "NGINX_HTTPS_PORT": f"127.0.0.1:{self.https_port}",
            "WEB_UPSTREAMS": " ".join(f"server {u};" for u in upstreams),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Make the certificate, render the config and start Nginx; wait for the TLS port."""
        log = (self.server.instance / "nginx-front.log").open("ab")
        try:
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "entrypoint.sh"), "nginx"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"nginx did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the generated self-signed certificate (and only it)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def log(self) -> str:
        """Nginx's start-up output and error log."""
        parts = []
        for path in (self.server.instance / "nginx-front.log", self.run_dir / "error.log"):
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def access_log(self) -> str:
        """Nginx's access log (with request times)."""
        path = self.run_dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop Nginx (QUIT: graceful), then make sure its group is gone."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGQUIT)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> NginxFront:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
