"""The API reference page (Swagger UI from static/, no CDN) and a quiet, useful console."""

from __future__ import annotations

import logging
import os
import re
import subprocess

from tests.servers import venv_tool
from tests.support import ROOT


def test_the_api_reference_renders_the_openapi_documents_from_local_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/studio/openapi.json" in html
    scripts = re.findall(r'<script src="([^"]+)"', html) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', html
    )
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in scripts
    for url in scripts:  # every script and stylesheet is served by the app itself
        assert url.startswith("/static/"), url
        assert client.get(url).status_code == 200, url
    assert "<script>" not in html  # no inline script: works under a strict CSP
    assert client.get("/api/v1/studio/openapi.json").json["openapi"].startswith("3.")


def test_the_api_reference_is_linked_from_the_admin_and_studio_pages(admin_client):
    for path in ("/admin/dashboard", "/studio/"):
        html = admin_client.get(path, follow_redirects=True).get_data(as_text=True)
        assert 'href="/api/docs"' in html, path


def test_library_chatter_is_kept_down(app, monkeypatch):
    from webapp.logs import quiet_native_libraries

    assert logging.getLogger("alembic.runtime.plugins").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("absl").getEffectiveLevel() >= logging.ERROR
    # The process's environment is shared with libraries imported by earlier tests: check the
    # defaults on a clean slate, and that an operator's own value is kept.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("GLOG_minloglevel", "0")
    quiet_native_libraries()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ.get("GLOG_minloglevel") == "0"  # noqa: SIM112 (glog reads this spelling)


def test_a_cli_command_prints_only_what_matters(tmp_path):
    """`flask db upgrade` on a fresh instance: the migrations it ran, no plugin set-up lines."""
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SECRET_KEY": "x",
    }
    result = subprocess.run(
        [venv_tool("flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    output = result.stdout + result.stderr
    assert "Running upgrade" in output
    assert "setup plugin" not in output and "Context impl" not in output, output
