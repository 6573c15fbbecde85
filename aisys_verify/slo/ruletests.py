"""``promtool test rules`` suites for generated SLO rules (aisys_verify.slo.alerts), from synthetic series.

For every SLO and every row of the policy (severity, long window L, short window S, factor F), one test file
whose evaluation step is S / 10, with three scenarios after a baseline of good traffic as long as the
longest window of that severity (the counters the SLO's own selectors pick, synthesised: a series that the
good selector and the total selector select, and one the total selector selects but the good one does not,
or two separate series when the selectors name different metrics or buckets):

* **fires**: a burn at 1.05 F. The alert must not fire at 0.9 L after the burn starts (the long window has
  not yet reached F) and must fire at L ("a burn at the page factor fires the page within the window"). A
  factor 5 % too high, or a long window 10 % off either way, fails one of the two checks.
* **resets**: a strong burn (up to 4 F, as far as the budget allows) for L, then good traffic again: still
  firing half a short window after the burn ends, no longer firing a short window (plus two steps) after.
  A short window that is too long or too short fails one of the two.
* **never**: a burn at 0.9 times the smallest factor of that severity (0.9x of the budget rate for the
  Workbook's ticket) for twice the longest window: the alert never fires.

What to expect at each check is computed from the policy (not from the generated rules: a wrong window or
threshold in the generator must disagree with it) by a model of the windows' error ratios. A check whose
outcome the model cannot call with a margin (1 %, plus 1.5 samples' worth of the burn where a window holds
an edge of it, for rate()'s extrapolation) is left out; a designed check left out is listed in the notes,
as is a row that cannot fire at all (an error ratio over 1) and an SLO whose selectors no synthetic label
value satisfies. Baselines are sparse (about 60 samples) where only windows longer than the row's look.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.slo.alerts import RuleSet, SloRules, alert_name, promql_duration
from aisys_verify.slo.budget import BurnAlert
from aisys_verify.slo.model import Matcher, Selector

__all__ = ["RuleTests", "rule_tests"]

TOTAL_PER_STEP = 10000.0  # events per step of the synthetic series
_CANDIDATES = ("200", "x", "success", "ok", "500", "error", "0", "")


@dataclass(frozen=True)
class RuleTests:
    """Test files (name -> YAML text, each naming ``rules_file`` beside it) and notes on what was left out."""

    files: dict[str, str]
    notes: tuple[str, ...] = field(default=())
    checks: int = 0  # alert checks across all files


# --- synthetic series the SLO's selectors pick -------------------------------------------------------------

def _regex_examples(pattern: str) -> list[str]:
    """Strings a simple regex likely matches ('.*-gpu' -> 'x-gpu', '5..' -> '500'); checked by the caller."""
    out = []
    for alt in pattern.split("|"):
        text = re.sub(r"\.\*|\.\+", "x", alt)
        text = text.replace(".", "0").replace("^", "").replace("$", "")
        if "\\" not in text and not re.search(r"[\[\](){}?*+]", text):
            out.append(text)
    return out


def _value(required: Sequence[Matcher], fail: Matcher | None = None) -> str | None:
    """A label value every matcher of ``required`` accepts and ``fail`` (if given) rejects."""
    candidates: list[str] = []
    for m in (*required, *([fail] if fail else [])):
        candidates += [m.value] if m.op in ("=", "!=") else _regex_examples(m.value)
    for value in (*candidates, *_CANDIDATES):
        if "\\" in value:
            continue  # an escaped value would need PromQL unescaping to compare: not synthesised
        if all(m.matches(value) for m in required) and (fail is None or not fail.matches(value)):
            return value
    return None


def _labels(selectors: Sequence[Selector], fail: Matcher | None = None) -> dict[str, str] | None:
    names = dict.fromkeys(m.label for s in selectors for m in s.matchers)
    if fail is not None:
        names.setdefault(fail.label, None)
    labels = {}
    for name in names:
        required = [m for s in selectors for m in s.matchers if m.label == name]
        value = _value(required, fail if fail is not None and fail.label == name else None)
        if value is None:
            return None
        if value:
            labels[name] = value
    return labels


def _selects(selector: Selector, metric: str, labels: dict[str, str]) -> bool:
    return selector.metric == metric and all(m.matches(labels.get(m.label)) for m in selector.matchers)


def _series_text(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@dataclass(frozen=True)
class _Series:
    """The two synthetic series of one SLO: ``part`` counts the events of its part selector (good, or bad
    with bad_counter); ``other`` counts either the rest of the total (subset) or the whole total."""

    part: str
    other: str
    subset: bool


def synthetic_series(rules: SloRules) -> _Series | None:
    part, total = rules.good, rules.total
    labels = _labels([part, total])
    if labels is not None and _selects(total, part.metric, labels):
        for fail in part.matchers:
            other = _labels([total], fail)
            if other is not None and _selects(total, total.metric, other) and \
                    not _selects(part, total.metric, other):
                return _Series(_series_text(part.metric, labels), _series_text(total.metric, other), True)
        return None
    part_labels = _labels([part])
    total_labels = _labels([total])
    if part_labels is None or total_labels is None or _selects(total, part.metric, part_labels) or \
            _selects(part, total.metric, total_labels):
        return None
    return _Series(_series_text(part.metric, part_labels), _series_text(total.metric, total_labels), False)


def _notation(values: Sequence[float | None]) -> str:
    """promtool's expanding notation for samples (None: missing): runs of a constant increment become
    'a+bxn', runs of missing samples '_xn'."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        if v is None:
            j = i
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            parts.append(f"_x{j - i + 1}")
        else:
            j, inc = i, 0.0
            nxt = values[i + 1] if i + 1 < len(values) else None
            if nxt is not None:
                inc, j = nxt - v, i + 1
                while j + 1 < len(values):
                    w, prev = values[j + 1], values[j]
                    if w is None or prev is None or abs((w - prev) - inc) > 1e-9 * max(1.0, abs(inc)):
                        break
                    j += 1
            parts.append(f"{v:.12g}+{inc:.12g}x{j - i}")
        i = j + 1
    return " ".join(parts)


# --- the model: what the policy says should fire -----------------------------------------------------------

@dataclass(frozen=True)
class _Burn:
    start: float
    end: float
    rate: float  # burn rate (multiple of the budget) during [start, end]; 0 outside


def _window_rate(burn: _Burn, window: float, t: float) -> tuple[float, bool]:
    """The burn rate a ``window`` ending at ``t`` sees (the series start at 0: a window reaching before that
    sees its data only), and whether the window lies inside the burn."""
    span = min(window, t)
    overlap = max(0.0, min(burn.end, t) - max(burn.start, t - span))
    return burn.rate * overlap / span, overlap >= span


def _state(rows: Sequence[tuple[BurnAlert, float]], burn: _Burn, t: float, step: float,
           sparse: tuple[float, float] = (0.0, 0.0)) -> bool | None:
    """True/False when the policy's rows fire/do not fire at ``t`` with a margin; None when too close to call.
    ``sparse``: (until, spacing): samples before ``until`` are ``spacing`` apart, not ``step``."""
    def call(window: float, factor: float) -> bool | None:
        rate, inside = _window_rate(burn, window, t)
        if rate == 0.0:
            return False  # no bad event in the window: rate() is exactly 0
        # a window inside the burn is exact (both counters extrapolate alike); one across an edge of the
        # burn may be off by about one sample's worth of it (1.5 to be safe), a sparse sample where it starts
        # in the sparse part
        spacing = sparse[1] if t - window < sparse[0] else step
        margin = 0.01 * factor + (0.0 if inside else burn.rate * 1.5 * spacing / min(window, t))
        return True if rate >= factor + margin else False if rate <= factor - margin else None

    any_unknown = False
    for row, factor in rows:
        both = [call(row.long_window_s, factor), call(row.short_window_s, factor)]
        if all(b is True for b in both):
            return True
        if False not in both:
            any_unknown = True
    return None if any_unknown else False


# --- the test files ----------------------------------------------------------------------------------------

def _grid(t: float, step: float, up: bool) -> float:
    n = t / step
    return step * (math.ceil(n - 1e-9) if up else math.floor(n + 1e-9))


def _alert(rules: SloRules, severity: str) -> dict[str, Any]:
    rule = next(r for r in rules.group["rules"] if r.get("alert") == alert_name(rules.slo.name, severity))
    return {"exp_labels": {"slo": rules.slo.name, "service": rules.slo.service, "severity": severity},
            "exp_annotations": dict(rule["annotations"])}


def _row_file(rules: SloRules, row: BurnAlert, factors: dict[BurnAlert, float], series: _Series,
              rules_file: str, notes: list[str]) -> tuple[dict[str, Any], int] | None:
    slo, budget = rules.slo, rules.slo.budget
    step = row.short_window_s / 10
    same = [(r, factors[r]) for r in factors if r.severity == row.severity]
    factor = factors[row]
    where = f"{slo.source}: SLO {slo.name} {row.severity} {promql_duration(row.long_window_s)}/" \
            f"{promql_duration(row.short_window_s)}"
    top = 1 / budget  # the burn rate at which every event is bad
    if factor * 1.01 >= top:
        notes.append(f"{where}: not tested: its factor {factor:g} needs an error ratio over 1")
        return None
    long, short = row.long_window_s, row.short_window_s
    # good traffic before a burn as long as the longest window of the severity (so that its rows see the
    # burn diluted as they would in production), sparse where only those longer windows look
    t0 = _grid(max(r.long_window_s for r, _ in same) + 2 * step, step, True)
    dense = max(0.0, t0 - _grid(long + short + 2 * step, step, True))
    every = max(1, round(dense / step / 60))  # at most about 60 samples before the dense part
    name = alert_name(slo.name, row.severity)
    expected = _alert(rules, row.severity)
    tests, checks = [], 0

    def scenario(title: str, burn: _Burn, until: float, designed: list[tuple[float, bool, str]]) -> None:
        nonlocal checks
        sparse_until = min(dense, burn.start)
        sparse = (sparse_until, every * step)
        bad_step = burn.rate * budget * TOTAL_PER_STEP
        part: list[float | None] = []
        other: list[float | None] = []
        bad = total = 0.0
        for k in range(round(until / step) + 1):
            if k > 0:
                total += TOTAL_PER_STEP
                bad += bad_step if burn.start < k * step <= burn.end + 1e-9 else 0.0
            if k * step < sparse_until and k % every:
                part.append(None)
                other.append(None)
                continue
            counted = bad if rules.bad_counter else total - bad
            part.append(counted)
            other.append(total - counted if series.subset else total)
        cases = []
        for t, want, what in designed:
            got = _state(same, burn, t, step, sparse)
            if got is None or got != want:
                notes.append(f"{where}: {title}: check '{what}' left out (the model cannot call it with a margin)")
                continue
            cases.append({"eval_time": promql_duration(t), "alertname": name,
                          "exp_alerts": [expected] if want else []})
        checks += len(cases)
        if cases:
            tests.append({"name": f"{slo.name}: {title}", "interval": promql_duration(step),
                          "input_series": [{"series": series.part, "values": _notation(part)},
                                           {"series": series.other, "values": _notation(other)}],
                          "alert_rule_test": cases})

    fire = min(1.05 * factor, top)
    cross = long * factor / fire  # when the long window reaches the factor
    late = t0 + _grid(min(long, 1.05 * cross), step, True)
    scenario(f"a {fire:g}x burn fires {name} within {promql_duration(long)}", _Burn(t0, late + step, fire),
             late + step, [(t0 + _grid(0.95 * cross, step, False), False, "not yet at 0.9 of the window"),
                           (late, True, "firing within the window")])
    options = [(strong, part) for strong in (4.0, 3.0, 2.5, 2.0, 1.6, 1.3) for part in (1.0, 0.5, 0.25)]
    for strong, part in options:
        reset = min(strong * factor, top)
        burn = _Burn(t0, t0 + _grid(part * long, step, True), reset)
        marks = [(burn.end - step, True, "firing while burning"),
                 (burn.end + _grid(short / 2, step, True), True, "still firing half a short window after"),
                 (burn.end + short + 2 * step, False, "resolved a short window after")]
        sparse = (min(dense, burn.start), every * step)
        if all(_state(same, burn, t, step, sparse) is want for t, want, _ in marks) or (strong, part) == options[-1]:
            scenario(f"a {reset:g}x burn for {promql_duration(burn.end - burn.start)} resets within "
                     f"{promql_duration(short)}", burn, burn.end + short + 3 * step, marks)
            break
    # below every factor of the severity, from the first sample on: no window can reach a factor
    never = 0.9 * min(f for _, f in same)
    span = _grid(2 * long, step, True)
    scenario(f"a {never:g}x burn never fires {name}", _Burn(0.0, span, never), span,
             [(span * k / 4, False, f"not firing at {k}/4 of the burn") for k in range(1, 5)])
    doc = {"rule_files": [rules_file], "evaluation_interval": promql_duration(step), "tests": tests}
    return doc, checks


def rule_tests(rule_set: RuleSet) -> RuleTests:
    """A ``promtool test rules`` file per SLO and policy row of ``rule_set`` (see the module docstring), named
    ``<slo>.<severity>-<long>-<short>.test.yml``, and beside them ``<slo>.rules.yml``, the SLO's own rule
    group as ``rule_set`` has it (one group per test run: promtool evaluates every group of a file at every
    step, so the whole file under every test would be the SLO count times slower)."""
    import yaml

    files: dict[str, str] = {}
    notes: list[str] = []
    checks = 0
    for rules in rule_set.rules:
        series = synthetic_series(rules)
        if series is None:
            notes.append(f"{rules.slo.source}: SLO {rules.slo.name}: not tested: no synthetic label values "
                         f"satisfy its selectors {rules.good} and {rules.total}")
            continue
        # the factors from the policy itself, not from the rules: a generator that got them wrong must fail
        period = rule_set.period_s if rule_set.period_s is not None else rules.slo.period_s
        factors = {row: row.rate(period) for row in rule_set.windows}
        stem = _file_name(rules.slo.name)
        rules_file = f"{stem}.rules.yml"
        for row in rule_set.windows:
            made = _row_file(rules, row, factors, series, rules_file, notes)
            if made is None:
                continue
            doc, n = made
            checks += n
            name = f"{stem}.{row.severity}-{promql_duration(row.long_window_s)}-" \
                   f"{promql_duration(row.short_window_s)}.test.yml"
            files[_file_name(name)] = yaml.safe_dump(doc, sort_keys=False, width=1000)
        files[rules_file] = yaml.safe_dump({"groups": [rules.group]}, sort_keys=False, width=1000)
    return RuleTests(files, tuple(notes), checks)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
