"""The kiosk page in a real browser: Chromium's fake camera plays Y4M videos the tests make."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.support import DATASET, ROOT

pytestmark = pytest.mark.slow

GESTURES = ROOT / "tests" / "data" / "gestures"
STILLS = GESTURES / "stills"
FPS = 10  # of the videos; the page sends what the camera shows at the moment
# Read by the conftest's `server` fixture: a fixed challenge, short holds, 4 frames a second.
SERVER_ENV = {"KIOSK_CHALLENGE": "capture,O", "KIOSK_HOLD_FRAMES": "2", "KIOSK_FPS": "4"}
FLOW_TIMEOUT = 90_000  # ms: the server shares two busy CPU cores with the browser
# Every change of the panel's text, so a step shown only briefly is not missed by polling.
RECORD_PANEL = """
window.kioskSeen = [];
document.addEventListener('DOMContentLoaded', () => {
  const panel = document.querySelector('.panel');
  if (!panel) return;
  const note = () => {
    const text = ['who', 'message', 'steps', 'hold-text', 'countdown', 'result']
      .map((id) => document.getElementById(id).innerText).join(' | ');
    if (window.kioskSeen[window.kioskSeen.length - 1] !== text) window.kioskSeen.push(text);
  };
  new MutationObserver(note).observe(panel, { subtree: true, childList: true,
    characterData: true, attributes: true });
});
"""


def rgb_frame(path: Path) -> np.ndarray:
    """A photo letterboxed onto a 640x480 RGB frame (scaled to fit, grey bars)."""
    image = Image.open(path).convert("RGB")
    scale = min(640 / image.width, 480 / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    frame = Image.new("RGB", (640, 480), (90, 90, 90))
    frame.paste(image, ((640 - image.width) // 2, (480 - image.height) // 2))
    return np.asarray(frame)


def write_y4m(path: Path, segments: list[tuple[np.ndarray, float]], jitter: int = 3) -> Path:
    """Write a 640x480 Y4M: each (frame, seconds), shifted by up to `jitter` px at random."""
    import cv2

    rng = random.Random(7)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W640 H480 F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb, seconds in segments:
            for _ in range(max(1, round(seconds * FPS))):
                frame = rgb
                if jitter:
                    dx, dy = rng.randint(-jitter, jitter), rng.randint(-jitter, jitter)
                    shift = np.float32([[1, 0, dx], [0, 1, dy]])
                    frame = cv2.warpAffine(rgb, shift, (640, 480), borderMode=cv2.BORDER_REPLICATE)
                out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def kiosk_token(server, tmp_path_factory) -> str:
    """Victor One (a rendered person) and Madonna enrolled through the CLI; a kiosk's token."""
    if not GESTURES.is_dir():
        pytest.fail(f"{GESTURES} is missing (tests/data/gestures is part of the repository)")
    people = tmp_path_factory.mktemp("people")
    shutil.copytree(GESTURES / "enroll" / "v1", people / "Victor One")
    (people / "Madonna").mkdir()
    for photo in sorted((DATASET / "train" / "madonna").glob("*.jpg"))[:5]:
        shutil.copy(photo, people / "Madonna" / photo.name)
    server.cli("employees", "import", str(people), timeout=900)  # minutes on a busy machine
    return server.cli("kiosks", "create", "lobby").strip().splitlines()[-1]


def events(server) -> list[tuple]:
    """(id, employee name, kind, gesture, proof photo) of every attendance event, read-only."""
    with sqlite3.connect(f"file:{server.instance / 'app.db'}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT e.id, p.name, e.kind, e.gesture, e.proof_photo FROM attendance_events e"
            " JOIN employees p ON p.id = e.employee_id ORDER BY e.id"
        ).fetchall()


def open_kiosk(chromium, video: Path):
    """A browser whose camera plays `video`: (context, page, the uncaught errors of the page)."""
    context = chromium(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    context.add_init_script(RECORD_PANEL)
    page = context.pages[0] if context.pages else context.new_page()
    uncaught: list[str] = []  # exceptions no script caught: a broken page
    page.on("pageerror", lambda error: uncaught.append(str(error)))
    return context, page, uncaught


def start_kiosk(server, page, token: str) -> None:
    """Open /kiosk; the first visit asks for the token: type it and press Start."""
    page.goto(f"{server.url}/kiosk")
    expect(page.locator("#setup")).to_be_visible()
    page.locator("#token-input").fill(token)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#screen")).to_be_visible()
    expect(page.locator("#setup")).to_be_hidden()


def wait_seen(page, *parts: str, timeout: float = FLOW_TIMEOUT) -> None:
    """Wait until one panel text shown so far contains every part."""
    page.wait_for_function(
        "parts => window.kioskSeen.some((text) => parts.every((part) => text.includes(part)))",
        arg=list(parts),
        timeout=timeout,
    )


def page_errors(page, uncaught: list[str]) -> list[str]:
    """Errors that mean a broken page: uncaught ones and the kiosk's (pose warnings are fine)."""
    errors = page.evaluate("window.kioskDebug.errors")
    return uncaught + [error for error in errors if not error.startswith("pose:")]


def test_a_rendered_person_checks_in_with_capture_then_o(
    server, kiosk_token, chromium, tmp_path, screenshots
):
    """Standby -> capture -> O in front of the fake camera records one check-in with a proof.

    Reliability on a busy machine (issue 14): 5 runs in a row next to two busy processes, at load
    20-30 on 2 cores, are recorded in bench/RESULTS.md ("kiosk page under load").
    """
    # The camera loops the video: when the server (about 1 s a frame here) misses a step, the
    # next pass (13 s, within the 20 s no-progress timeout) gives it another go.
    still = {g: rgb_frame(STILLS / f"v1_waist_{g}.jpg") for g in ("standby", "capture", "O")}
    video = write_y4m(
        tmp_path / "v1.y4m",
        [(still["standby"], 3), (still["capture"], 3), (still["O"], 3), (still["standby"], 4)],
    )
    context, page, uncaught = open_kiosk(chromium, video)
    start_kiosk(server, page, kiosk_token)

    wait_seen(page, "Victor One", "1. raise both arms", "2. make an O over your head", "s left")
    # The skeleton drawn is the one the server found in the frame (no pose runs in the page).
    page.wait_for_function("window.kioskDebug.skeletons > 0", timeout=FLOW_TIMEOUT)
    page.screenshot(path=screenshots / "kiosk-mid-flow.png")
    wait_seen(page, "Victor One, checked in at")
    # On the way the page showed the hold progress of a gesture (its first frame never counts).
    wait_seen(page, "Hold…", timeout=1000)
    assert page.evaluate("window.kioskDebug.poseResults") == 0  # no in-page pose by default
    expect(page.locator("#result")).to_have_class("result ok")
    state = page.evaluate("window.kioskDebug")
    assert state["framesSent"] > 0 and state["lastState"]["event"]["kind"] == "check_in"
    assert page_errors(page, uncaught) == []

    page.reload()  # the token is kept on this device: straight to the camera screen
    expect(page.locator("#screen")).to_be_visible()
    expect(page.locator("#setup")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('faceplatform.kioskToken')") == kiosk_token
    context.close()
    video.unlink()  # tens of MB

    [(_, name, kind, gesture, proof)] = events(server)
    assert (name, kind, gesture) == ("Victor One", "check_in", "O")
    assert proof and (server.instance / "media" / proof).stat().st_size > 10_000


def test_the_pairing_link_fills_in_the_token_and_starts_the_camera(
    server, kiosk_token, chromium, tmp_path
):
    """/kiosk#token=... (the admin's pairing link or QR code): no typing, and the token stays."""
    video = write_y4m(tmp_path / "grey.y4m", [(np.full((480, 640, 3), 90, np.uint8), 1)])
    context, page, uncaught = open_kiosk(chromium, video)
    page.goto(f"{server.url}/kiosk#token={kiosk_token}")
    expect(page.locator("#screen")).to_be_visible()
    expect(page.locator("#kiosk-name")).to_have_text("lobby")
    assert page.evaluate("localStorage.getItem('faceplatform.kioskToken')") == kiosk_token
    assert "token" not in page.url  # taken out of the address bar at once
    page.wait_for_function("window.kioskDebug.framesSent > 0", timeout=FLOW_TIMEOUT)
    assert page_errors(page, uncaught) == []
    context.close()
    video.unlink()


def test_a_celebrity_is_named_and_asked_for_the_gesture_but_nothing_is_recorded(
    server, kiosk_token, chromium, tmp_path
):
    """A head shot of an enrolled face is named and prompted, but without arms nothing counts."""
    photo = sorted((DATASET / "val" / "madonna").glob("*.jpg"))[0]
    video = write_y4m(tmp_path / "madonna.y4m", [(rgb_frame(photo), 3)])
    before = len(events(server))
    context, page, uncaught = open_kiosk(chromium, video)
    start_kiosk(server, page, kiosk_token)
    wait_seen(page, "Madonna", "raise both arms")
    expect(page.locator("#who")).to_have_text("Madonna")
    # The server reads a head shot as "standby" (or no gesture): the challenge never moves on.
    page.wait_for_timeout(10_000)
    state = page.evaluate("window.kioskDebug.lastState")
    assert state["employee"]["name"] == "Madonna" and state["step"] == 0, state
    assert page_errors(page, uncaught) == []
    context.close()
    video.unlink()  # tens of MB
    assert len(events(server)) == before


def test_a_looped_still_image_never_checks_in(server, kiosk_token, chromium, tmp_path):
    """The O still, identical in every frame (no jitter at all), records nothing in ~10 s."""
    video = write_y4m(tmp_path / "still.y4m", [(rgb_frame(STILLS / "v1_waist_O.jpg"), 1)], jitter=0)
    before = len(events(server))
    context, page, uncaught = open_kiosk(chromium, video)
    start_kiosk(server, page, kiosk_token)
    page.wait_for_function("window.kioskDebug.framesSent > 0", timeout=FLOW_TIMEOUT)
    page.wait_for_timeout(10_000)
    state = page.evaluate("window.kioskDebug.lastState")
    seen = page.evaluate("window.kioskSeen")
    assert page_errors(page, uncaught) == []
    context.close()
    video.unlink()  # tens of MB
    # What the server saw (lastState): Victor One recognized, the face inside the pose's head box
    # (live), gesture O in every frame - so phase "challenge", step 0, next_gesture "capture",
    # message "wrong_gesture". A single picture shows one gesture; the challenge needs two, so it
    # can never finish (after KIOSK_TIMEOUT_SECONDS it fails with "timed_out").
    assert len(events(server)) == before, seen
    assert state["phase"] in ("challenge", "failed") and state["step"] == 0, state
    assert not any("checked in" in text or "checked out" in text for text in seen), seen
