"""The runtime side of the ``reference`` profile: what differs from the ideal stand-in, per agent.

The main socket, health reply and readiness record of the reference profile live in
AgentRuntime (agent.py); this module holds the decisions it reads: which ports an agent binds
(the ``binds_wrong_port`` defect), which main-socket verbs answer with the health reply (the
twin overrides them), which actions build an unserialisable reply (``unserialisable_reply``),
which error texts an agent answers with, and the readiness key's TTL.

Roles can override each choice with a class attribute, read with ``getattr`` so a role that
says nothing gets the real BaseAgent's behaviour:

* ``main_health_verbs``: the main-socket verbs answered with the health reply
  (default ``ping``/``health``/``health_check``; the twin: none, so ``health`` is an
  unknown action and ``ping`` answers pong, PROTOCOL.md §1);
* ``unserialisable_actions``: the actions whose reply cannot be serialised when the defect is
  on (default: every role action; the twin: get_metrics, get_history, simulate_load, §3);
* ``reference_errors``: a mapping over ``protocol.REFERENCE_ERRORS`` (the twin: its own texts, §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aisys_verify.standin import protocol
from aisys_verify.standin.profile import StandinProfile

if TYPE_CHECKING:
    from aisys_verify.spec.model import Agent, Topology
    from aisys_verify.standin.roles.base import Role

WRONG_PORT_SHIFT = 63  # PROTOCOL.md §4: EmotionSynthesisAgent bound 5643/6643 instead of 5706/6706
FALLBACK_SHIFT = 20000  # when port - 63 is invalid or someone else's: far away, still a valid port
REAL_READY_TTL_S = 300.0  # PROTOCOL.md §4: the real readiness key lives 300 s
TWIN_UNSERIALISABLE = frozenset({"get_metrics", "get_history", "simulate_load"})
PONG = "pong"


def bound_ports(topology: Topology, agent: Agent, http_port: int, profile: StandinProfile) -> tuple[int, int, int]:
    """(main, health, http) ports the agent binds: the spec's, or shifted under ``binds_wrong_port``.

    Each port moves down by 63 (the measured 5706 -> 5643); one that would fall below 1024 or onto
    another port the spec gives this host moves up by 20000 instead (modulo the valid range), so the
    wrong agent never takes a port that belongs to a correct one.
    """
    if not (profile.reference and profile.has("binds_wrong_port")):
        return agent.port.number, agent.health_port.number, http_port
    host = topology.host(agent.host)
    taken: set[int] = set()
    if host is not None:
        taken = {p for a in host.agents for p in (a.port.number, a.health_port.number, a.http_port.number)}
        taken |= {n.port.number for n in host.named_ports}
    taken |= {s.port for s in topology.stores if s.host == agent.host}
    chosen: list[int] = []
    for port in (agent.port.number, agent.health_port.number, http_port):
        candidate = port - WRONG_PORT_SHIFT
        if candidate < 1024 or candidate in taken or candidate in chosen:
            candidate = 1024 + (port + FALLBACK_SHIFT - 1024) % (65536 - 1024)
        chosen.append(candidate)
    return chosen[0], chosen[1], chosen[2]


def main_health_verbs(role: Role) -> frozenset[str]:
    verbs = getattr(role, "main_health_verbs", None)
    if verbs is not None:
        return frozenset(verbs)
    return frozenset() if role.name == "twin" else protocol.HEALTH_ACTIONS


def unserialisable_actions(role: Role) -> frozenset[str]:
    declared = getattr(role, "unserialisable_actions", None)
    if declared is not None:
        return frozenset(declared)
    if role.name == "twin":
        return TWIN_UNSERIALISABLE
    return frozenset(a for a in role.actions if a not in protocol.HEALTH_ACTIONS)


def error_texts(role: Role) -> Mapping[str, str]:
    own = getattr(role, "reference_errors", None)
    base = protocol.TWIN_ERRORS if role.name == "twin" else protocol.REFERENCE_ERRORS
    return {**base, **own} if isinstance(own, Mapping) else base


def pong() -> dict[str, Any]:
    """The twin's answer to ``ping`` on its main socket (PROTOCOL.md §1)."""
    return {"status": "ok", "message": PONG, "timestamp": protocol.iso_timestamp()}


def ready_ttl_s(profile: StandinProfile, agent_config: Mapping[str, Any], plan_ttl_s: float) -> int:
    """The readiness key's TTL: the plan's; 300 s under ``stale_ready_key_after_crash`` (the real value,
    the defect); ``config.standin.ready_ttl_s`` of the agent wins under ``ready_ttl_not_refreshed``
    (so a spec can ask for the real 300 s, or for a short one a test can wait out)."""
    ttl = plan_ttl_s
    if profile.reference and profile.has("stale_ready_key_after_crash"):
        ttl = REAL_READY_TTL_S
    standin = agent_config.get("standin") if isinstance(agent_config, Mapping) else None
    own = standin.get("ready_ttl_s") if isinstance(standin, Mapping) else None
    if (profile.reference and profile.has("ready_ttl_not_refreshed") and isinstance(own, (int, float))
            and not isinstance(own, bool) and own > 0):
        ttl = float(own)
    return max(1, int(ttl))


def unserialisable_error(action: str, exc: Exception) -> str:
    """What the real agent's log says when ``json.dumps`` fails on the reply it built."""
    return f"{action}: {exc}: no reply sent, the main socket is stuck from now on"
