"""Small server-drawn SVG charts (no script, no CDN): vertical and horizontal bar charts."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

BAR = "#1f6feb"
GRID = "#dde3ea"
INK = "#5f6b7a"


def _nice_max(value: float, integer: bool = False) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 × 10^n); with `integer`, one whose
    quarter ticks are whole numbers (counts of people)."""
    if value <= 0:
        return 4 if integer else 1
    if integer:
        return 4 * max(1, math.ceil(_nice_max(value) / 4))
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def column_chart(
    points: list[tuple[str, float]],
    title: str,
    *,
    width: int = 960,
    height: int = 240,
    label_every: int = 1,
    unit: str = "",
    integer: bool = True,
) -> Markup:
    """Vertical bars, one per (label, value), with a y axis and a tooltip per bar."""
    if not points:
        return Markup("")
    left, right, top, bottom = 36, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(v for _, v in points), integer)
    slot = plot_w / len(points)
    bar_w = max(1.0, slot * 0.72)
    parts = [_open_svg(width, height, title)]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{INK}">{_fmt(value)}</text>'
        )
    for index, (label, value) in enumerate(points):
        x = left + index * slot + (slot - bar_w) / 2
        bar_h = plot_h * value / top_value
        y = top + plot_h - bar_h
        tip = f"{label}: {_fmt(value)}{unit}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" '
            f'fill="{BAR}" rx="1.5"><title>{escape(tip)}</title></rect>'
        )
        if index % label_every == 0:
            cx = left + index * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'font-size="11" fill="{INK}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open_svg(width: int, height: int, title: str) -> str:
    """The opening tag: scales down on narrow screens, never up (text keeps its size)."""
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" role="img" '
        f'style="max-width: 100%; height: auto" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )


def bar_chart(
    points: list[tuple[str, float]], title: str, *, width: int = 760, unit: str = ""
) -> Markup:
    """Horizontal bars, one row per (label, value), the value written at the bar's end."""
    if not points:
        return Markup("")
    row_h, label_w, right, top = 24, 170, 60, 6
    height = top * 2 + row_h * len(points)
    plot_w = width - label_w - right
    top_value = _nice_max(max(v for _, v in points))
    parts = [_open_svg(width, height, title)]
    for index, (label, value) in enumerate(points):
        y = top + index * row_h
        bar_w = plot_w * value / top_value
        name = label if len(label) <= 24 else label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12" '
            f'fill="#1c2430">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}" '
            f'fill="{BAR}" rx="1.5"><title>{escape(f"{label}: {_fmt(value)}{unit}")}</title></rect>'
            f'<text x="{label_w + bar_w + 6:.1f}" y="{y + 16}" font-size="12" '
            f'fill="{INK}">{_fmt(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
