"""The SLO config's own PromQL, run on a real Prometheus over a run's window, judged and checked.

For each SLO the engine can judge:

1. every series selector of its query must select something in the window; one that does not is a
   **finding** naming the SLO file's line and why (no such metric, with the names close to it; or a label
   matcher no series of that metric satisfies, with the values it has). A numerator that counts bad events
   (``status=~"5.."``) may select nothing (no errors yet): there only its metric and label names are checked;
2. the query itself, its range (``[24h]``, ``[5m]``) replaced by the run's window, evaluated at the window's
   end: the value the SLO file claims (percent, or seconds for ``histogram_quantile``);
3. that value judged with the engine's statistics: a ratio as counts (the total counter's increase over the
   window, the query's fraction of it: Clopper-Pearson), a latency from the histogram's bucket increases
   (order statistics on counts, ``judge_latency``);
4. compared with the run's exact measurement (the ``Evaluation`` the engine made from the load run and the
   agents' counter deltas): a ratio that differs by more than a few events' worth, a quantile outside the
   histogram bucket (or its neighbours) of the agents' own counts, or verdicts that contradict (pass against
   fail), is a finding: the query does not compute what the counters it reads say. A latency query is also
   compared with the load run's exact per-request latencies (client side): a gap beyond the buckets there is a
   **gap**, reported with the file line but not a finding, since the SLO's histogram measures the agent's own
   time and cannot see queueing before it or the hop to it (it says what users saw that the query misses).

Gauge SLOs (host and GPU levels) are evaluated as written and judged as a level when they select anything;
when they select nothing (no node exporter or NVML exporter here), they are listed as not judged, never passed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aisys_verify.errors import PrometheusError, PromqlFinding
from aisys_verify.observe.api import PrometheusClient
from aisys_verify.slo.data import BucketLatencies, Counts
from aisys_verify.slo.evaluate import METRICS, Evaluation
from aisys_verify.slo.model import Selector, SliKind, SloSpec, parse_selectors
from aisys_verify.slo.prom import bucket_bounds
from aisys_verify.slo.verdict import DEFAULT_CONFIDENCE, Status, Verdict, judge_latency, judge_ratio, no_data

PROMQL = "PromQL"
# a quoted string (kept as it is: a label value may hold "[5m]") or a range selector's duration
_RANGE = re.compile(r'"(?:[^"\\]|\\.)*"|\[\s*[0-9]+[smhdwy]\s*\]')
RATIO_SLACK_EVENTS = 3  # rate() at scrape boundaries may gain or lose a request or two per counter


@dataclass(frozen=True)
class PromqlResult:
    slo: SloSpec
    query: str  # the SLO's own query over the run's window, as sent
    value: float | None  # what it gave (percent; seconds for a latency quantile), None: nothing
    verdict: Verdict  # that value judged with the engine's statistics
    exact: Verdict | None  # the run's exact measurement (None: not evaluated)
    findings: tuple[str, ...] = ()  # each 'file:line: SLO name: what'
    notes: tuple[str, ...] = ()  # worth knowing, not wrong (an error-rate query that reads 'no data' at 0 errors)
    gaps: tuple[str, ...] = ()  # a latency query against what clients measured: what the server's histogram misses

    @property
    def judged(self) -> bool:
        return self.verdict.status is not Status.INCONCLUSIVE or self.verdict.samples > 0


@dataclass(frozen=True)
class PromqlEvaluation:
    results: tuple[PromqlResult, ...]
    start: float
    end: float
    url: str

    def findings(self) -> list[str]:
        return [f for r in self.results for f in r.findings]

    def notes(self) -> list[str]:
        return [n for r in self.results for n in r.notes]

    def gaps(self) -> list[str]:
        return [g for r in self.results for g in r.gaps]

    def by_name(self, name: str) -> PromqlResult:
        for result in self.results:
            if result.slo.name == name:
                return result
        raise KeyError(f"no SLO named {name!r}; known: {', '.join(r.slo.name for r in self.results)}")

    def assert_clean(self) -> PromqlEvaluation:
        """PromqlFinding (an AssertionError) listing every finding, or self."""
        __tracebackhide__ = True
        found = self.findings()
        if found:
            raise PromqlFinding(f"{len(found)} finding(s) in the SLO config's PromQL, run on {self.url} over "
                                f"{self.end - self.start:.0f} s:\n" + "\n".join(f"  {f}" for f in found),
                                tuple(found))
        return self

    def table(self) -> str:
        rows = [("SLO", "objective", "PromQL value", "PromQL verdict", "exact value", "exact verdict", "source",
                 "check")]
        for r in self.results:
            exact = r.exact
            rows.append((r.slo.name, r.slo.objective_text(), _shown(r.value, r.slo),
                         f"{r.verdict.status.value.upper()[:7]} n={r.verdict.samples}",
                         exact.observed_text() if exact else "-",
                         f"{exact.status.value.upper()[:7]} n={exact.samples}" if exact else "-",
                         exact.source if exact else "-", _check(r)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        judged = sum(1 for r in self.results if r.judged)
        lines.append(f"{len(self.results)} SLOs: {judged} judged from PromQL on {self.url} over "
                     f"{self.end - self.start:.1f} s, {len(self.findings())} finding(s)")
        lines += [f"  finding: {f}" for f in self.findings()]
        lines += [f"  gap: {g}" for g in self.gaps()]
        lines += [f"  note: {n}" for n in self.notes()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {"prometheus": self.url, "start": self.start, "end": self.end, "findings": self.findings(),
                "results": [{"slo": r.slo.name, "query": r.query, "value": r.value, "verdict": r.verdict.to_json(),
                             "exact": r.exact.to_json() if r.exact else None, "findings": list(r.findings),
                             "gaps": list(r.gaps), "notes": list(r.notes)}
                            for r in self.results]}


def _check(result: PromqlResult) -> str:
    return "FINDING" if result.findings else "gap" if result.gaps else "note" if result.notes else "ok"


def _shown(value: float | None, slo: SloSpec) -> str:
    if value is None:
        return "nothing"
    unit = " s" if slo.kind is SliKind.LATENCY else "" if slo.kind is SliKind.GAUGE else " %"
    return f"{value:.4g}{unit}"


def over_window(query: str, seconds: float) -> str:
    """The query with every range selector's duration replaced by ``seconds`` (whole, at least 1)."""
    window = f"[{max(1, math.ceil(seconds))}s]"
    return _RANGE.sub(lambda m: m.group(0) if m.group(0).startswith('"') else window, query.strip())


def evaluate_promql(slos: Sequence[SloSpec], client: PrometheusClient, start: float, end: float, *,
                    exact: Evaluation | None = None, confidence: float = DEFAULT_CONFIDENCE) -> PromqlEvaluation:
    """Every SLO's own query over [start, end] (epoch seconds) on ``client``'s Prometheus; see the module doc."""
    results = [_one(slo, client, start, end, exact, confidence) for slo in slos]
    return PromqlEvaluation(tuple(results), start, end, client.url)


def _exact(exact: Evaluation | None, name: str) -> Verdict | None:
    if exact is None:
        return None
    try:
        return exact.by_name(name)
    except KeyError:
        return None


def _server_side(exact: Evaluation | None, name: str) -> Verdict | None:
    """The verdict the engine made from the agents' own counters (the series the query reads), if any."""
    if exact is None:
        return None
    return next((v for v in (*exact.verdicts, *exact.others) if v.slo.name == name and v.source == METRICS
                 and v.samples), None)


def _one(slo: SloSpec, client: PrometheusClient, start: float, end: float, exact_eval: Evaluation | None,
         confidence: float) -> PromqlResult:
    exact = _exact(exact_eval, slo.name)
    window = end - start
    query = over_window(slo.query, window) if slo.query else ""
    if slo.unjudged or not slo.query:
        why = slo.unjudged or "it has no query"
        return PromqlResult(slo, query, None, no_data(slo, f"not judged: {why}", confidence, PROMQL), exact)
    where = f"{slo.source}: SLO {slo.name}"
    if slo.kind is SliKind.GAUGE:
        return _gauge(slo, client, query, end, exact, confidence)
    findings = []
    selectors = parse_selectors(slo.query, where)
    for i, selector in enumerate(selectors):
        loose = slo.bad_counter and i == 0  # counting errors: may select nothing while there are none
        why = _empty_why(client, selector, start, end, names_only=loose)
        if why:
            findings.append(f"{where}: {selector} {why}")
            break  # the first empty selector says it; the others usually repeat its matcher
    try:
        value = client.value(query, end)
    except PrometheusError as exc:
        findings.append(f"{where}: Prometheus rejects the query: {exc}")
        value = None
    if findings:
        return PromqlResult(slo, query, value, no_data(slo, "no data: " + findings[0], confidence, PROMQL), exact,
                            tuple(findings))
    notes = []
    if value is None and slo.bad_counter and slo.good is not None \
            and not client.series_count(str(slo.good), start, end):
        value = 0.0  # no error series at all: 0 errors, which the total's increase below confirms has a base
        notes.append(f"{where}: the query reads 'no data', not 0, while there are no errors ({slo.good} selects "
                     "no series, and a sum over none is empty): dashboards and alerts on it see nothing until the "
                     "first error; '(sum(rate(...)) or vector(0))' would read 0")
    if slo.kind is SliKind.LATENCY:
        verdict = _latency_verdict(slo, client, window, end, confidence)
    else:
        verdict = _ratio_verdict(slo, client, value, window, end, confidence)
    if value is None and verdict.samples > 0:
        findings.append(f"{where}: the query gives no value over the run's {window:.0f} s although its selectors "
                        f"count {verdict.samples} events")
    server = _server_side(exact_eval, slo.name)
    gaps: list[str] = []
    if slo.kind is SliKind.LATENCY and (why := _tails_differ(slo, verdict, server)):
        notes.append(f"{where}: {why}")  # a quantile comparison could not fail or pass honestly: say so instead
    elif slo.kind is SliKind.LATENCY:
        findings += _disagreements(slo, where, value, verdict, server)
        if exact is not None and exact is not server:  # the clients' view (load run)
            gaps += _disagreements(slo, where, value, verdict, exact)
    else:
        findings += _disagreements(slo, where, value, verdict, server or exact)
    return PromqlResult(slo, query, value, verdict, exact, tuple(findings), tuple(notes), tuple(gaps))


def _gauge(slo: SloSpec, client: PrometheusClient, query: str, end: float, exact: Verdict | None,
           confidence: float) -> PromqlResult:
    missing = [str(s) for s in parse_selectors(slo.query, slo.name) if client.value(f"count({s})", end) is None]
    try:
        value = client.value(query, end)
    except PrometheusError:
        value = None
    if value is None:
        shown = ", ".join(missing) or "its series"
        return PromqlResult(slo, query, None, no_data(slo, f"not judged: nothing in Prometheus selects {shown} (no "
                                                      "node or GPU exporter runs beside this stack)",
                                                      confidence, PROMQL), exact)
    low = slo.lower_level if slo.lower_level is not None else -math.inf
    status = Status.PASS if low <= value <= slo.objective else Status.FAIL
    verdict = Verdict(slo, status, value, (value, value), 1, confidence,
                      f"the level at the run's end is {value:.4g} (objective {slo.objective_text()})", None, PROMQL,
                      "instant value")
    return PromqlResult(slo, query, value, verdict, exact)


def _empty_why(client: PrometheusClient, selector: Selector, start: float, end: float, *,
               names_only: bool = False) -> str:
    """'' when the selector selects series in [start, end]; else why not, for a reader to fix the query."""
    if not names_only and client.series_count(str(selector), start, end):
        return ""
    if not client.series_count(selector.metric, start, end):
        names = client.label_values("__name__")
        close = difflib.get_close_matches(selector.metric, names, n=3, cutoff=0.6)
        return (f"selects nothing: Prometheus has no metric named {selector.metric}"
                + (f" (close: {', '.join(close)})" if close else ""))
    have: set[str] = set()
    for labels in client.series(selector.metric, start, end):
        have |= set(labels)
    for matcher in selector.matchers:
        if matcher.label not in have:
            return (f"selects nothing: no series of {selector.metric} has a label {matcher.label!r} (its labels: "
                    f"{', '.join(sorted(have - {'__name__'}))})")
    if names_only:
        return ""
    for matcher in selector.matchers:
        if not client.series_count(str(Selector(selector.metric, (matcher,))), start, end):
            values = sorted(client.label_values(matcher.label, selector.metric))
            return (f"selects nothing: {matcher} matches none of the values {selector.metric} has for "
                    f"{matcher.label!r}: {', '.join(values[:12])}{' ...' if len(values) > 12 else ''}")
    return "selects nothing: each label matcher selects series, but no series satisfies all of them"


def _ratio_verdict(slo: SloSpec, client: PrometheusClient, value: float | None, window: float, end: float,
                   confidence: float) -> Verdict:
    assert slo.total is not None
    total = client.value(f"sum(increase({slo.total}[{max(1, math.ceil(window))}s]))", end)
    n = round(total or 0.0)
    if n <= 0 or value is None:
        return no_data(slo, "no data: no events were counted over the run's window", confidence, PROMQL)
    fraction = min(1.0, max(0.0, value / 100))
    bad = round(n * fraction) if slo.kind is SliKind.ERROR_RATE else n - round(n * fraction)
    return judge_ratio(slo, Counts(n - bad, n), confidence, PROMQL)


def _latency_verdict(slo: SloSpec, client: PrometheusClient, window: float, end: float,
                     confidence: float) -> Verdict:
    assert slo.total is not None
    buckets = client.query(f"sum by (le) (increase({slo.total}[{max(1, math.ceil(window))}s]))", end)
    rows = sorted((bucket_bounds(s.labels.get("le", "+Inf")), s.value) for s in buckets) \
        if isinstance(buckets, list) else []
    if not rows or round(rows[-1][1]) <= 0:
        return no_data(slo, "no data: the histogram counted nothing over the run's window", confidence, PROMQL)
    cumulative, running = [], 0
    for _, count in rows:  # increase() extrapolates each bucket alone: keep the counts cumulative
        running = max(running, round(count))
        cumulative.append(running)
    return judge_latency(slo, BucketLatencies(tuple(b for b, _ in rows), tuple(cumulative)), confidence, PROMQL)


def _disagreements(slo: SloSpec, where: str, value: float | None, verdict: Verdict,
                   exact: Verdict | None) -> list[str]:
    if exact is None or exact.observed is None or value is None or not exact.samples:
        return []
    found = []
    if {verdict.status, exact.status} == {Status.PASS, Status.FAIL}:
        found.append(f"{where}: PromQL judges {verdict.status.value} but the run's measurement "
                     f"({exact.source}) judges {exact.status.value}")
    if slo.kind is SliKind.LATENCY:
        bounds = _bucket_of(value, verdict)
        if bounds is not None and not bounds[0] <= exact.observed <= bounds[1]:
            found.append(f"{where}: PromQL's p{slo.objective * 100:g} {value:.4g} s and the run's {exact.observed:.4g}"
                         f" s ({exact.source}) are further apart than the histogram's buckets allow "
                         f"({bounds[0]:g}-{bounds[1]:g} s)")
    else:
        slack = 100 * RATIO_SLACK_EVENTS / max(1, min(verdict.samples, exact.samples)) + 0.01
        if abs(value - exact.observed) > slack:
            found.append(f"{where}: PromQL gives {value:.4g} % but the run measured {exact.observed:.4g} % exactly "
                         f"({exact.source}, n={exact.samples}): more than {RATIO_SLACK_EVENTS} events apart")
    return found


def _tails_differ(slo: SloSpec, verdict: Verdict, exact: Verdict | None) -> str:
    """Why PromQL's quantile and the counters' cannot be compared, or "": the two windows counted more than
    RATIO_SLACK_EVENTS events apart (Prometheus's range is the run's +-1 s and a scrape's timing; neighbouring
    traffic, e.g. the previous test's, lands in it), and at least as many as the quantile's tail holds, so the
    extra events alone can set it."""
    if exact is None or not exact.samples or not verdict.samples:
        return ""
    apart = abs(verdict.samples - exact.samples)
    tail = (1 - slo.objective) * min(verdict.samples, exact.samples)
    if apart <= RATIO_SLACK_EVENTS or apart < tail:  # as close as the ratio check allows: compare
        return ""
    return (f"p{slo.objective * 100:g} not compared with the agents' counters: Prometheus counted {verdict.samples} "
            f"events over the window, the counters {exact.samples}; {apart} events apart is at least the "
            f"{tail:.1f} the quantile's tail holds, so they alone can set it")


def _bucket_of(value: float, verdict: Verdict) -> tuple[float, float] | None:
    """The bucket holding ``value`` widened by one bucket on each side, from the verdict's resolution text."""
    text = verdict.resolution.removeprefix("buckets ").removesuffix(" s")
    try:
        bounds = [0.0, *(float(b) for b in text.split(", ")), math.inf]
    except ValueError:
        return None
    i = next((k for k, b in enumerate(bounds) if value <= b), len(bounds) - 1)
    return bounds[max(0, i - 2)], bounds[min(len(bounds) - 1, i + 1)]
