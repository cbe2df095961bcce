"""End-to-end tests on real servers: gunicorn, PostgreSQL, Redis and headless Debian Chromium."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.servers import GunicornServer, venv_tool
from tests.support import DATASET, ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Verified flags (see shared/browser-testing.md); the resolver rule stops lookups of Google hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
PO = ROOT / "translations" / "ko" / "LC_MESSAGES" / "messages.po"


def pytest_collection_modifyitems(items):
    """Everything in this folder starts real servers: mark it slow (`make test-fast` skips it)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server's log to the report of a failed browser test."""
    report = yield
    server = item.funcargs.get("server") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, GunicornServer):
        report.sections.append(("gunicorn log (tail)", server.log_tail()))
    return report


def _compile_translations() -> None:
    """Compile the .po like `make translations` when the .mo is missing or older."""
    mo = PO.with_suffix(".mo")
    if PO.exists() and (not mo.exists() or mo.stat().st_mtime < PO.stat().st_mtime):
        subprocess.run(
            [venv_tool("pybabel"), "compile", "-d", str(ROOT / "translations")], check=True
        )


@pytest.fixture(scope="module")
def server(request):
    """One gunicorn worker with its models loaded, on a fresh instance with an admin."""
    if not (DATASET / "val").is_dir():
        pytest.fail(f"{DATASET} is missing: run `make models` (make test does it)")
    _compile_translations()
    failed_before = request.session.testsfailed
    # A test module may set SERVER_ENV (a dict) to give the server extra settings.
    # Up to 5 minutes to load the models: at load 20-30 on 2 cores they took 100-280 s here.
    with GunicornServer(
        workers=1, extra_env=getattr(request.module, "SERVER_ENV", None), ready_timeout=300
    ) as server:
        yield server
        server.failed = request.session.testsfailed > failed_before


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """`chromium(*extra_args)` opens a headless Chromium with a fresh profile (English, 1280x900).

    Every browser it opened is closed at the end of the module; extra flags are e.g. a fake camera.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-test-deps` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        opened = []

        def launch(*extra_args: str):
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),
                executable_path=str(CHROMIUM),
                headless=True,
                args=[*CHROMIUM_ARGS, *extra_args],
                locale="en-US",
                viewport={"width": 1280, "height": 900},
            )
            context.set_default_timeout(15_000)
            opened.append(context)
            return context

        try:
            yield launch
        finally:
            for context in opened:
                context.close()


@pytest.fixture(scope="module")
def browser_context(chromium):
    """A headless Chromium with a fresh profile, English UI, 1280x900."""
    return chromium()


@pytest.fixture(scope="module")
def page(browser_context):
    """The one tab the flows run in, in order, like a person would."""
    return browser_context.pages[0] if browser_context.pages else browser_context.new_page()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Where screenshots go: under $TMPDIR (or the system temp folder)."""
    folder = Path(tempfile.gettempdir()) / "face-platform-e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
