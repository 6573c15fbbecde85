"""Steady-state probes of a scenario, run against a stack, judged against their tolerance.

``http``: a request to an agent's HTTP port (status code, latency, JSON fields); ``request``:
a ZeroMQ request to an agent's main (or health) socket (reply status, latency, fields);
``health``: the HTTP /health status of every agent a selector names.

One home per job: probing an agent's health is ``aisys_verify.probe`` (its ``ProbeResult``; the ``health``
probe here calls it); what a fault does to a connection through a proxy is ``faults.observe``; this
module runs a scenario's probes and judges them (``ProbeOutcome``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aisys_verify.faults.edges import agents_matching
from aisys_verify.faults.scenario import Probe
from aisys_verify.httpjson import http_json

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack


@dataclass
class ProbeOutcome:
    """One steady-state probe of a scenario, run and judged against its tolerance (a journal entry)."""

    probe: Probe
    tolerance_met: bool
    start: float
    duration: float
    output: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"activity": {"name": self.probe.name, "type": self.probe.type, **dict(self.probe.args)},
                "tolerance": dict(self.probe.tolerance), "status": "succeeded" if self.tolerance_met else "failed",
                "tolerance_met": self.tolerance_met, "start": self.start, "duration": round(self.duration, 4),
                "output": self.output, **({"problems": self.problems} if self.problems else {})}


def run_probe(stack: Stack, probe: Probe) -> ProbeOutcome:
    started, clock = time.time(), time.perf_counter()
    try:
        output = _RUNNERS[probe.type](stack, probe)
    except Exception as exc:  # a probe that cannot run is a failed probe, with the reason
        output = {"error": f"{type(exc).__name__}: {exc}"}
    duration = time.perf_counter() - clock
    problems = judge(probe.tolerance, output, duration)
    return ProbeOutcome(probe, not problems, started, duration, output, problems)


def judge(tolerance: dict[str, Any] | Any, output: dict[str, Any], duration: float) -> list[str]:
    problems = []
    if "error" in output:
        problems.append(str(output["error"]))
    if "status" in tolerance:
        allowed = tolerance["status"] if isinstance(tolerance["status"], list) else [tolerance["status"]]
        statuses = output.get("statuses", [output.get("status")])
        wrong = [s for s in statuses if s not in allowed]
        if wrong:
            problems.append(f"status {wrong[0]!r} not in {allowed}" + (f" ({len(wrong)} agents)" if len(wrong) > 1
                                                                      else ""))
    if "max_latency_ms" in tolerance and duration * 1000 > float(tolerance["max_latency_ms"]):
        problems.append(f"took {duration * 1000:.0f} ms > {tolerance['max_latency_ms']} ms")
    body = output.get("body")
    for key, want in dict(tolerance.get("json", {})).items():
        got = body.get(key) if isinstance(body, dict) else None
        if got != want:
            problems.append(f"{key} is {got!r}, expected {want!r}")
    if "contains" in tolerance and str(tolerance["contains"]) not in json.dumps(body):
        problems.append(f"the reply does not contain {tolerance['contains']!r}")
    return problems


def _http(stack: Stack, probe: Probe) -> dict[str, Any]:
    args = probe.args
    ep = stack.endpoint(str(args["agent"]), args.get("host"))
    body = args.get("body")
    method = str(args.get("method", "GET" if body is None else "POST"))
    try:
        reply = http_json(method, f"{ep.http_url}{args.get('path', '/health')}", body, timeout=probe.timeout_s)
    except (OSError, ValueError) as exc:
        return {"error": f"{ep.http_url}: {exc}"}
    parsed = reply.body[:500] if isinstance(reply.body, str) else reply.body
    return {"status": reply.status, "body": parsed}


def _request(stack: Stack, probe: Probe) -> dict[str, Any]:
    args = probe.args
    ep = stack.endpoint(str(args["agent"]), args.get("host"))
    try:
        reply = ep.request(str(args["action"]), dict(args.get("fields") or {}), timeout=probe.timeout_s,
                           health=args.get("socket") == "health")
    except TimeoutError as exc:
        return {"error": str(exc)}
    return {"status": reply.get("status"), "body": reply}


def _health(stack: Stack, probe: Probe) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from aisys_verify.probe import http_health

    keys = agents_matching(stack.topology, str(probe.args.get("agents", "*")))
    endpoints = [e for e in stack.endpoints() if f"{e.host}/{e.agent}" in keys]
    with ThreadPoolExecutor(max_workers=16) as pool:
        found = list(pool.map(lambda e: http_health(e.address, e.http_port, min(probe.timeout_s, 2.0)), endpoints))
    statuses = [status for status, _ in found]
    sick = {f"{e.host}/{e.agent}": f"{s}: {m}" for e, (s, m) in zip(endpoints, found) if s != "ok"}
    return {"statuses": statuses, "agents": len(endpoints), "not_ok": dict(list(sick.items())[:10])}


_RUNNERS = {"http": _http, "request": _request, "health": _health}
