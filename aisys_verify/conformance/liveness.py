"""Health on both sockets: ``ping`` and ``health_check`` on the main socket, any frame on the health socket,
each answered within a deadline with a JSON object whose health fields agree with each other.

PROTOCOL.md §1-2: BaseAgent answers ``health_check``/``health``/``ping`` on the main socket with the
health reply; SystemDigitalTwin answers ``ping`` with a pong and ``health_check`` with an "Unknown
action" error there (its health socket still gives the health reply), which is its documented
behaviour, not a failure. Consistency is ``aisys_verify.health``'s: status agrees with ``ready``, the
message and the checks; a reply saying degraded, ready and "is healthy" at once is ``contradictory_health``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import HTTP_MAIN, main_is_http, not_running_reason, running
from aisys_verify.health import read_reply

CHECK = "health"
CONTRACT = ("ping and health_check on the main socket and any frame on the health socket get, within the deadline, "
            "a JSON object whose status agrees with ready and the health checks (ready == (status == 'ok'); "
            "no 'is healthy' while degraded)")
TWIN_ROLE = "twin"  # PROTOCOL.md §1: its main socket answers ping with a pong and health verbs with an error


def check_health(target: wire.Target, options: ConformanceOptions) -> CheckResult:
    if not running(target):
        return skipped(CHECK, target.key, not_running_reason(target))
    ep = target.endpoint
    twin = target.role == TWIN_ROLE
    asks = [("health socket", ep.health_url, "health_check", options.health_deadline_s, True),
            ("health socket", ep.health_url, None, options.health_deadline_s, True)]
    http_main = main_is_http(target)
    if not http_main:
        asks = [("main socket", ep.main_url, "ping", options.main_deadline_s, not twin),
                ("main socket", ep.main_url, "health_check", options.main_deadline_s, not twin), *asks]
    problems: list[str] = []
    contradictions: list[str] = []
    states: list[str] = []
    for where, url, action, deadline, health_shape in asks:
        frame = wire.envelope(action) if action else None
        raw = wire.exchange(url, b"ping" if frame is None else _encode(frame), deadline)
        asked = f"{action!r} on its {where}" if action else f"a plain-text 'ping' frame on its {where}"
        reply = wire.parse(raw)
        if raw is None:
            problems.append(f"no reply to {asked} within {deadline:g} s")
            continue
        if not isinstance(reply, Mapping):
            problems.append(f"the reply to {asked} is not a JSON object: {raw[:120]!r}")
            continue
        if not health_shape:
            continue  # the twin's pong / Unknown action: any JSON object is its documented answer
        reading = read_reply(reply)
        if reading.word is None:
            problems.append(f"the reply to {asked} has no status: {_shown(reply)}")
            continue
        states.append(f"{asked}: {reading.word}")
        contradictions += [f"{c} (reply to {asked})" for c in reading.contradictions]
    if problems or contradictions:
        defects = ["contradictory_health"] if contradictions else []
        return failed(CHECK, target.key, f"{target.name}: " + "; ".join([*problems, *contradictions]), CONTRACT,
                      defects)
    where = f"its health socket ({HTTP_MAIN})" if http_main else "both sockets"
    return passed(CHECK, target.key, f"health answered on {where}, consistent (" + ", ".join(states) + ")")


def _encode(message: dict[str, Any]) -> bytes:
    import json

    return json.dumps(message).encode()


def _shown(reply: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(reply), default=str)[:200]
