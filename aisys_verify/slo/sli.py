"""SLIs: from a load run (client side, per endpoint) and from scraped agent metrics (server side).

Both are mapped to the SLO's service through the Topology: agent -> docker group -> SLO service
label (``service_labels`` of the SLO lint rules: 'coordination' for MainPC groups,
'pc2-memory-stack' for PC2's). The stand-ins label their metrics ``service="<host>-<group>"``
('mainpc-coordination'); this module adapts the SLO side to that, so the SLO file's own queries
(their label matchers, including ``service=~".*-gpu"``) select the stand-ins' series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aisys_verify.lint.rules.slo import service_labels
from aisys_verify.slo.data import (
    BucketLatencies,
    Counts,
    ExactLatencies,
    LatencySample,
    LoadResultsLike,
    SketchLatencies,
    merge_latencies,
)
from aisys_verify.slo.model import Matcher, Selector, SliKind, SloSpec
from aisys_verify.slo.prom import Scrape, bucket_bounds
from aisys_verify.spec.model import Topology

Group = tuple[str, str]  # (host, docker group)


def standin_service_label(host: str, group: str) -> str:
    """The ``service`` label the stand-ins put on their metrics (aisys_verify.standin.group)."""
    return f"{host}-{group}".replace("_", "-")


@dataclass(frozen=True)
class ServiceMap:
    labels: Mapping[str, Group]  # SLO service label -> (host, group); hosts map to (host, host)
    agent_group: Mapping[tuple[str, str], str]  # (host, agent) -> group
    standin: Mapping[str, Group]  # stand-in metric service label -> (host, group)

    @classmethod
    def of(cls, topology: Topology) -> ServiceMap:
        groups = {(h.name, r.name): g.name for h in topology.hosts for g in h.groups for r in g.agents}
        standin = {standin_service_label(h.name, g.name): (h.name, g.name) for h in topology.hosts for g in h.groups}
        return cls(service_labels(topology), groups, standin)

    def selected(self, matcher: Matcher) -> set[Group]:
        """The groups whose SLO-side labels the matcher accepts."""
        return {target for label, target in self.labels.items() if target[0] != target[1] and matcher.matches(label)}

    def targets(self, slo: SloSpec) -> set[Group]:
        """The groups an SLO covers: its service label, else its query's service matcher."""
        if slo.service in self.labels:
            host, group = self.labels[slo.service]
            return {(host, group)} if host != group else set()
        for selector in (slo.total, slo.good):
            matcher = selector.matcher("service") if selector else None
            if matcher is not None:
                return self.selected(matcher)
        return set()

    def group_of(self, host: str, agent: str) -> Group | None:
        group = self.agent_group.get((host, agent))
        return (host, group) if group else None


# --- server side: counters and histograms ------------------------------------------------------


def _series_match(selector: Selector, labels: Mapping[str, str], services: ServiceMap) -> bool:
    for matcher in selector.matchers:
        if matcher.label == "service":
            group = services.standin.get(labels.get("service", ""))
            if group is None or group not in services.selected(matcher):
                return False
        elif not matcher.matches(labels.get(matcher.label)):
            return False
    return True


def sum_selector(scrape: Scrape, selector: Selector, services: ServiceMap) -> tuple[float, int]:
    """(sum of the matching series, number of series)."""
    total, count = 0.0, 0
    for labels, value in scrape.series(selector.metric):
        if _series_match(selector, labels, services):
            total += value
            count += 1
    return total, count


def metrics_counts(slo: SloSpec, scrape: Scrape, services: ServiceMap) -> Counts | str:
    """Good-of-total for a ratio SLO from counter deltas, or why there are none."""
    if slo.good is None or slo.total is None:
        return f"its query names no counters to divide ({slo.query.strip()[:80]!r})"
    top, _ = sum_selector(scrape, slo.good, services)  # no series: no such events (no 5xx yet)
    total, total_series = sum_selector(scrape, slo.total, services)
    if total_series == 0:
        return f"no scraped series matches {slo.total}"
    good = round(total - top) if slo.bad_counter else round(top)
    total_n = round(total)
    if not 0 <= good <= total_n:
        return f"{slo.good} ({top:g}) is not a part of {slo.total} ({total:g})"
    return Counts(good, total_n)


def metrics_latencies(slo: SloSpec, scrape: Scrape, services: ServiceMap) -> LatencySample | str:
    if slo.total is None:
        return "its query names no histogram"
    selector = Selector(slo.total.metric, slo.total.matchers)
    buckets: dict[float, float] = defaultdict(float)
    for labels, value in scrape.series(selector.metric):
        if "le" in labels and _series_match(selector, labels, services):
            buckets[bucket_bounds(labels["le"])] += value
    if not buckets:
        return f"no scraped series matches {selector}"
    bounds = tuple(sorted(buckets))
    return BucketLatencies(bounds, tuple(round(buckets[b]) for b in bounds))


# --- client side: a load run -------------------------------------------------------------------


def endpoints_for(slo: SloSpec, results: LoadResultsLike, services: ServiceMap) -> list[str]:
    targets = services.targets(slo)
    return [e.name for e in results.endpoints if services.group_of(e.host, e.agent) in targets]


def load_counts(slo: SloSpec, results: LoadResultsLike, services: ServiceMap,
                phase: str | None = None) -> Counts | None:
    names = endpoints_for(slo, results, services)
    if not names:
        return None
    total = failed = 0
    for name in names:
        t, f = results.counts(phase, name)
        total, failed = total + t, failed + f
    return Counts(total - failed, total)


def load_latencies(slo: SloSpec, results: LoadResultsLike, services: ServiceMap,
                   phase: str | None = None) -> LatencySample | None:
    names = endpoints_for(slo, results, services)
    if not names:
        return None
    parts: list[LatencySample] = []
    for name in names:
        got = results.latencies(phase, name)
        parts.append(got if isinstance(got, ExactLatencies) else SketchLatencies(got))
    return merge_latencies(parts)


def covers(slo: SloSpec) -> Sequence[str]:
    """Which sources can feed an SLO's kind: load runs measure requests, metrics everything else."""
    if slo.kind in (SliKind.AVAILABILITY, SliKind.ERROR_RATE, SliKind.LATENCY):
        return ("load", "metrics")
    return ("metrics",)
