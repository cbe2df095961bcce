"""Pairing a kiosk device: the link that fills in its token, and that link as a QR code."""

from __future__ import annotations

import segno
from flask import url_for
from markupsafe import Markup


def pairing_link(token: str) -> str:
    """The kiosk page's address with the token in the fragment (never sent to the server)."""
    return url_for("attendance.kiosk_page", _external=True) + "#token=" + token


def qr_svg(text: str) -> Markup:
    """`text` as an inline SVG QR code (error correction M, dark on white, scalable)."""
    code = segno.make(text, error="m", micro=False)
    return Markup(code.svg_inline(scale=4, border=2, dark="#111a27", light="#ffffff"))
