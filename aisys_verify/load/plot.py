"""A dependency-free SVG of a load run: what the shape asked for against what was delivered, per second,
and the p99 latency per second is not here (the histograms are per phase): per phase p99 is in the legend."""

from __future__ import annotations

import math
from html import escape

from aisys_verify.load.results import LoadResults
from aisys_verify.svg import Scale, document, no_data

_W, _H, _PAD = 720, 260, 44


def render_svg(results: LoadResults) -> str:
    """Requests/s delivered (bars), target rate or users (line), actual users (dots), phases (bands)."""
    per_second: dict[float, dict[str, float]] = {}
    for row in results.timeseries():
        t = float(row["t"])
        cell = per_second.setdefault(t, {"requests": 0.0, "failures": 0.0, "users": float(row["users"]),
                                         "target_users": float(row["target_users"]),
                                         "target_rate": float(row["target_rate"])})
        cell["requests"] += float(row["requests"])
        cell["failures"] += float(row["failures"])
    if not per_second:
        return no_data(_W, "no data")
    seconds = sorted(per_second)
    t0, t1 = results.started_at, max(results.ended_at, seconds[-1] + 1)
    open_model = results.model == "open"
    target_key = "target_rate" if open_model else "target_users"
    top = max([c["requests"] for c in per_second.values()] + [c[target_key] for c in per_second.values()
                                                               if math.isfinite(c[target_key])] + [1.0]) * 1.1
    users_top = max([c["users"] for c in per_second.values()] + [c["target_users"] for c in per_second.values()]
                    + [1.0]) * 1.1

    x = Scale(t0, t1, _PAD, _W - _PAD)

    def y(v: float, scale: float) -> float:
        return Scale(0.0, scale, _H - _PAD, _PAD)(v)

    parts = [f'<rect width="{_W}" height="{_H}" fill="white"/>']
    for i, phase in enumerate(results.phases):
        lat = results.latencies(phase=phase.name)
        label = escape(phase.name) + (f" p99 {lat.quantile(0.99) * 1e3:.0f} ms" if lat.count else "")
        parts.append(f'<rect x="{x(phase.start):.1f}" y="{_PAD}" width="{x(phase.end) - x(phase.start):.1f}" '
                     f'height="{_H - 2 * _PAD}" fill="{"#f2f5fa" if i % 2 else "#e6ecf5"}"/>'
                     f'<text x="{x(phase.start) + 3:.1f}" y="{_PAD - 4}">{label}</text>')
    width = max(1.0, (x(t0 + 1) - x(t0)) * 0.8)  # 80% of a second
    for t in seconds:
        c = per_second[t]
        parts.append(f'<rect x="{x(t):.1f}" y="{y(c["requests"], top):.1f}" width="{width:.1f}" '
                     f'height="{y(0, top) - y(c["requests"], top):.1f}" fill="#7aa6d8"/>')
        if c["failures"]:
            parts.append(f'<rect x="{x(t):.1f}" y="{y(c["failures"], top):.1f}" width="{width:.1f}" '
                         f'height="{y(0, top) - y(c["failures"], top):.1f}" fill="#d9534f"/>')
    if open_model:
        line = " ".join(f"{x(t + 0.5):.1f},{y(per_second[t]['target_rate'], top):.1f}" for t in seconds)
    else:
        line = " ".join(f"{x(t + 0.5):.1f},{y(per_second[t]['target_users'], users_top):.1f}" for t in seconds)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#333" stroke-width="2"/>')
    for t in seconds:
        parts.append(f'<circle cx="{x(t + 0.5):.1f}" cy="{y(per_second[t]["users"], users_top):.1f}" r="2.5" '
                     f'fill="#e08a00"/>')
    total, failed = results.counts()
    title = (f"{escape(results.scenario)}: {results.shape}, {results.model} model, {total} requests, {failed} failed"
             + (", GENERATOR SATURATED" if results.saturated else ""))
    legend = ("bars: requests/s by intended start (red: failed); line: target rate; dots: users"
              if open_model else "bars: requests/s (red: failed); line: target users; dots: actual users")
    parts.append(f'<text x="{_PAD}" y="16" font-size="13" font-weight="bold">{title}</text>'
                 f'<text x="{_PAD}" y="{_H - 12}">{legend}; requests/s axis max {top:.0f}, users axis max '
                 f'{users_top:.0f}</text><line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" '
                 'stroke="#999"/>')
    return document(_W, _H, parts)
