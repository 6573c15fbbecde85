"""Chaos Toolkit probes (``type: python``, module ``aisys_verify.ctk.probes``): a dialogue turn, an agent request,
health, an SLO verdict, our scenario probes as they are, and whether the steady state held during the method.

Each returns a mapping with ``status`` ``succeeded`` or ``failed`` (and the evidence), so a steady-state
hypothesis takes them with the tolerance ``[succeeded]`` (Chaos Toolkit checks a mapping's ``status``
against a list tolerance) and the journal keeps what was seen.
"""

from __future__ import annotations

from typing import Any

from aisys_verify.faults import ctkstate as state

__all__ = ["agent_request", "dialogue_turn", "health", "held_during", "slo_verdict", "steady_state"]

Configuration = dict[str, Any] | None


def steady_state(probe: dict[str, Any], configuration: Configuration = None) -> dict[str, Any]:
    """One probe of our scenario format (``type: http | request | health`` and its ``tolerance``), judged."""
    from aisys_verify.faults.probes import run_probe
    from aisys_verify.faults.scenario import parse_probe

    return run_probe(state.stack_for(configuration), parse_probe(probe, "aisys_verify.ctk.probes.steady_state"
                                                                    )).to_json()


def dialogue_turn(text: str = "Hello there", session_id: str = "aisys-ctk", max_latency_ms: float = 10000,
                  allow_degraded: bool = True, agent: str = "UnifiedWebAgent",
                  configuration: Configuration = None) -> dict[str, Any]:
    """A turn through the gateway's ``POST /dialogue/process``: HTTP 200 within ``max_latency_ms`` (and not
    ``degraded`` unless ``allow_degraded``)."""
    tolerance: dict[str, Any] = {"status": 200, "max_latency_ms": max_latency_ms}
    if not allow_degraded:
        tolerance["json"] = {"degraded": False}
    return steady_state({"name": "dialogue turn", "type": "http", "agent": agent, "method": "POST",
                         "path": "/dialogue/process", "body": {"text": text, "session_id": session_id},
                         "timeout_s": max(1.0, max_latency_ms / 1000 * 2), "tolerance": tolerance}, configuration)


def agent_request(agent: str, action: str, fields: dict[str, Any] | None = None, host: str | None = None,
                  expect_status: str = "success", timeout_s: float = 10.0,
                  configuration: Configuration = None) -> dict[str, Any]:
    """A ZeroMQ request to an agent's main socket; the reply's ``status`` must be ``expect_status``."""
    probe: dict[str, Any] = {"name": f"{agent} {action}", "type": "request", "agent": agent, "action": action,
                             "fields": dict(fields or {}), "timeout_s": timeout_s,
                             "tolerance": {"status": expect_status}}
    if host:
        probe["host"] = host
    return steady_state(probe, configuration)


def health(agents: str = "*", allowed: list[str] | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """Every agent the selector names (``*``, ``pc2/*``, ``host/group``, a name) answers /health in ``allowed``
    (default ``[ok]``)."""
    return steady_state({"name": f"health of {agents}", "type": "health", "agents": agents,
                         "tolerance": {"status": list(allowed or ["ok"])}}, configuration)


def slo_verdict(load_results: str, slos: list[str] | None = None, allow_inconclusive: bool = False,
                configuration: Configuration = None) -> dict[str, Any]:
    """The spec's SLOs judged on a load run folder (``aisys-verify load run``'s results): succeeded when every
    chosen SLO passes (and, with ``allow_inconclusive``, when the rest are inconclusive)."""
    from aisys_verify.load.results import read_results
    from aisys_verify.slo import SloSession, Status

    stack = state.stack_for(configuration)
    evaluation = SloSession(stack.topology).evaluate(load=read_results(load_results), only=slos)
    verdicts = [{"slo": v.slo.name, "status": v.status.value, "reason": v.reason} for v in evaluation.verdicts]
    ok = {Status.PASS} | ({Status.INCONCLUSIVE} if allow_inconclusive else set())
    passed = bool(evaluation.verdicts) and all(v.status in ok for v in evaluation.verdicts)
    return {"status": "succeeded" if passed else "failed", "verdicts": verdicts}


def held_during() -> dict[str, Any]:
    """Whether the steady state held while the method ran (``actions.watch_steady_state``): failed when it broke
    its ``abort_after`` limit in a row. Before any watch (the hypothesis before the method) it holds."""
    seen = state.watch_summary()
    return {"status": "failed" if seen.get("broken") else "succeeded", **seen}
