"""The one SVG module: the document envelope, the "no data" picture, a linear scale and the generic
horizontal bar chart. The pictures of a load run (``load.plot``), a chaos run (``faults.timeline``) and an
SLO evaluation (``slo.report``) are drawn with these; no plotting library, so a report needs nothing
installed to show them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

__all__ = ["XMLNS", "Scale", "bars_svg", "document", "no_data"]

XMLNS = "http://www.w3.org/2000/svg"


def document(width: float, height: float, parts: Iterable[str], *, font_size: int | None = 11,
             sep: str = "") -> str:
    """An ``<svg>`` of ``width`` x ``height`` holding ``parts`` (sans-serif at ``font_size``; None: the
    viewer's default font)."""
    font = f' font-family="sans-serif" font-size="{font_size}"' if font_size is not None else ""
    return f'<svg xmlns="{XMLNS}" width="{width:.0f}" height="{height:.0f}"{font}>' + sep.join(parts) + "</svg>"


def no_data(width: float, message: str) -> str:
    """A one-line picture saying why there is nothing to draw."""
    return document(width, 40, [f'<text x="8" y="24">{escape(message)}</text>'], font_size=None)


@dataclass(frozen=True)
class Scale:
    """A linear map of data values ``lo``..``hi`` onto pixels ``start``..``end`` (``end`` < ``start`` for a
    y axis that grows upwards); a zero-width data range maps everything onto ``start``."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        return self.start + ((value - self.lo) / span * (self.end - self.start) if span else 0.0)


BAR_WIDTH, BAR_LEFT, BAR_TOP = 900, 260, 30


def bars_svg(title: str, rows: list[tuple[str, float]], unit: str = "s") -> str:
    """Horizontal bars, one per (label, value): e.g. each group's recovery time."""
    if not rows:
        return document(BAR_WIDTH, 40, [f'<text x="10" y="25">{escape(title)}: no data</text>'], font_size=13)
    top = max(v for _, v in rows) or 1.0
    length = Scale(0.0, top, 0.0, BAR_WIDTH - BAR_LEFT - 80)
    parts = [f'<text x="10" y="18" font-weight="bold">{escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = BAR_TOP + i * 20
        width = length(value)
        parts.append(f'<text x="10" y="{y + 13}" font-size="12">{escape(label[:40])}</text>')
        parts.append(f'<rect x="{BAR_LEFT}" y="{y + 2}" width="{max(width, 1):.1f}" height="14" fill="#4a78c2"/>')
        parts.append(f'<text x="{BAR_LEFT + width + 6:.1f}" y="{y + 13}" font-size="12">{value:.3f} {unit}</text>')
    return document(BAR_WIDTH, BAR_TOP + len(rows) * 20 + 10, parts, font_size=13)
