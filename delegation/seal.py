"""The issuing authority's seal as an SVG drawn in code: a red ring, the authority's name along the upper arc, a
five-pointed star in the middle and the seal's purpose (电子证照专用章) below it — the layout of an official round
seal (GA 241). Each character is placed and turned on its own, which every SVG renderer draws (WeasyPrint has no
textPath)."""
from __future__ import annotations

import math
from html import escape

RED = "#d1141b"
FONT = "Noto Serif CJK SC, Noto Sans CJK SC, serif"


def _star(cx: float, cy: float, outer: float) -> str:
    inner = outer * 0.382
    points = []
    for i in range(10):
        r = outer if i % 2 == 0 else inner
        a = math.radians(-90 + i * 36)
        points.append(f"{cx + r * math.cos(a):.2f},{cy + r * math.sin(a):.2f}")
    return f'<polygon points="{" ".join(points)}" fill="{RED}"/>'


def _arc_text(name: str, cx: float, cy: float, radius: float, size: float) -> str:
    """The name along the upper arc, from lower left over the top to lower right, letters upright to the rim."""
    chars = list(name) or [" "]
    span = min(240.0, max(90.0, len(chars) * 22.0))  # degrees the name covers
    step = span / max(1, len(chars) - 1) if len(chars) > 1 else 0
    start = -90 - span / 2
    out = []
    for i, ch in enumerate(chars):
        deg = start + i * step if len(chars) > 1 else -90
        a = math.radians(deg)
        x, y = cx + radius * math.cos(a), cy + radius * math.sin(a)
        out.append(f'<text x="{x:.2f}" y="{y:.2f}" transform="rotate({deg + 90:.2f} {x:.2f} {y:.2f})" '
                   f'font-size="{size:.1f}" text-anchor="middle" dominant-baseline="central" fill="{RED}" '
                   f'font-family="{FONT}" font-weight="bold">{escape(ch)}</text>')
    return "".join(out)


def seal_svg(authority: str, purpose: str = "电子证照专用章", size: int = 160) -> str:
    """The seal of `authority`, `size` user units wide (scale it with the width of the <img> that shows it)."""
    c = size / 2
    name = (authority or "").strip()[:24]
    letter = max(9.0, min(17.0, 300.0 / max(len(name), 1)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
            f'viewBox="0 0 {size} {size}">'
            f'<circle cx="{c}" cy="{c}" r="{c - 3}" fill="none" stroke="{RED}" stroke-width="4"/>'
            f'{_arc_text(name, c, c, c - 3 - letter * 0.95, letter)}'
            f'{_star(c, c, size * 0.16)}'
            f'<text x="{c}" y="{c + size * 0.3:.2f}" font-size="{size * 0.075:.1f}" text-anchor="middle" '
            f'fill="{RED}" font-family="{FONT}">{escape(purpose)}</text>'
            f'</svg>')
