"""One internal SLO model for both sources: the system's ``slo-config.yaml`` and OpenSLO v1.

Every objective is "the fraction of good events is at least ``objective``" (Occurrences):

* availability: good = not answered 5xx;       objective = threshold% / 100
* error_rate:   good = not answered 5xx;       objective = 1 - threshold% / 100
* latency:      good = answered within bound;  objective = the percentile (p99 -> 0.99)
* ratio:        good and total counters named by the SLO's query (business SLOs)
* gauge:        a level within [lower, upper] (resource SLOs): no events, no budget

so the error budget is always ``1 - objective`` and one set of statistics serves every kind.
Queries are read as far as their selectors go (``metric{label="v",label=~"re"}``), so SLIs
computed from scraped counters use the SLO's own selection.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

from aisys_verify.errors import SloSpecError
from aisys_verify.spec.model import Slo, SloConfig, SloType

DEFAULT_PERIOD_S = 30 * 86400.0  # the Workbook's (and slo-config's) error-budget period


class SliKind(enum.Enum):
    AVAILABILITY = "availability"
    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    RATIO = "ratio"
    GAUGE = "gauge"


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def matches(self, actual: str | None) -> bool:
        actual = actual or ""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Selector:
    """A Prometheus series selector: a metric name and label matchers."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def matcher(self, label: str) -> Matcher | None:
        return next((m for m in self.matchers if m.label == label), None)

    def __str__(self) -> str:
        return f"{self.metric}{{{','.join(str(m) for m in self.matchers)}}}" if self.matchers else self.metric


_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*\[")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.]+)\s*,")


def parse_selectors(query: str, where: str) -> list[Selector]:
    """The range selectors of a PromQL query, in order: ``rate(x{a="b"}[5m])`` -> Selector("x", (a="b",))."""
    found: list[Selector] = []
    for metric, body in _SELECTOR.findall(query):
        matchers: list[Matcher] = []
        inner = (body or "{}")[1:-1]
        pos = 0
        while pos < len(inner.strip()):
            m = _MATCHER.match(inner, pos)
            if m is None:
                raise SloSpecError(f"{where}: cannot read the label matchers {body!r} of {metric}",
                                   hint='write them as label="value", label=~"regex"')
            if m.group(2) in ("=~", "!~"):
                try:
                    re.compile(m.group(3))
                except re.error as exc:
                    raise SloSpecError(f"{where}: bad regex {m.group(3)!r} in {metric}: {exc}") from None
            matchers.append(Matcher(m.group(1), m.group(2), m.group(3)))
            pos = m.end()
            if not inner[pos:].strip():
                break
        found.append(Selector(metric, tuple(matchers)))
    return found


@dataclass(frozen=True)
class SloSpec:
    name: str
    service: str  # the SLO's service label ('coordination', 'pc2-memory-stack', 'gpu-services')
    kind: SliKind
    objective: float  # good fraction in (0, 1]; GAUGE: the upper level
    latency_bound_s: float | None = None  # LATENCY
    lower_level: float | None = None  # GAUGE
    window_s: float = 0.0  # the query's evaluation window, as written
    period_s: float = DEFAULT_PERIOD_S  # the error-budget period
    budgeting: str = "Occurrences"
    description: str = ""
    source: str = ""  # file:line
    good: Selector | None = None  # counters naming good (or, with bad_counter, bad) events
    total: Selector | None = None
    bad_counter: bool = False  # the numerator counts bad events (error-rate queries)
    query: str = ""
    # why a run cannot judge this SLO ('' when it can): an indicator that is not a Prometheus query,
    # Timeslices budgeting, ... Such an SLO is read and listed, and its verdict is inconclusive with this reason
    unjudged: str = ""
    written: str = ""  # the objective as the source wrote it, shown where the model cannot express it

    @property
    def judged(self) -> bool:
        return not self.unjudged

    @property
    def budget(self) -> float:
        """The allowed bad fraction, 1 - objective, rounded once (0.999 -> 0.001, not 0.0010000000000000009)."""
        return 0.0 if self.kind is SliKind.GAUGE else float(1 - Fraction(repr(self.objective)))

    def objective_text(self) -> str:
        if self.written and (self.unjudged or (self.kind is SliKind.LATENCY and self.latency_bound_s is None)):
            return self.written
        if self.kind is SliKind.LATENCY:
            bound = "?" if self.latency_bound_s is None else f"{self.latency_bound_s:g}"
            return f"p{_pct(self.objective)} <= {bound} s"
        if self.kind is SliKind.ERROR_RATE:
            return f"error rate <= {_pct(1 - self.objective)} %"
        if self.kind is SliKind.GAUGE:
            low = f"{self.lower_level:g}-" if self.lower_level is not None else "<= "
            return f"level {low}{self.objective:g}"
        if self.kind is SliKind.AVAILABILITY:
            return f"availability >= {_pct(self.objective)} %"
        return f"good ratio >= {_pct(self.objective)} %"


def _percent(value: float, complement: bool = False) -> float:
    """A percentage as a fraction, rounded once: 99.9 -> 0.999 (99.9 / 100 is 0.9990000000000001)."""
    fraction = Fraction(repr(value)) / 100
    return float(1 - fraction if complement else fraction)


def _pct(fraction: float) -> str:
    return f"{round(fraction * 100, 6):g}"


def from_slo_config(config: SloConfig) -> tuple[SloSpec, ...]:
    """Every SLO of a parsed ``slo-config.yaml`` (aisys_verify.spec.slo) in the internal model."""
    period = config.error_budget_window_s or DEFAULT_PERIOD_S
    return tuple(from_slo(slo, period) for slo in config.slos)


def from_slo(slo: Slo, period_s: float = DEFAULT_PERIOD_S) -> SloSpec:
    where = f"{slo.loc}: SLO {slo.name}"
    selectors = parse_selectors(slo.query, where) if slo.query else []
    make = partial(SloSpec, name=slo.name, service=slo.service, window_s=slo.window_s, period_s=period_s,
                   description=slo.description, source=str(slo.loc), query=slo.query)
    if slo.type is SloType.LATENCY:
        quantile = _QUANTILE.search(slo.query)
        q = float(quantile.group(1)) if quantile else 0.99  # the config's latency SLOs are all P99
        if not 0 < q < 1:
            raise SloSpecError(f"{where}: histogram_quantile({q}) is not a quantile in (0, 1)")
        return make(kind=SliKind.LATENCY, objective=q, latency_bound_s=slo.threshold,
                    total=selectors[0] if selectors else None)
    if slo.type is SloType.RESOURCE:
        return make(kind=SliKind.GAUGE, objective=slo.threshold, lower_level=slo.lower_threshold,
                    total=selectors[0] if selectors else None)
    good, total = (selectors[0], selectors[1]) if len(selectors) >= 2 else (None, None)
    if slo.type is SloType.AVAILABILITY:
        return make(kind=SliKind.AVAILABILITY, objective=_percent(slo.threshold), good=good, total=total)
    if slo.type is SloType.ERROR_RATE:
        return make(kind=SliKind.ERROR_RATE, objective=_percent(slo.threshold, True), good=good, total=total,
                    bad_counter=True)
    if good is None or total is None:
        raise SloSpecError(f"{where}: a business SLO's query must divide a good counter by a total counter "
                           f"(got {len(selectors)} selector(s))", hint="sum(rate(good[w])) / sum(rate(total[w]))")
    return make(kind=SliKind.RATIO, objective=_percent(slo.threshold), good=good, total=total)
