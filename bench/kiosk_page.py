"""Kiosk page benchmark: how many frames a real browser kiosk sends on this machine.

Headless Debian Chromium opens /kiosk on a real gunicorn (1 worker, models loaded) with a fake
camera playing the rendered person v1 (standby, capture, O, standby; tests/data/gestures), and
counts the frames the page sent and the skeletons it drew 20 s and 60 s after its first frame,
with the default page (the skeleton comes from the server's answer, no pose in the page) and with
KIOSK_BROWSER_POSE=true (the in-browser pose, at most once every 1.5 s, switched off by the page
after a run slower than 300 ms). Before issue 14 the page
ran @mediapipe/pose continuously on its main thread and sent 6 frames in 20 s and 10 in 60 s here
at load ~5, while the server answered in 0.2-0.3 s.

Run with `.venv/bin/python bench/kiosk_page.py [default|browser-pose]` (needs /usr/bin/chromium
and playwright).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.test_kiosk_page import STILLS, rgb_frame, write_y4m  # noqa: E402
from tests.servers import GunicornServer  # noqa: E402

MARKS = (20, 60)  # seconds after the first frame


def measure(browser_pose: bool, video: Path) -> dict:
    """Frames sent and skeletons drawn by one kiosk page at each mark, and the frames' timings."""
    from playwright.sync_api import sync_playwright

    env = {"KIOSK_BROWSER_POSE": "true" if browser_pose else "false", "KIOSK_FPS": "4"}
    with GunicornServer(workers=1, extra_env=env, ready_timeout=600) as server:
        token = server.cli("kiosks", "create", "bench").strip().splitlines()[-1]
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="kiosk-bench-"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    "--use-fake-device-for-media-stream",
                    "--use-fake-ui-for-media-stream",
                    f"--use-file-for-fake-video-capture={video}",
                ],
            )
            page = context.pages[0]
            page.goto(f"{server.url}/kiosk#token={token}")
            page.wait_for_function("window.kioskDebug.framesSent > 0", timeout=300_000)
            started = time.monotonic()
            result = {"load": os.getloadavg()}
            for mark in MARKS:
                time.sleep(max(0.0, started + mark - time.monotonic()))
                debug = page.evaluate("window.kioskDebug")
                result[mark] = (debug["framesSent"], debug["skeletons"], debug["poseResults"])
            durations = page.evaluate(
                "performance.getEntriesByType('resource')"
                ".filter((e) => e.name.endsWith('/frames')).map((e) => e.duration)"
            )
            result["round_trip_ms"] = sorted(durations)[len(durations) // 2] if durations else None
            result["load_end"] = os.getloadavg()
            context.close()
    return result


def main() -> None:
    """Print the figures for the default page and with the in-browser pose switched on."""
    stills = {g: rgb_frame(STILLS / f"v1_waist_{g}.jpg") for g in ("standby", "capture", "O")}
    with tempfile.TemporaryDirectory() as tmp:
        video = write_y4m(
            Path(tmp) / "v1.y4m",
            [(stills["standby"], 3), (stills["capture"], 3), (stills["O"], 3)],
        )
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Chromium headless")
        wanted = sys.argv[1:] or ["default", "browser-pose"]
        for browser_pose in [mode == "browser-pose" for mode in wanted]:
            result = measure(browser_pose, video)
            label = "browser pose on " if browser_pose else "default (no pose)"
            marks = ", ".join(
                f"{mark} s: {sent} frames, {skeletons} skeletons, {pose} browser poses"
                for mark in MARKS
                for sent, skeletons, pose in [result[mark]]
            )
            load = " ".join(f"{x:.1f}" for x in result["load"])
            print(
                f"{label}: {marks}; median frame round trip {result['round_trip_ms']:.0f} ms; "
                f"load {load} -> {' '.join(f'{x:.1f}' for x in result['load_end'])}"
            )


if __name__ == "__main__":
    main()
