"""Small inline SVG line charts, pure (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None: no value


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_min: float = 0.0,
    y_max: float | None = None,
    width: int = 560,
    height: int = 200,
    label_every: int = 1,
    title: str = "",
) -> Markup:
    """An SVG line chart; every value becomes a point with a <title> tooltip."""
    left, right, top, bottom = 40, 10, 12, 24
    values = [v for s in series for v in s.values if v is not None]
    top_value = y_max if y_max is not None else max([*values, y_min + 1.0])
    span = (top_value - y_min) or 1.0
    inner_w, inner_h = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return top + inner_h * (1 - (v - y_min) / span)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for frac in (0.0, 0.5, 1.0):  # grid lines with values
        value = y_min + span * frac
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#d1d5db" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#4b5563">{value:g}</text>'
        )
    for i, text in enumerate(x_labels):
        last = i == len(x_labels) - 1
        if i % max(label_every, 1) == 0 or last:
            anchor = "end" if last and n > 1 else ("start" if i == 0 and n > 1 else "middle")
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="{anchor}" font-size="11" '
                f'fill="#4b5563">{escape(text)}</text>'
            )
    for k, s in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        points = [(x(i), y(v), v) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for px, py, v in points:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}">'
                f"<title>{escape(s.name)}: {v:g}</title></circle>"
            )
    if len(series) > 1:  # legend
        for k, s in enumerate(series):
            parts.append(
                f'<text x="{left + 6 + 150 * k}" y="{top + 10}" font-size="11" '
                f'fill="{PALETTE[k % len(PALETTE)]}">■ {escape(s.name)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
