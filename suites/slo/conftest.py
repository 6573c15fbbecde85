"""Fixtures of the SLO suite: one baseline run shared by its tests, built on the public API only."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from aisys_verify.probe import UP, probe
from aisys_verify.report.allure import attach_json, attach_text, labels, step
from aisys_verify.slo import Evaluation, SloSession, Status
from aisys_verify.slo.driver import RunRecord, run
from aisys_verify.slo.report import attach_svg, table, verdicts_svg
from aisys_verify.stack.base import Stack

from .plan import BASELINE_RATE_PER_S, BASELINE_S, BASELINE_WORKERS, baseline_targets


@pytest.fixture(autouse=True)
def _slo_labels() -> None:
    labels(suite="slo")


@dataclass(frozen=True)
class Baseline:
    session: SloSession
    record: RunRecord
    evaluation: Evaluation

    def __repr__(self) -> str:  # shown in failure tracebacks: the summary, not every verdict
        counts = ", ".join(f"{len(self.evaluation.with_status(s))} {s.value}" for s in Status)
        return f"Baseline({len(self.record.samples)} requests, {len(self.evaluation.verdicts)} SLOs: {counts})"


@pytest.fixture(scope="session")
def slo_baseline(aisys_stack: Stack) -> Baseline:
    """The spec's SLOs judged over one paced baseline run (client-side latencies, server-side counter
    deltas of every agent), with no fault: the verdict table is attached to the report."""
    session = SloSession(aisys_stack.topology)
    if aisys_stack.proxies:
        aisys_stack.toxiproxy_client.reset()  # no fault left by an earlier suite may bias the baseline
    _wait_healthy(aisys_stack)
    with step(f"baseline load: {BASELINE_RATE_PER_S:g} requests/s for {BASELINE_S:g} s"):
        before = session.scrape(aisys_stack)
        record = run(baseline_targets(aisys_stack), [("baseline", BASELINE_S)], workers=BASELINE_WORKERS,
                     rate_per_s=BASELINE_RATE_PER_S)
        after = session.scrape(aisys_stack)
        record.metrics = after.minus(before)
    evaluation = session.evaluate(load=record, metrics=record.metrics)
    attach_text("SLO verdicts (baseline)", table(evaluation))
    attach_svg("SLO verdicts (baseline), as a picture", verdicts_svg(evaluation))
    attach_json("SLO verdicts (baseline)", evaluation.to_json())
    attach_json("baseline run", {"requests": len(record.samples), "late": [p.late for p in record.phases],
                                 "saturated": record.saturated, "host": record.host_note(),
                                 "scrape failures": list(record.metrics.failed),
                                 "errors": record.errors(limit=20)})
    return Baseline(session, record, evaluation)


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
