"""HTTP health reflects degradation, judged by a documented policy (docs/conformance.md).

The agents are made degraded from the outside: every agent's edge to its host's Redis is cut through
Toxiproxy (the chaos engine's ``*->redis`` partition; PROTOCOL.md §2: ``redis_connected`` is one of the
three checks ``ok`` needs). Once an agent's health socket says it is not ok, its HTTP ``/health`` is read.
Policy ``status`` (default): a degraded agent must answer a non-2xx code, since load balancers and
container HEALTHCHECKs only see the code; 200 with a degraded body is ``http_health_always_200``. Policy
``body``: a 2xx whose body says degraded is acceptable. All agents are cut at once, in one window (the
stack is restored and waited for afterwards), so the check costs seconds whatever the number of agents.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import running
from aisys_verify.errors import VerifyError
from aisys_verify.health import DOWN, UP, HealthReading, http_policy_violation, read_http, read_reply
from aisys_verify.waiting import poll

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack

CHECK = "http_degraded"
CONTRACT = ("while the agent is degraded (here: its Redis cut), HTTP GET /health on its HTTP port shows it: "
            "{policy}")
POLICY_TEXT = {"status": "a non-2xx status (policy 'status')",
               "body": "a non-2xx status or a body whose status is degraded (policy 'body')"}


@dataclass(frozen=True)
class Observed:
    """One agent during the cut: its health socket's reading, and its HTTP /health reading (None: no answer)."""

    zmq: HealthReading
    http: HealthReading | None
    seconds_to_degraded: float | None


@dataclass(frozen=True)
class DegradedSnapshot:
    observed: dict[str, Observed]
    unavailable: str | None = None  # why the cut could not be made (the checks are then skipped)
    restore_error: str | None = None


def _zmq(target: wire.Target) -> HealthReading:
    reply = wire.parse(wire.exchange(target.endpoint.health_url, b'{"action": "health_check"}', 1.0))
    return read_reply(reply) if reply is not None else HealthReading(DOWN, None, None, "no reply")


def _http(target: wire.Target) -> HealthReading | None:
    got = wire.http_get(target.endpoint.address, target.endpoint.http_port)
    return None if got is None else read_http(*got)


def cut_redis_and_observe(stack: Stack, targets: Iterable[wire.Target],
                          options: ConformanceOptions) -> DegradedSnapshot:
    from aisys_verify.faults.chaos import Chaos

    members = [t for t in targets if running(t)]  # one not running is reported by 'listens', and never degrades
    if "partition" not in stack.capabilities or not stack.proxies:
        return DegradedSnapshot({}, "this stack has no Toxiproxy on the agents' Redis edges (run with proxies) "
                                    "or its backend cannot partition: Redis cannot be cut to make agents degraded")
    chaos = Chaos(stack, verify=True)
    try:
        fault = chaos.partition("*->redis")
    except VerifyError as exc:
        chaos.reset()
        return DegradedSnapshot({}, f"cutting the agents' Redis edges failed: {exc}")
    observed: dict[str, Observed] = {}
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            pending = list(members)
            while pending and time.monotonic() - began < options.degrade_wait_s:
                readings = list(pool.map(_zmq, pending))
                for target, reading in zip(list(pending), readings):
                    if reading.state != UP:
                        observed[target.key] = Observed(reading, _http(target), time.monotonic() - began)
                        pending.remove(target)
                if pending:
                    time.sleep(0.25)
            for target, reading in zip(pending, pool.map(_zmq, pending)):
                observed[target.key] = Observed(reading, _http(target), None)
    finally:
        fault.revert()
    restore_error = _wait_recovered(members, options.recover_wait_s)
    return DegradedSnapshot(observed, None, restore_error)


def _wait_recovered(members: list[wire.Target], timeout: float) -> str | None:
    """Until every agent that answers is up again (one that never was, a defect's, is not waited for long)."""
    pending = [m for m in members if _zmq(m).state != DOWN]

    def still_pending() -> list[wire.Target]:  # one that came up stays done
        pending[:] = [m for m in pending if not _zmq(m).up]
        return pending

    if pending:
        poll(still_pending, timeout, 0.25, until=lambda left: not left)
    return None if not pending else f"not ok {timeout:g} s after Redis was restored: " + ", ".join(
        m.key for m in pending[:8])


def check_http_degraded(target: wire.Target, snapshot: DegradedSnapshot, options: ConformanceOptions) -> CheckResult:
    if snapshot.unavailable:
        return skipped(CHECK, target.key, snapshot.unavailable)
    seen = snapshot.observed.get(target.key)
    contract = CONTRACT.format(policy=POLICY_TEXT[options.http_policy])
    if seen is None or seen.zmq.state == DOWN:
        return skipped(CHECK, target.key, "its health socket did not answer during the Redis cut (see 'listens')")
    if seen.seconds_to_degraded is None:
        return failed(CHECK, target.key, f"{target.name} still said {seen.zmq.word!r} on its health socket "
                      f"{options.degrade_wait_s:g} s after its Redis was cut", "status is ok only while Redis is "
                      "reachable (redis_connected), so its health socket and HTTP /health must show the cut")
    if seen.http is None:
        return failed(CHECK, target.key, f"{target.name} is degraded but its HTTP port "
                      f"{target.endpoint.http_port} gave no HTTP answer to GET /health", contract)
    violation = http_policy_violation(seen.http, options.http_policy)
    if violation is None and options.http_policy == "body" and seen.http.state == UP:
        violation = f"HTTP {seen.http.http_status} with a body that reads up"
    if violation is None and options.http_policy == "status" and seen.http.http_status is not None \
            and 200 <= seen.http.http_status < 300:
        violation = f"HTTP {seen.http.http_status} while its health socket says {seen.zmq.word!r}"
    if violation:
        return failed(CHECK, target.key, f"{target.name}, degraded ({seen.zmq.message[:120]!r}), answered GET "
                      f"/health with {violation}", contract, ["http_health_always_200"],
                      http_status=seen.http.http_status)
    # a stack that did not come back is said on every agent's line: the checks after this one run on it
    after = f"; after Redis was restored, agents {snapshot.restore_error}" if snapshot.restore_error else ""
    return passed(CHECK, target.key, f"degraded {seen.seconds_to_degraded:.1f} s after the Redis cut; GET /health "
                  f"answered HTTP {seen.http.http_status} ({seen.http.state}){after}")
