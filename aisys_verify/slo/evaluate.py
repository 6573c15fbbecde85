"""Every SLO of a spec against what a run measured: one verdict per SLO and source.

The load run (client side: what a user saw, exact or +-1 % latencies) is preferred where it
covers the SLO's service; the scraped metrics (server side: every request the service served,
bucketed latencies) cover the rest, and are kept beside the load verdict for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from aisys_verify.slo.data import Counts, LatencySample, LoadResultsLike
from aisys_verify.slo.gauges import GaugeReadings, judge_gauge
from aisys_verify.slo.model import SliKind, SloSpec
from aisys_verify.slo.prom import Scrape
from aisys_verify.slo.sli import ServiceMap, load_counts, load_latencies, metrics_counts, metrics_latencies
from aisys_verify.slo.verdict import DEFAULT_CONFIDENCE, Status, Verdict, judge_latency, judge_ratio, no_data

LOAD, METRICS = "load run", "agent metrics"


@dataclass(frozen=True)
class Evaluation:
    verdicts: tuple[Verdict, ...]  # one per SLO: the preferred source's
    others: tuple[Verdict, ...] = ()  # the other source's, where both had data
    duration_s: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> Verdict:
        for verdict in self.verdicts:
            if verdict.slo.name == name:
                return verdict
        raise KeyError(f"no SLO named {name!r}; known: {', '.join(v.slo.name for v in self.verdicts)}")

    def with_status(self, status: Status) -> list[Verdict]:
        return [v for v in self.verdicts if v.status is status]

    def to_json(self) -> dict[str, object]:
        counts = {s.value: len(self.with_status(s)) for s in Status}
        return {"summary": counts, "duration_s": self.duration_s, "notes": list(self.notes),
                "verdicts": [v.to_json() for v in self.verdicts], "other_sources": [v.to_json() for v in self.others]}


def judge(slo: SloSpec, data: Counts | LatencySample | str | None, source: str,
          confidence: float = DEFAULT_CONFIDENCE) -> Verdict | None:
    """One SLO from one source's SLI (None: the source does not cover it; str: why it has no data)."""
    if data is None:
        return None
    if isinstance(data, str):
        return no_data(slo, f"no data: {data}", confidence, source)
    if slo.budgeting != "Occurrences":
        return no_data(slo, f"budgetingMethod {slo.budgeting} is not judged per run (only Occurrences is)",
                       confidence, source)
    if isinstance(data, Counts):
        return judge_ratio(slo, data, confidence, source)
    return judge_latency(slo, data, confidence, source)


def evaluate(slos: Sequence[SloSpec], services: ServiceMap, *, load: LoadResultsLike | None = None,
             metrics: Scrape | None = None, phase: str | None = None,
             confidence: float = DEFAULT_CONFIDENCE, gauges: GaugeReadings | None = None) -> Evaluation:
    verdicts: list[Verdict] = []
    others: list[Verdict] = []
    for slo in slos:
        if slo.unjudged:
            # read, but not judgeable from a run (another vendor's query, Timeslices, ...): inconclusive, with why
            verdicts.append(no_data(slo, f"not judged: {slo.unjudged}", confidence))
            continue
        found: list[Verdict] = []
        if load is not None and slo.kind is not SliKind.GAUGE and slo.kind is not SliKind.RATIO:
            data: Counts | LatencySample | None = (load_latencies(slo, load, services, phase)
                                                   if slo.kind is SliKind.LATENCY
                                                   else load_counts(slo, load, services, phase))
            got = judge(slo, data, LOAD, confidence)
            if got is not None and got.status is Status.PASS and slo.kind is SliKind.LATENCY \
                    and getattr(load, "saturated", False):
                # the generator fell behind its schedule, and latencies count from the actual send: they
                # understate what the asked-for load would have seen, so a pass cannot be trusted (a fail can)
                got = replace(got, status=Status.INCONCLUSIVE, needed=None,
                              reason="the load generator fell behind its schedule (saturated run), so the "
                                     f"latencies understate the load asked for ({got.reason})")
            if got is not None and got.samples:
                found.append(got)
        if gauges is not None and slo.kind is SliKind.GAUGE:  # resource SLOs: sampled gauges (gauges.py)
            found.append(judge_gauge(slo, gauges, confidence))
        elif metrics is not None:
            if slo.kind is SliKind.GAUGE:
                found.append(no_data(slo, "no data: the stand-ins export no host or GPU gauges (nvidia_smi_*, "
                                     "node_*); a real node exporter or NVML would", confidence, METRICS))
            else:
                sli = (metrics_latencies(slo, metrics, services) if slo.kind is SliKind.LATENCY
                       else metrics_counts(slo, metrics, services))
                got = judge(slo, sli, METRICS, confidence)
                if got is not None:
                    found.append(got)
        # the source is chosen by kind, never by outcome: ratios as the SLO's query counts them (server
        # side, every request the service served); latency from the load run where it has the service
        # (exact, and a superset of the server's time), else the coarse histogram
        if slo.kind is not SliKind.LATENCY:
            found.sort(key=lambda v: v.source != METRICS)
        found.sort(key=lambda v: v.samples == 0)  # a source with data before one without
        if not found:
            found.append(no_data(slo, "no data: no source measured this SLO's service", confidence))
        verdicts.append(found[0])
        others.extend(found[1:])
    duration = None
    if load is not None:
        duration = load.ended_at - load.started_at
    return Evaluation(tuple(verdicts), tuple(others), duration)
