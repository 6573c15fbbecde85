"""Assertion helpers and the object behind the ``aisys_slo`` fixture.

``assert_slo`` raises SloViolation (an AssertionError) on a conclusive fail and SloInconclusive
on an undecided verdict unless the caller allows it: an SLO never passes for lack of data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from aisys_verify.errors import SloInconclusive, SloViolation, UsageError
from aisys_verify.slo.budget import PhaseBurn, phase_burn
from aisys_verify.slo.compare import Change
from aisys_verify.slo.data import Counts, LoadResultsLike
from aisys_verify.slo.evaluate import Evaluation, evaluate
from aisys_verify.slo.gauges import GaugeReadings
from aisys_verify.slo.model import SliKind, SloSpec, from_slo_config
from aisys_verify.slo.prom import Scrape, scrape
from aisys_verify.slo.sli import ServiceMap, endpoints_for, load_latencies
from aisys_verify.slo.verdict import DEFAULT_CONFIDENCE, Status, Verdict
from aisys_verify.spec.model import Topology


def _error(verdict: Verdict, cls: type[SloViolation], message: str) -> SloViolation:
    return cls(message, slo=verdict.slo.name, observed=verdict.observed, objective=verdict.slo.objective_text(),
               interval=verdict.interval, samples=verdict.samples, needed=verdict.needed)


def assert_slo(verdict: Verdict, *, allow_inconclusive: bool = False) -> Verdict:
    """The verdict if it passed (or was inconclusive and that is allowed); else SloViolation / SloInconclusive."""
    __tracebackhide__ = True
    if verdict.status is Status.FAIL:
        raise _error(verdict, SloViolation, "SLO violated:\n" + verdict.text())
    if verdict.status is Status.INCONCLUSIVE and not allow_inconclusive:
        raise _error(verdict, SloInconclusive, "SLO not decided (never a silent pass):\n" + verdict.text())
    return verdict


def assert_slos(verdicts: Iterable[Verdict], *, allow_inconclusive: bool = False) -> list[Verdict]:
    """Every verdict at once: one error naming every failing SLO (the first failure's fields on it)."""
    __tracebackhide__ = True
    verdicts = list(verdicts)
    failed = [v for v in verdicts if v.status is Status.FAIL]
    undecided = [] if allow_inconclusive else [v for v in verdicts if v.status is Status.INCONCLUSIVE]
    if not failed and not undecided:
        return verdicts
    parts = []
    if failed:
        parts.append(f"{len(failed)} of {len(verdicts)} SLO(s) violated:")
        parts += [v.text() for v in failed]
    if undecided:
        parts.append(f"{len(undecided)} of {len(verdicts)} SLO(s) not decided (never a silent pass):")
        parts += [v.text() for v in undecided]
    cls = SloViolation if failed else SloInconclusive
    raise _error((failed or undecided)[0], cls, "\n".join(parts))


def assert_change(change: Change) -> Change:
    """A baseline-versus-experiment change that must lie in its expected range, conclusively."""
    __tracebackhide__ = True
    if change.status is not Status.PASS:
        cls = SloViolation if change.status is Status.FAIL else SloInconclusive
        raise cls(f"the change a fault caused is not as expected:\n  {change.text()}", slo=change.what,
                  observed=change.experiment - change.baseline, objective=change.expected,
                  interval=(change.low, change.high), samples=min(change.samples))
    return change


class SloSession:
    """The SLOs of one spec, and what to do with them in a test: scrape, evaluate, burn, assert."""

    def __init__(self, topology: Topology, confidence: float = DEFAULT_CONFIDENCE) -> None:
        self.topology = topology
        self.confidence = confidence
        self.slos: tuple[SloSpec, ...] = from_slo_config(topology.slo_config) if topology.slo_config else ()
        self.services = ServiceMap.of(topology)

    def slo(self, name: str) -> SloSpec:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise UsageError(f"the spec has no SLO named {name!r}; it has: {', '.join(s.name for s in self.slos)}")

    def scrape(self, stack: Any, timeout: float = 2.0) -> Scrape:
        """Every agent's /metrics now (take one before and one after a run, and subtract)."""
        return scrape({f"{e.host}/{e.agent}": f"{e.http_url}/metrics" for e in stack.endpoints()}, timeout)

    def evaluate(self, *, load: LoadResultsLike | None = None, metrics: Scrape | None = None,
                 phase: str | None = None, only: Sequence[str] | None = None,
                 gauges: GaugeReadings | None = None) -> Evaluation:
        chosen = [self.slo(n) for n in only] if only is not None else list(self.slos)
        return evaluate(chosen, self.services, load=load, metrics=metrics, phase=phase, confidence=self.confidence,
                        gauges=gauges)

    def promql(self, client: Any, start: float, end: float, exact: Evaluation | None = None) -> Any:
        """Every SLO's own PromQL over [start, end] on ``client`` (a PrometheusClient), judged and checked
        against ``exact`` (aisys_verify.slo.promql.evaluate_promql; a PromqlEvaluation)."""
        from aisys_verify.slo.promql import evaluate_promql

        return evaluate_promql(self.slos, client, start, end, exact=exact, confidence=self.confidence)

    def burn(self, name: str, load: LoadResultsLike, phases: Sequence[str] | None = None) -> list[PhaseBurn]:
        """Budget burn per phase of a load run, from the SLO's endpoints (a latency SLO's bad events are
        failed or slower than its bound)."""
        slo = self.slo(name)
        endpoints = endpoints_for(slo, load, self.services)
        if not endpoints:
            raise UsageError(f"the load run has no endpoint of SLO {name}'s service {slo.service!r}")
        result = []
        for phase in phases or [p.name for p in load.phases]:
            span = next(p for p in load.phases if p.name == phase)
            total = failed = 0
            for endpoint in endpoints:
                t, f = load.counts(phase, endpoint)
                total, failed = total + t, failed + f
            bad = failed
            if slo.kind is SliKind.LATENCY and slo.latency_bound_s is not None:
                latencies = load_latencies(slo, load, self.services, phase)
                if latencies is not None:
                    bad += latencies.count - latencies.count_at_most(slo.latency_bound_s)[1]
            result.append(phase_burn(phase, span.end - span.start, total, bad, slo.objective, slo.period_s,
                                     self.confidence))
        return result

    def counts(self, name: str, load: LoadResultsLike, phase: str | None = None) -> Counts:
        slo = self.slo(name)
        total = failed = 0
        for endpoint in endpoints_for(slo, load, self.services):
            t, f = load.counts(phase, endpoint)
            total, failed = total + t, failed + f
        return Counts(total - failed, total)

    assert_slo = staticmethod(assert_slo)
    assert_slos = staticmethod(assert_slos)
    assert_change = staticmethod(assert_change)
