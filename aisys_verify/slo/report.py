"""The verdict table (text for terminals and reports, JSON for machines) and the phase-burn table."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from aisys_verify.slo.budget import PhaseBurn
from aisys_verify.slo.evaluate import Evaluation
from aisys_verify.slo.model import SliKind
from aisys_verify.slo.verdict import Status, Verdict
from aisys_verify.svg import Scale, document, no_data

MARK = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.INCONCLUSIVE: "INCONCL"}


def _row(v: Verdict) -> list[str]:
    needed = f">= {v.needed}" if v.needed is not None else ""
    return [v.slo.name, v.slo.objective_text(), MARK[v.status], v.observed_text(), v.interval_text(),
            str(v.samples), needed, v.source]


def table(evaluation: Evaluation) -> str:
    """One row per SLO: objective, verdict, observed, interval, samples, samples needed, source."""
    head = ["SLO", "objective", "verdict", "observed", f"{_confidence(evaluation.verdicts)} bounds", "n",
            "needs n", "source"]
    rows = [head] + [_row(v) for v in evaluation.verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = ", ".join(f"{len(evaluation.with_status(s))} {s.value}" for s in Status)
    lines.append(f"{len(evaluation.verdicts)} SLOs: {counts}"
                 + (f" over {evaluation.duration_s:.1f} s" if evaluation.duration_s else ""))
    reasons = [f"  {v.slo.name}: {v.reason}" for v in evaluation.verdicts if v.status is not Status.PASS]
    if reasons:
        lines += ["why not pass:", *reasons]
    return "\n".join(lines)


def _confidence(verdicts: Sequence[Verdict]) -> str:
    return f"{verdicts[0].confidence:.0%}" if verdicts else "95%"


def burn_table(slo_name: str, burns: Sequence[PhaseBurn]) -> str:
    """Per phase: events, bad events, the bad events the objective allows among them, burn rate (with its
    interval), the fraction of the period's budget spent, and the Workbook alert rows reached."""
    lines = [f"error budget burn of {slo_name} (period {burns[0].period_s / 86400:g} d)" if burns else slo_name,
             f"{'phase':10s} {'s':>6s} {'n':>6s} {'bad':>5s} {'allowed':>8s} {'burn':>9s} {'burn bounds':>21s} "
             f"{'budget spent':>13s}  alerts"]
    for b in burns:
        bounds = f"[{b.rate_interval.low:.3g}, {b.rate_interval.high:.3g}]" if b.rate_interval else "-"
        lines.append(f"{b.phase:10s} {b.duration_s:6.1f} {b.total:6d} {b.bad:5d} {b.allowed_bad:8.3g} {b.rate:9.3g} "
                     f"{bounds:>21s} {b.consumed:13.3e}  {', '.join(b.alerts) or '-'}")
    return "\n".join(lines)


def write_json(evaluation: Evaluation, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(evaluation.to_json(), indent=2, default=str) + "\n")
    return out


PHASE_COLOURS = ("#4c78a8", "#e45756", "#54a24b", "#b279a2", "#f58518")


def timeline_svg(samples: Sequence[tuple[str, float, float, bool]], phases: Sequence[tuple[str, float, float]],
                 bound_s: float | None = None, title: str = "", width: int = 760, height: int = 300) -> str:
    """Latency against time, one colour per phase, failed requests as crosses, the SLO bound as a line.

    ``samples``: (phase, started epoch s, latency s, ok); ``phases``: (name, start, end).
    """
    if not samples or not phases:
        return no_data(width, f"{title}: no samples")
    t0 = min(p[1] for p in phases)
    t1 = max(p[2] for p in phases)
    top = max([s[2] for s in samples] + [bound_s or 0.0]) * 1.1 or 1.0
    left, right, upper, lower = 56, width - 10, 28, height - 30
    x = Scale(t0, t0 + max(t1 - t0, 1e-9), left, right)
    y = Scale(0.0, top, lower, upper)
    out = [f'<text x="{left}" y="16" font-size="13">{escape(title)}</text>',
           f'<line x1="{left}" y1="{lower}" x2="{right}" y2="{lower}" stroke="#333"/>',
           f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{lower}" stroke="#333"/>']
    colour = {name: PHASE_COLOURS[i % len(PHASE_COLOURS)] for i, (name, _, _) in enumerate(phases)}
    for name, start, end in phases:
        out.append(f'<rect x="{x(start):.1f}" y="{upper}" width="{max(1.0, x(end) - x(start)):.1f}" '
                   f'height="{lower - upper}" fill="{colour[name]}" fill-opacity="0.06"/>')
        out.append(f'<text x="{x(start) + 3:.1f}" y="{upper + 12}" fill="{colour[name]}">{escape(name)}</text>')
    for tick in range(5):
        value = top * tick / 4
        out.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{value * 1000:.0f} ms</text>')
    for phase, started, latency, ok in samples:
        cx, cy = x(started), y(latency)
        if ok:
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="1.6" fill="{colour.get(phase, "#888")}"/>')
        else:
            out.append(f'<path d="M{cx - 3:.1f},{cy - 3:.1f}l6,6m0,-6l-6,6" stroke="#000"/>')
    if bound_s is not None:
        out.append(f'<line x1="{left}" y1="{y(bound_s):.1f}" x2="{right}" y2="{y(bound_s):.1f}" stroke="#d62728" '
                   f'stroke-dasharray="5,3"/><text x="{right}" y="{y(bound_s) - 4:.1f}" text-anchor="end" '
                   f'fill="#d62728">SLO bound {bound_s * 1000:g} ms</text>')
    out.append(f'<text x="{right}" y="{height - 8}" text-anchor="end">{t1 - t0:.1f} s</text>')
    return document(width, height, out, sep="\n")


def _normalised(v: Verdict) -> tuple[float, float, float] | None:
    """(low, point, high) of a verdict as a multiple of its objective's allowance: latency / bound, or bad
    fraction / budget; <= 1 meets the objective."""
    if v.interval is None or v.observed is None:
        return None
    low, high = v.interval
    if v.slo.kind is SliKind.LATENCY and v.slo.latency_bound_s:
        bound = v.slo.latency_bound_s
        return low / bound, v.observed / bound, high / bound
    budget = v.slo.budget
    if v.slo.kind is SliKind.GAUGE or budget <= 0:
        return None
    if v.slo.kind is SliKind.ERROR_RATE:
        return low / 100 / budget, v.observed / 100 / budget, high / 100 / budget
    return (1 - high / 100) / budget, (1 - v.observed / 100) / budget, (1 - low / 100) / budget


def verdicts_svg(evaluation: Evaluation, width: int = 760) -> str:
    """One row per SLO: its interval as a multiple of what the objective allows (log scale, 1 = the
    objective), coloured by verdict; SLOs with no data are listed without a bar."""
    rows = evaluation.verdicts
    row_h, left, right, top = 16, 250, width - 20, 30
    height = top + row_h * len(rows) + 30
    lo_exp, hi_exp = -3, 2  # 0.001x .. 100x

    decades = Scale(lo_exp, hi_exp, left, right)

    def x(value: float) -> float:
        return decades(math.log10(min(max(value, 10.0 ** lo_exp), 10.0 ** hi_exp)))

    colours = {Status.PASS: "#54a24b", Status.FAIL: "#e45756", Status.INCONCLUSIVE: "#f58518"}
    out = ['<text x="8" y="16" font-size="13">SLO verdicts: interval as a multiple of what the '
           'objective allows (1 = the objective; log scale)</text>']
    for exp in range(lo_exp, hi_exp + 1):
        out.append(f'<line x1="{x(10.0 ** exp):.1f}" y1="{top - 4}" x2="{x(10.0 ** exp):.1f}" '
                   f'y2="{height - 26}" stroke="{"#d62728" if exp == 0 else "#ddd"}"/>'
                   f'<text x="{x(10.0 ** exp):.1f}" y="{height - 12}" text-anchor="middle">{10.0 ** exp:g}x</text>')
    for i, v in enumerate(rows):
        y = top + i * row_h + row_h / 2
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{colours[v.status]}">'
                   f'{escape(v.slo.name)} ({MARK[v.status]})</text>')
        span = _normalised(v)
        if span is None:
            out.append(f'<text x="{left + 4}" y="{y + 4:.1f}" fill="#888">{escape(v.reason[:90])}</text>')
            continue
        low, point, high = span
        out.append(f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" '
                   f'stroke="{colours[v.status]}" stroke-width="5" stroke-opacity="0.6"/>'
                   f'<circle cx="{x(point):.1f}" cy="{y:.1f}" r="3" fill="#333"/>')
    return document(width, height, out, sep="\n")
