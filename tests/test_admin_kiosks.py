"""The admin Kiosks page: register (token once, pairing link, QR), rename, revoke, frames today."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from tests.admin_helpers import admin_client_for, client_as


@pytest.fixture
def admin(app):
    return admin_client_for(app)


def svg_qr_to_image(svg: str) -> np.ndarray:
    """Rasterize the page's QR code (segno's path of horizontal runs: M, m and h) to pixels."""
    size = int(re.search(r'd="M0 0h(\d+)v', svg).group(1))
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    grid = np.full((size, size), 255, np.uint8)
    x = y = 0.0
    for command, args in re.findall(r"([MmHh])([-\d. ]+)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            grid[int(y), int(x) : int(x + numbers[0])] = 0
            x += numbers[0]
    return np.kron(grid, np.ones((8, 8), np.uint8))  # 8 px a module, for the detector


def decode_qr(svg: str) -> str:
    import cv2

    text, _, _ = cv2.QRCodeDetector().detectAndDecode(svg_qr_to_image(svg))
    return text


def create(admin, name="lobby"):
    return admin.post("/admin/kiosks", data={"name": name})


def test_registering_a_kiosk_shows_its_token_once_with_a_pairing_link_and_qr(app, admin):
    response = create(admin)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    token = re.search(r'id="kiosk-token"[^>]*>(kiosk_[^<]+)<', page).group(1)
    link = unescape(re.search(r'id="pairing-link" href="([^"]+)"', page).group(1))
    assert link == f"http://localhost/kiosk#token={token}"
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert decode_qr(svg) == link  # what a phone or the kiosk's camera reads
    # The token works for the kiosk API at once, and is never shown again.
    assert (
        app.test_client()
        .get("/api/v1/kiosk/config", headers={"X-Kiosk-Token": token})
        .json["kiosk"]
        == "lobby"
    )
    again = admin.get("/admin/kiosks").get_data(as_text=True)
    assert token not in again and 'data-kiosk="lobby"' in again
    assert token not in str(
        admin.get_cookie("session").value if admin.get_cookie("session") else ""
    )


def test_names_must_be_given_and_unique(admin):
    create(admin)
    page = admin.post("/admin/kiosks", data={"name": "lobby"}, follow_redirects=True)
    assert "A kiosk with this name already exists." in page.get_data(as_text=True)
    page = admin.post("/admin/kiosks", data={"name": "  "}, follow_redirects=True)
    assert "A kiosk needs a name." in page.get_data(as_text=True)


def test_rename_keeps_the_token_and_revoke_stops_it(app, admin):
    from webapp.attendance.models import Kiosk
    from webapp.audit import AuditEntry
    from webapp.extensions import db

    page = create(admin).get_data(as_text=True)
    token = re.search(r'id="kiosk-token"[^>]*>(kiosk_[^<]+)<', page).group(1)
    with app.app_context():
        kiosk_id = db.session.scalar(db.select(Kiosk.id).where(Kiosk.name == "lobby"))
    admin.post(f"/admin/kiosks/{kiosk_id}/rename", data={"name": "front door"})
    headers = {"X-Kiosk-Token": token}
    kiosk_client = app.test_client()
    assert kiosk_client.get("/api/v1/kiosk/config", headers=headers).json["kiosk"] == "front door"
    admin.post(f"/admin/kiosks/{kiosk_id}/revoke")
    assert kiosk_client.get("/api/v1/kiosk/config", headers=headers).status_code == 401
    page = admin.get("/admin/kiosks").get_data(as_text=True)
    assert "Revoked" in page and "front door" in page
    with app.app_context():
        actions = db.session.scalars(
            db.select(AuditEntry.action)
            .where(AuditEntry.target_type == "kiosk")
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["kiosk.create", "kiosk.rename", "kiosk.revoke"]


def test_frames_today_count_every_processed_frame(app, admin):
    from datetime import UTC, datetime, timedelta

    from webapp.attendance.kiosk import count_frame
    from webapp.attendance.models import Kiosk
    from webapp.extensions import db

    create(admin)
    with app.app_context():
        kiosk = db.session.scalar(db.select(Kiosk).where(Kiosk.name == "lobby"))
        yesterday = datetime.now(UTC) - timedelta(days=1)
        count_frame(kiosk.id, yesterday)
        for _ in range(3):
            count_frame(kiosk.id, datetime.now(UTC))
        db.session.commit()
        db.session.refresh(kiosk)
        assert kiosk.frames_today == 3  # yesterday's frame was not carried over
    row = re.search(
        r'data-kiosk="lobby">.*?</tr>', admin.get("/admin/kiosks").get_data(as_text=True), re.S
    )
    assert '<td class="num">3</td>' in row.group(0)


def test_only_admins_manage_kiosks(app):
    manager = client_as(app, "manager", "Sales")
    assert manager.get("/admin/kiosks").status_code == 403
    assert manager.post("/admin/kiosks", data={"name": "x"}).status_code == 403
