"""A chaos run as a picture: one lane per fault (applied to reverted, with the efficacy evidence as a
tooltip) above a lane of steady-state checks (green met, red not), on one time axis. Plain SVG, no
plotting library: it is attached to the report next to the journal."""

from __future__ import annotations

from html import escape
from typing import Any

from aisys_verify.svg import Scale, document
from aisys_verify.svg import bars_svg as bars_svg  # the generic chart lives in aisys_verify.svg

WIDTH, LANE, LEFT, TOP = 900, 26, 260, 30


def timeline_svg(journal: dict[str, Any], dots: str = "steady state") -> str:
    """The run's picture; ``dots`` labels the lane of checks (the DR drill's dots are acknowledged writes)."""
    faults = journal.get("faults") or []
    states = journal.get("steady_states") or {}
    checks: list[tuple[float, bool]] = []
    for key in ("before", "after"):
        state = states.get(key)
        if state and state.get("probes"):
            checks.append((float(state["probes"][0]["start"]), bool(state["steady_state_met"])))
    checks += [(float(c["t"]), bool(c["steady_state_met"])) for c in states.get("during") or []]
    times = [t for t, _ in checks] + [float(f[k]) for f in faults for k in ("applied_at", "reverted_at") if f.get(k)]
    if not times:
        return _svg(60, ['<text x="10" y="30">no faults and no steady-state checks recorded</text>'])
    start, end = min(times), max(times)
    span = max(end - start, 1e-3)
    x = Scale(start, start + span, LEFT, WIDTH - 20)

    parts = [f'<text x="10" y="18" font-weight="bold">{escape(str(journal.get("experiment", {}).get("title", "")))}'
             f' - {escape(str(journal.get("status", "")))}</text>']
    for i, fault in enumerate(faults):
        y = TOP + i * LANE
        a = float(fault.get("applied_at") or start)
        r = float(fault.get("reverted_at") or end)
        evidence = (fault.get("efficacy") or {}).get("evidence", "")
        parts.append(f'<text x="10" y="{y + 15}">{escape(str(fault["fault"])[:38])}</text>')
        parts.append(f'<rect x="{x(a):.1f}" y="{y + 3}" width="{max(x(r) - x(a), 2):.1f}" height="{LANE - 8}" '
                     f'fill="#e8743b"><title>{escape(evidence)}; on {r - a:.2f} s</title></rect>')
    y = TOP + len(faults) * LANE
    parts.append(f'<text x="10" y="{y + 15}">{escape(dots)}</text>')
    for t, met in checks:
        parts.append(f'<circle cx="{x(t):.1f}" cy="{y + 10}" r="5" fill="{"#3a9c4a" if met else "#c8352b"}">'
                     f'<title>{"met" if met else "NOT met"} at +{t - start:.2f} s</title></circle>')
    axis = y + LANE + 8
    parts.append(f'<line x1="{LEFT}" y1="{axis}" x2="{WIDTH - 20}" y2="{axis}" stroke="#666"/>')
    for k in range(6):
        t = start + span * k / 5
        parts.append(f'<text x="{x(t) - 12:.1f}" y="{axis + 16}" font-size="11">+{t - start:.1f}s</text>')
    return _svg(axis + 30, parts)


def _svg(height: float, parts: list[str]) -> str:
    return document(WIDTH, height, parts, font_size=13)
