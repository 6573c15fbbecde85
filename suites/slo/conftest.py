"""Fixtures of the SLO suite: one baseline run shared by its tests, built on the public API only."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from aisys_verify import UP, Stack, attach_json, attach_svg, attach_text, labels, probe, step
from aisys_verify.slo import (
    Evaluation,
    GaugeReadings,
    ResourceSampler,
    RunRecord,
    SloSession,
    Status,
    default_sources,
    run,
    table,
    verdicts_svg,
)

from .plan import BASELINE_S, BASELINE_WORKERS, baseline_rate, baseline_targets

REPORTS = Path(__file__).resolve().parents[2] / "reports" / "slo"


@pytest.fixture(autouse=True)
def _slo_labels() -> None:
    labels(suite="slo")


@dataclass(frozen=True)
class Baseline:
    session: SloSession
    record: RunRecord
    evaluation: Evaluation
    gauges: GaugeReadings

    def __repr__(self) -> str:  # shown in failure tracebacks: the summary, not every verdict
        counts = ", ".join(f"{len(self.evaluation.with_status(s))} {s.value}" for s in Status)
        return f"Baseline({len(self.record.samples)} requests, {len(self.evaluation.verdicts)} SLOs: {counts})"


@pytest.fixture(scope="session")
def slo_baseline(aisys_stack: Stack) -> Baseline:
    """The spec's SLOs judged over one paced baseline run (client-side latencies, server-side counter
    deltas of every agent, resource gauges sampled during it: the groups' CPU and memory, NVML's GPUs), with
    no fault: the verdict table is attached to the report."""
    session = SloSession(aisys_stack.topology)
    if aisys_stack.proxies:
        aisys_stack.toxiproxy_client.reset()  # no fault left by an earlier suite may bias the baseline
    _wait_healthy(aisys_stack)
    rate = baseline_rate(aisys_stack)
    with step(f"baseline load: {rate:g} requests/s for {BASELINE_S:g} s"):
        before = session.scrape(aisys_stack)
        with ResourceSampler(default_sources(aisys_stack)) as sampler:
            record = run(baseline_targets(aisys_stack), [("baseline", BASELINE_S)], workers=BASELINE_WORKERS,
                         rate_per_s=rate)
        after = session.scrape(aisys_stack)
        record.metrics = after.minus(before)
    gauges = record.gauges = sampler.result()
    evaluation = session.evaluate(load=record, metrics=record.metrics, gauges=gauges)
    profile = getattr(getattr(aisys_stack, "plan", None), "standin_profile", "ideal")
    shown = (f"stand-in profile {profile}, {rate:g} requests/s for {BASELINE_S:g} s\n{table(evaluation)}\n"
             f"client-side latency per target (s):\n{_percentiles(record)}")
    REPORTS.mkdir(parents=True, exist_ok=True)  # the verdict table of the last run per profile, for docs/slo.md
    (REPORTS / f"baseline-verdicts-{profile}.txt").write_text(shown + "\n", encoding="utf-8")
    attach_text("SLO verdicts (baseline)", shown)
    attach_svg("SLO verdicts (baseline), as a picture", verdicts_svg(evaluation))
    attach_json("SLO verdicts (baseline)", evaluation.to_json())
    attach_json("baseline run", {"requests": len(record.samples), "late": [p.late for p in record.phases],
                                 "saturated": record.saturated, "host": record.host_note(),
                                 "scrape failures": list(record.metrics.failed),
                                 "errors": record.errors(limit=20)})
    attach_text("resource gauges (last reading, Prometheus text format)", sampler.exposition()
                + "".join(f"# not read: {k}: {v}\n" for k, v in gauges.dropped.items()))
    return Baseline(session, record, evaluation, gauges)


def _percentiles(record: RunRecord) -> str:
    """p50 / p95 / p99 / max per target, the client's view, for the findings in docs/slo.md."""
    import statistics

    by_target: dict[str, list[float]] = {}
    for sample in record.samples:
        by_target.setdefault(sample.endpoint, []).append(sample.latency_s)
    lines = []
    for name, values in sorted(by_target.items()):
        cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
        lines.append(f"  {name:45s} n={len(values):4d}  p50 {cuts[49]:.3f}  p95 {cuts[94]:.3f}  "
                     f"p99 {cuts[98]:.3f}  max {max(values):.3f}")
    return "\n".join(lines)


def _wait_healthy(stack: Stack, timeout: float = 30.0) -> None:
    """Every agent's health socket says ok (an earlier suite may have killed or paused a group)."""
    deadline = time.monotonic() + timeout
    targets = [f"zmq://{e.address}:{e.health_port}" for e in stack.endpoints()]
    while True:
        with ThreadPoolExecutor(max_workers=16) as pool:
            down = [t for t, r in zip(targets, pool.map(lambda t: probe(t, 1.0), targets)) if r.status != UP]
        if not down:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the stack is not healthy before the SLO baseline: {len(down)} agent(s) not ok "
                        f"({', '.join(down[:5])}): SLOs measured now would judge the last suite's damage",
                        pytrace=False)
        time.sleep(0.5)
