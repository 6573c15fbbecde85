"""Resource SLOs (``SliKind.GAUGE``) judged from gauge readings taken during a run (resources.py).

The SLO config's resource queries come in three forms, each read here as PromQL computes it over the
run's window (the query's own ``[5m]`` / ``5m`` window read as "the run", as for the other SLOs):

* ``avg(M{...}) * 100`` (GPU utilisation): the mean over the selected series at each reading, x 100;
* ``(1 - (A{...} / B{...})) * 100`` (memory used): 100 x (1 - sum A / sum B) at each reading;
* ``100 - (avg(rate(M{...}[w])) * 100)`` (CPU busy from the idle counter): the rate over the run
  (last - first reading), averaged over the selected series, and per pair of readings for the range.

The level is the time mean of those readings (the CPU form: the rate over the whole run); the verdict
passes when it lies within [lower, upper] and fails otherwise. Its interval is the range of the readings
(not a confidence bound: a gauge has no sampling error to bound, only variation over time). Fewer than
``MIN_READINGS`` readings, or none with a selected series, is inconclusive, with the reason. A query of
another form is inconclusive ("not judged: ...") rather than guessed at.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aisys_verify.slo.model import Selector, SloSpec, parse_selectors
from aisys_verify.slo.prom import Labels, Scrape
from aisys_verify.slo.verdict import DEFAULT_CONFIDENCE, Status, Verdict, no_data

SOURCE = "resource gauges"
MIN_READINGS = 3

_SEL = r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?"
_AVG = re.compile(rf"^avg\s*\(\s*{_SEL}\s*\)\s*\*\s*100$")
_USED = re.compile(rf"^\(\s*1\s*-\s*\(\s*{_SEL}\s*/\s*{_SEL}\s*\)\s*\)\s*\*\s*100$")
_BUSY = re.compile(rf"^100\s*-\s*\(\s*avg\s*\(\s*rate\s*\(\s*{_SEL}\s*\[[^\]]+\]\s*\)\s*\)\s*\*\s*100\s*\)$")


@dataclass(frozen=True)
class GaugeReadings:
    """What a ResourceSampler took during a run: its readings in order, and the sources it could not read."""

    readings: tuple[Scrape, ...]
    dropped: Mapping[str, str] = field(default_factory=dict)


def _selector(metric: str, body: str, where: str) -> Selector:
    return parse_selectors(f"{metric}{body or ''}[1m]", where)[0]  # the range suffix only reuses the parser


def _picked(reading: Scrape, selector: Selector) -> dict[Labels, float]:
    return {labels: value for (metric, labels), value in reading.samples.items()
            if metric == selector.metric and all(m.matches(dict(labels).get(m.label)) for m in selector.matchers)}


def levels(slo: SloSpec, readings: Sequence[Scrape]) -> tuple[list[tuple[float, float]], float | None] | str:
    """((time, level) per reading or pair of readings, the run's level or None) for a resource SLO's query,
    or why its query is not judged here."""
    query = " ".join(slo.query.split())
    where = slo.source or slo.name
    if m := _AVG.match(query):
        sel = _selector(m.group(1), m.group(2), where)
        found = [(r.taken_at, 100 * sum(v.values()) / len(v)) for r in readings if (v := _picked(r, sel))]
        return found, None
    if m := _USED.match(query):
        used, total = _selector(m.group(1), m.group(2), where), _selector(m.group(3), m.group(4), where)
        found = []
        for r in readings:
            a, b = _picked(r, used), _picked(r, total)
            if a and b and sum(b.values()) > 0:
                found.append((r.taken_at, 100 * (1 - sum(a.values()) / sum(b.values()))))
        return found, None
    if m := _BUSY.match(query):
        sel = _selector(m.group(1), m.group(2), where)
        seen = [(r.taken_at, v) for r in readings if (v := _picked(r, sel))]
        pairs = []
        for (t0, v0), (t1, v1) in itertools.pairwise(seen):
            if t1 > t0:
                pairs.append((t1, 100 - 100 * _mean_rate(v0, v1, t1 - t0)))
        run = 100 - 100 * _mean_rate(seen[0][1], seen[-1][1], seen[-1][0] - seen[0][0]) \
            if len(seen) >= 2 and seen[-1][0] > seen[0][0] else None
        return pairs, run
    return ("not judged: its query is none of the resource forms read here (avg(M) * 100, (1 - (A / B)) * 100, "
            "100 - (avg(rate(M[w])) * 100))")


def _mean_rate(before: dict[Labels, float], after: dict[Labels, float], seconds: float) -> float:
    rates = [(after[k] - before[k] if after[k] >= before[k] else after[k]) / seconds for k in after if k in before]
    return sum(rates) / len(rates) if rates else 0.0


def judge_gauge(slo: SloSpec, gauges: GaugeReadings, confidence: float = DEFAULT_CONFIDENCE) -> Verdict:
    """A resource SLO from the run's gauge readings (see the module's docstring)."""
    dropped = gauges.dropped
    got = levels(slo, gauges.readings)
    if isinstance(got, str):
        return no_data(slo, got, confidence, SOURCE)
    found, run_level = got
    if not found:
        why = f"no data: no gauge reading has a series its query selects ({' '.join(slo.query.split())})"
        if dropped:
            why += "; sources not read: " + "; ".join(f"{k}: {v}" for k, v in sorted(dropped.items()))
        return no_data(slo, why, confidence, SOURCE)
    values = [level for _, level in found]
    n = len(values)
    if n < MIN_READINGS:
        return Verdict(slo, Status.INCONCLUSIVE, sum(values) / n, (min(values), max(values)), n, confidence,
                       f"{n} reading(s): a level needs >= {MIN_READINGS} over the run", MIN_READINGS, SOURCE)
    observed = run_level if run_level is not None else sum(values) / n
    low, high = slo.lower_level, slo.objective
    outside = sum(1 for v in values if v > high or (low is not None and v < low))
    band = f"[{low:g}, {high:g}]" if low is not None else f"<= {high:g}"
    span = found[-1][0] - found[0][0]
    what = "rate over the run" if run_level is not None else "mean"
    inside = observed <= high and (low is None or observed >= low)
    reason = (f"the {what} of {n} readings over {span:.1f} s is {observed:.4g}, {'within' if inside else 'outside'} "
              f"{band}; {outside} of {n} readings were outside it")
    return Verdict(slo, Status.PASS if inside else Status.FAIL, observed, (min(values), max(values)), n, confidence,
                   reason, None, SOURCE, "readings' range", outside)


def exposition(reading: Scrape) -> str:
    """One reading in Prometheus's text format (counters are the names ending in _total)."""
    lines: list[str] = []
    typed: set[str] = set()
    for (metric, labels), value in sorted(reading.samples.items()):
        if metric not in typed:
            typed.add(metric)
            lines.append(f"# TYPE {metric} {'counter' if metric.endswith('_total') else 'gauge'}")
        body = ",".join(f'{k}="{v}"'.replace("\n", "\\n") for k, v in
                        ((k, v.replace("\\", "\\\\").replace('"', '\\"')) for k, v in labels))
        lines.append(f"{metric}{{{body}}} {value:.17g}" if body else f"{metric} {value:.17g}")
    return "\n".join(lines) + "\n"
