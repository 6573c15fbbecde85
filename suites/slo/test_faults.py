"""One fault per critical edge: the change it causes, asserted against a baseline phase, and the
error-budget burn per phase (baseline, fault, recovery) reported.

Each case drives the one request that crosses the edge: 2.5 s baseline, 3 s with a 300 ms latency
toxic on the edge's replies, 2.5 s after removing it, in the driver's open model (RATE requests/s,
every slot sent and timed from its intended start, as wrk2 does): a closed loop would wait for each
slow reply and leave the fault phase a handful of samples. It asserts (0) every phase holds at least
90 % of its scheduled samples, (1) the median moved by at least
250 ms (at least one crossing of the edge; 95 % bounds), (2) the median came back to within
150 ms (half the toxic) of the baseline's, (3) the fault burned the latency SLO's budget at or above the SRE
Workbook's fast-page rate (14.4x, 2 % of a 30-day budget in 1 h). Toxics are reset afterwards,
whatever happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from aisys_verify import Stack, attach_svg, attach_text, labels, serving_loop_s
from aisys_verify.faults import Toxic
from aisys_verify.slo import (
    WORKBOOK_ALERTS,
    SloSession,
    Target,
    assert_change,
    burn_table,
    quantile_shift,
    run,
    timeline_svg,
)

pytestmark = pytest.mark.slo

LATENCY_MS = 300
PHASES = (("baseline", 2.5), ("fault", 3.0), ("recovery", 2.5))
RATE = 20.0  # requests/s in every phase
# in flight under the fault: RATE x ~1 s (a dialogue turn crosses a faulted edge about three times with
# per-call connections); more workers than that, so the driver keeps its schedule (capacity_note says if not)
WORKERS = 32


def _turn(i: int) -> Mapping[str, Any]:
    return {"text": f"fault case turn {i}", "session_id": f"slo-fault-{i % 10}"}


# (caller, callee, the request that crosses the edge, the SLO that covers it)
EDGES = {
    "gateway->coordinator": ("pc2/UnifiedWebAgent", "mainpc/RequestCoordinator",
                             ("UnifiedWebAgent", "POST /dialogue/process", _turn, True), "pc2_web_interface_latency"),
    "coordinator->nlu": ("mainpc/RequestCoordinator", "mainpc/NLUAgent",
                         ("RequestCoordinator", "process_dialogue", _turn, False), "coordination_latency"),
    "coordinator->chitchat": ("mainpc/RequestCoordinator", "mainpc/ChitchatAgent",
                              ("RequestCoordinator", "process_dialogue", _turn, False), "coordination_latency"),
    "memoryclient->orchestrator": ("mainpc/MemoryClient", "pc2/MemoryOrchestratorService",
                                   ("MemoryClient", "get_context", lambda i: {"session_id": f"slo-{i % 40}"}, False),
                                   "memory_stack_latency"),
    "gateway->memory": ("pc2/UnifiedWebAgent", "pc2/MemoryOrchestratorService",
                        ("UnifiedWebAgent", "POST /memory/store", lambda i: {"content": f"fault case {i}"}, True),
                        "pc2_web_interface_latency"),
}


@pytest.mark.parametrize("edge", list(EDGES))
def test_fault_on_critical_edge(edge: str, aisys_stack: Stack, aisys_slo: SloSession) -> None:
    caller, callee, (agent, action, fields, http), slo_name = EDGES[edge]
    labels(edge=f"{caller} -> {callee}")
    if serving_loop_s(aisys_stack) > 0:
        # docs/slo.md, "Against the reference profile": one request per serving loop per agent leaves ~16
        # samples per 2.5 s phase, each path's latency jittering by up to a loop per hop; a 300 ms shift is
        # then not decidable at 95 % (measured: inconclusive), and phases long enough would cost minutes
        pytest.skip("the fault phases are sized for stand-ins without a serving loop; under the reference "
                    f"profile ({serving_loop_s(aisys_stack):g} s per request, one at a time) a phase gives too "
                    "few samples to decide the shift (docs/slo.md, 'Against the reference profile')")
    if not aisys_stack.proxies:
        pytest.skip("the stack runs without Toxiproxy on its edges (--aisys-no-proxies): no edge can be faulted")
    proxy = next((p.proxy.name for p in aisys_stack.proxies
                  if (p.caller, p.callee, p.socket) == (caller, callee, "main")), None)
    assert proxy, f"no Toxiproxy proxy on the critical edge {caller} -> {callee}"
    e = aisys_stack.endpoint(agent)
    target = Target(f"{e.host}/{agent} {action}", e.host, agent, e.http_url if http else e.main_url, action,
                    fields, 1, 15.0)
    client = aisys_stack.toxiproxy_client

    def on_phase(phase: str) -> None:
        if phase == "fault":
            client.add_toxic(proxy, Toxic.latency(LATENCY_MS))
        elif phase == "recovery":
            client.reset()

    try:
        record = run([target], PHASES, workers=WORKERS, rate_per_s=RATE, on_phase=on_phase, open_model=True)
    finally:
        client.reset()
    baseline = record.latencies("baseline")
    burns = aisys_slo.burn(slo_name, record)
    attach_text(f"budget burn, {edge}", burn_table(slo_name, burns))
    attach_svg(f"latency over the phases, {edge}", timeline_svg(
        [(x.phase, x.started, x.latency_s, x.ok) for x in record.samples],
        [(p.name, p.start, p.end) for p in record.phases], aisys_slo.slo(slo_name).latency_bound_s,
        f"{target.name}: {LATENCY_MS} ms on {caller} -> {callee}, {RATE:g}/s open model (from intended starts)"))
    attach_text(f"driver schedule, {edge}", record.capacity_note())
    held = {p.name: sum(1 for x in record.samples if x.phase == p.name) for p in record.phases}
    short = {p.name: f"{held[p.name]} of {p.scheduled}" for p in record.phases if held[p.name] < 0.9 * p.scheduled}
    assert not short, f"{edge}: phases with under 90 % of their scheduled samples: {short}; {record.capacity_note()}"
    failed = {p: record.counts(p)[1] for p, _ in PHASES}
    assert failed["baseline"] == 0, f"{edge}: requests failed before the fault: {record.errors('baseline')}"
    try:
        assert_change(quantile_shift(baseline, record.latencies("fault"), 0.5, at_least=0.25))
        assert_change(quantile_shift(baseline, record.latencies("recovery"), 0.5, at_most=LATENCY_MS / 2000))
    except AssertionError as exc:
        exc.add_note(record.host_note())
        raise
    fault = next(b for b in burns if b.phase == "fault")
    page = WORKBOOK_ALERTS[0].rate(fault.period_s)
    assert fault.rate_interval is not None
    assert fault.rate_interval.low >= page, (
        f"{edge}: a {LATENCY_MS} ms fault should burn {slo_name}'s budget at >= {page:g}x (the fast page), "
        f"burned {fault.rate:.3g}x:\n{burn_table(slo_name, burns)}")
