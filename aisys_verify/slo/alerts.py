"""Prometheus rules from SLOs: recording rules for each SLO's error ratio over each alert window, and the
SRE Workbook's multi-window, multi-burn-rate alerts (ch. 5, Table 5-8; what Sloth generates).

For every SLO that can be judged from counters (availability, error rate, latency, ratio; see
aisys_verify.slo.model) and every window of the policy:

* recording rule ``slo:sli_error:ratio_rate<window>`` (``<window>`` in PromQL's form: 5m, 1h, 3d), labels
  ``slo`` (the SLO's name) and ``service`` (its service): the bad fraction of events over that window,
  built from the SLO's own selectors, not from its query text (whose window and ``* 100`` differ);
* one alert per severity, named :func:`alert_name` (``CoordinationAvailabilityBudgetBurnPage``), labels
  ``slo``, ``service`` and ``severity``: it fires while, for one row of the policy, both the long and the
  short window burn faster than the row's factor. The factor of a row is the Workbook's: the burn rate
  that spends ``budget_fraction`` of the budget within the long window (14.4 for 2 % in 1 h of 30 days).

The error ratio of each kind (selectors as the SLO writes them):

* availability, good-ratio SLOs: ``(sum(rate(total[w])) - (sum(rate(good[w])) or vector(0))) / sum(rate(total[w]))``
* error-rate SLOs (and OpenSLO ``bad`` ratios): ``(sum(rate(bad[w])) or vector(0)) / sum(rate(total[w]))``
* latency SLOs: the same with good = the histogram's bucket at the latency bound and total = its ``+Inf``
  bucket. A bound that is not a bucket bound takes the largest bucket bound below it (so the alert pages
  early, never late) and says so in :attr:`RuleSet.notes`.

``or vector(0)`` keeps the ratio defined when no bad (or no good) series exists yet; with no traffic at all
the ratio is empty and nothing fires. Gauge (resource) SLOs have no error budget and SLOs a run cannot judge
(``SloSpec.unjudged``) get no rules: each is listed in :attr:`RuleSet.notes` with the reason.

The policy is a parameter, so a live test can shrink it (a 1 h window to 1 min, the 30-day period by
the same 60, keeping the factors)::

    fast = tuple(BurnAlert(a.severity, a.long_window_s / 60, a.short_window_s / 60, a.budget_fraction)
                 for a in SRE_WORKBOOK_WINDOWS)
    text = alert_rules(slos, windows=fast, period_s=30 * 86400 / 60, interval_s=5)

Every SLO gets its own rule group (``slo-<name>``); ``interval_s`` sets the groups' evaluation interval
(Prometheus's global one when None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from aisys_verify.errors import InvalidValue, SloSpecError
from aisys_verify.slo.budget import WORKBOOK_ALERTS, BurnAlert
from aisys_verify.slo.model import Matcher, Selector, SliKind, SloSpec

__all__ = ["SRE_WORKBOOK_WINDOWS", "RuleSet", "SloRules", "alert_name", "alert_rules", "promql_duration",
           "record_name", "rule_set"]

SRE_WORKBOOK_WINDOWS: tuple[BurnAlert, ...] = WORKBOOK_ALERTS  # 14.4x 1h/5m and 6x 6h/30m page, 1x 3d/6h ticket

_UNITS = (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1))


def promql_duration(seconds: float) -> str:
    """A PromQL duration: 3600 -> '1h', 90 -> '1m30s', 0.5 -> '500ms' (whole milliseconds only)."""
    ms = round(seconds * 1000)
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6:
        raise InvalidValue(f"a rule window must be a positive whole number of milliseconds, got {seconds!r} s")
    parts = []
    for unit, size in _UNITS:
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


def record_name(window_s: float) -> str:
    """The recording rule holding an SLO's error ratio over ``window_s``: ``slo:sli_error:ratio_rate1h``."""
    return f"slo:sli_error:ratio_rate{promql_duration(window_s)}"


def alert_name(slo: str, severity: str) -> str:
    """The alert of one SLO and severity: ('coordination_availability', 'page') ->
    'CoordinationAvailabilityBudgetBurnPage'."""
    words = re.findall(r"[A-Za-z0-9]+", f"{slo} budget burn {severity}")
    return "".join(w[:1].upper() + w[1:] for w in words)


@dataclass(frozen=True)
class SloRules:
    """The rules of one SLO: its group (as Prometheus reads it) and what the tests need to know."""

    slo: SloSpec
    group: dict[str, Any]
    good: Selector  # with bad_counter, the bad events
    total: Selector
    bad_counter: bool
    thresholds: tuple[tuple[BurnAlert, float], ...]  # each policy row with its error-ratio threshold


@dataclass(frozen=True)
class RuleSet:
    """Rule groups for a set of SLOs, the policy they were built with, and notes on what got no rule."""

    rules: tuple[SloRules, ...]
    windows: tuple[BurnAlert, ...]
    interval_s: float | None = None
    notes: tuple[str, ...] = field(default=())
    period_s: float | None = None  # the period the factors were computed over (each SLO's own when None)

    def document(self) -> dict[str, Any]:
        return {"groups": [r.group for r in self.rules]}

    def yaml(self) -> str:
        import yaml

        head = "".join(f"# note: {n}\n" for n in self.notes)
        return ("# Generated by aisys-verify (aisys_verify.slo.alerts) from the SLO definitions; do not edit.\n"
                + head + yaml.safe_dump(self.document(), sort_keys=False, width=1000))


def _exact(value: float) -> Fraction:
    return Fraction(repr(value))


def _bucket_matcher(bound: float) -> Matcher:
    # exporters write a bucket bound their own way (Python's client '1.0', Go's '1'): accept both spellings
    forms = sorted({repr(float(bound)), f"{bound:g}"})
    return Matcher("le", "=", forms[0]) if len(forms) == 1 else Matcher("le", "=~", "|".join(forms))


def _latency_selectors(slo: SloSpec, buckets: Sequence[float], notes: list[str]) -> tuple[Selector, Selector] | None:
    base = slo.total
    if base is None or slo.latency_bound_s is None or not base.metric.endswith("_bucket"):
        notes.append(f"{slo.source}: SLO {slo.name}: no rules: a latency SLO needs a histogram's *_bucket "
                     "selector and a bound")
        return None
    bound = slo.latency_bound_s
    below = [b for b in sorted(buckets) if b <= bound * (1 + 1e-9)]
    if not below:
        notes.append(f"{slo.source}: SLO {slo.name}: no rules: its bound {bound:g} s is below every bucket")
        return None
    used = below[-1]
    if abs(used - bound) > bound * 1e-9:
        notes.append(f"{slo.source}: SLO {slo.name}: its bound {bound:g} s is not a bucket bound: the rules count "
                     f"requests over {used:g} s as bad (the alerts page early, never late)")
    keep = tuple(m for m in base.matchers if m.label != "le")
    return (Selector(base.metric, (*keep, _bucket_matcher(used))),
            Selector(base.metric, (*keep, Matcher("le", "=", "+Inf"))))


def _ratio(good: Selector, total: Selector, bad_counter: bool, window: str) -> str:
    t = f"sum(rate({total}[{window}]))"
    g = f"(sum(rate({good}[{window}])) or vector(0))"
    return f"{g} / {t}" if bad_counter else f"({t} - {g}) / {t}"



def _for_slo(slo: SloSpec, windows: tuple[BurnAlert, ...], period_s: float | None, interval_s: float | None,
             buckets: Sequence[float], notes: list[str]) -> SloRules | None:
    if slo.unjudged:
        notes.append(f"{slo.source}: SLO {slo.name}: no rules: {slo.unjudged}")
        return None
    if slo.kind is SliKind.GAUGE:
        notes.append(f"{slo.source}: SLO {slo.name}: no rules: a resource level has no error budget to burn")
        return None
    if slo.kind is SliKind.LATENCY:
        pair = _latency_selectors(slo, buckets, notes)
        if pair is None:
            return None
        good, total = pair
        bad_counter = False
    elif slo.good is None or slo.total is None:
        notes.append(f"{slo.source}: SLO {slo.name}: no rules: its query names no good and total counters")
        return None
    else:
        good, total, bad_counter = slo.good, slo.total, slo.bad_counter
    budget = _exact(slo.budget)
    labels = {"slo": slo.name, "service": slo.service}
    spans = sorted({w for a in windows for w in (a.long_window_s, a.short_window_s)})
    rules: list[dict[str, Any]] = [
        {"record": record_name(w), "expr": _ratio(good, total, bad_counter, promql_duration(w)), "labels": dict(labels)}
        for w in spans]  # a dict per rule: a shared one would come out as YAML anchors
    period = period_s if period_s is not None else slo.period_s
    thresholds = []
    for row in windows:
        factor = _exact(row.rate(period))
        threshold = factor * budget
        thresholds.append((row, float(threshold)))
        if threshold >= 1:
            notes.append(f"{slo.source}: SLO {slo.name}: its {row.severity} alert at {float(factor):g}x over "
                         f"{promql_duration(row.long_window_s)} can never fire: an error ratio of "
                         f"{float(threshold):g} is over 1 (the budget {float(budget):g} is too large for the factor)")
    selector = f'{{slo="{_escape(slo.name)}"}}'
    for severity in dict.fromkeys(row.severity for row in windows):
        terms, text = [], []
        for row, limit in thresholds:
            if row.severity != severity:
                continue
            terms.append(f"({record_name(row.long_window_s)}{selector} > {limit!r} and "
                         f"{record_name(row.short_window_s)}{selector} > {limit!r})")
            text.append(f"{float(_exact(row.rate(period))):g}x over both {promql_duration(row.long_window_s)} and "
                        f"{promql_duration(row.short_window_s)}")
        rules.append({
            "alert": alert_name(slo.name, severity), "expr": " or ".join(terms),
            "labels": {"severity": severity},
            "annotations": {
                "summary": f"SLO {slo.name} ({slo.objective_text()}) is burning its error budget",
                "description": f"burn rate above {', or '.join(text)} (error budget {float(budget):g} of the "
                               f"events); defined at {slo.source}"}})
    group: dict[str, Any] = {"name": f"slo-{slo.name}", "rules": rules}
    if interval_s is not None:
        group = {"name": group["name"], "interval": promql_duration(interval_s), "rules": rules}
    return SloRules(slo, group, good, total, bad_counter, tuple(thresholds))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def rule_set(slos: Iterable[SloSpec], *, windows: Sequence[BurnAlert] = SRE_WORKBOOK_WINDOWS,
             period_s: float | None = None, interval_s: float | None = None,
             buckets: Sequence[float] | None = None) -> RuleSet:
    """The rules of every SLO that has an error budget, and notes on the others (see the module docstring).

    ``windows``: the policy rows (severity, long and short window, budget fraction); ``period_s``: the budget
    period the factors are computed over (each SLO's own when None, 30 days for slo-config.yaml);
    ``interval_s``: the groups' evaluation interval; ``buckets``: the latency histogram's bucket bounds (the
    stand-ins' when None). Two SLOs with one name are a SloSpecError (their groups would clash).
    """
    rows = tuple(windows)
    if not rows:
        raise InvalidValue("an alert policy needs at least one row (severity, long and short window)")
    for row in rows:
        if row.short_window_s > row.long_window_s or not 0 < row.budget_fraction <= 1:
            raise InvalidValue(f"policy row {row}: the short window must not exceed the long one and the budget "
                               "fraction must be in (0, 1]")
    if buckets is None:
        from aisys_verify.standin.metrics import BUCKETS

        buckets = BUCKETS
    notes: list[str] = []
    out: list[SloRules] = []
    seen: dict[str, str] = {}
    for slo in slos:
        if slo.name in seen:
            raise SloSpecError(f"SLO name {slo.name!r} is defined twice ({seen[slo.name]} and {slo.source}): "
                               "its rule groups would clash", hint="rename one of them")
        seen[slo.name] = slo.source
        rules = _for_slo(slo, rows, period_s, interval_s, buckets, notes)
        if rules is not None:
            out.append(rules)
    return RuleSet(tuple(out), rows, interval_s, tuple(notes), period_s)


def alert_rules(slos: Iterable[SloSpec], *, windows: Sequence[BurnAlert] = SRE_WORKBOOK_WINDOWS,
                period_s: float | None = None, interval_s: float | None = None,
                buckets: Sequence[float] | None = None) -> str:
    """A Prometheus rule file (YAML text) for ``slos``: the same as ``rule_set(...).yaml()``; the notes on
    SLOs that got no rule are comments at its top."""
    return rule_set(slos, windows=windows, period_s=period_s, interval_s=interval_s, buckets=buckets).yaml()
