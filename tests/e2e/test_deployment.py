"""Deployment files: the compose files parse, the Nginx config renders and passes `nginx -t`, and
the one entrypoint migrates an instance and cleans stale partial uploads."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.support import ROOT

pytestmark = pytest.mark.slow

SECRETS = {"SECRET_KEY": "k" * 64, "POSTGRES_PASSWORD": "pg-secret"}


def compose(*files: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`docker-compose -f ... config` (Debian's docker-compose parses and checks; no engine)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing: run `make system-test-deps` (make test does it)")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    args = [binary, "--project-directory", str(ROOT)]
    for name in files:
        args += ["-f", str(ROOT / name)]
    return subprocess.run(
        [*args, "config"], env={**keep, **(env or {})}, capture_output=True, text=True, timeout=60
    )


def test_compose_file_is_valid_and_complete():
    result = compose("docker-compose.yml", env=SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"nginx", "web", "worker", "migrate", "db", "redis"} <= set(services)
    for name in ("nginx", "web", "worker", "db", "redis"):
        assert services[name]["healthcheck"]["test"], name
    web = services["web"]["environment"]
    assert web["DATABASE_URL"] == "postgresql://face:pg-secret@db:5432/face"
    assert web["SECRET_KEY"] == SECRETS["SECRET_KEY"] and web["REDIS_URL"].startswith("redis://")
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["web"]["build"]["target"] == "app"
    assert services["nginx"]["build"]["target"] == "nginx"
    assert any(v.endswith(":ro") for v in services["nginx"]["volumes"])  # media, read-only
    assert {"media", "pgdata", "redisdata", "tls"} <= set(config["volumes"])


def test_compose_refuses_to_start_without_secrets():
    result = compose("docker-compose.yml", env={"POSTGRES_PASSWORD": "x"})
    assert result.returncode != 0 and "set SECRET_KEY" in result.stderr


def test_gpu_override_reserves_a_gpu_and_asks_for_cuda():
    result = compose("docker-compose.yml", "docker-compose.gpu.yml", env=SECRETS)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("web", "worker"):
        [device] = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
        assert services[name]["environment"]["DEVICE"] == "cuda"
        assert services[name]["build"]["args"]["GPU"] == "1"
    assert "resources" not in services["migrate"].get("deploy", {})


def test_dockerfile_stages_run_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in text.splitlines() if line.startswith("FROM ")]
    assert stages == ["build", "app", "nginx"]
    app = text.split("AS app", 1)[1].split("AS nginx", 1)[0]
    assert "USER face" in app and 'ENTRYPOINT ["scripts/entrypoint.sh"]' in app
    assert "COPY --from=build /venv /venv" in app


def test_nginx_config_renders_and_passes_nginx_t(tmp_path):
    if shutil.which("nginx") is None:
        pytest.fail("nginx is missing: run `make system-test-deps` (make test does it)")
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "WEB_UPSTREAMS": "server 127.0.0.1:8001; server 127.0.0.1:8002;",
    }
    for step in ("cert", "render"):
        result = subprocess.run(
            [str(ROOT / "scripts" / "nginx.sh"), step], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    conf = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert "server 127.0.0.1:8001; server 127.0.0.1:8002;" in conf
    assert "${" not in conf.split("http {", 1)[1]  # every template name was filled in
    assert "internal;" in conf and "client_max_body_size 410m;" in conf
    cert = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "tls" / "cert.pem"), "-noout", "-ext",
         "subjectAltName"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "IP Address:127.0.0.1" in cert.stdout and "DNS:localhost" in cert.stdout


def test_entrypoint_migrate_prepares_an_instance_and_cleans_stale_partials(tmp_path):
    media = tmp_path / "media" / "enrollment"
    media.mkdir(parents=True)
    stale, fresh = media / "old.jpg.part", media / "writing.jpg.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    hours_ago = time.time() - 3 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "SECRET_KEY": "entrypoint-test",
        "ADMIN_EMAIL": "boss@example.com",
        "ADMIN_PASSWORD": "long-enough-pw",
    }
    result = subprocess.run(
        [str(ROOT / "scripts" / "entrypoint.sh"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "Created the first admin account: boss@example.com" in result.stdout
    assert "removed 1 stale partial upload(s)" in result.stdout
    assert not stale.exists() and fresh.exists()
    again = subprocess.run(
        [str(ROOT / "scripts" / "entrypoint.sh"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "Created" not in again.stdout
