"""Which protocol a stand-in speaks: the ``ideal`` one, or the real agents' as measured (``reference``).

``../shared/reference-system/PROTOCOL.md`` records what the real agents do when run. The
``reference`` profile speaks exactly that protocol without its defects (REP served one
request per serving loop, ISO timestamps, no ``error_code``/``request_id`` echo, the real
error strings, health shape, registry records ...). Each defect PROTOCOL.md marks is a
switch (``DEFECTS``), off unless asked for, so a suite can prove that it catches it.

Resolution, lowest to highest: the run's profile and defects (``RunPlan.standin_profile``,
``RunPlan.standin_defects``: from ``--aisys-standin-profile`` / ``--aisys-standin-defects``,
ini, environment), then the agent's own ``config: {standin: {profile:, defects: [...],
serving_loop_ms:}}`` in the startup config. Defects only apply to the ``reference`` profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# the names and their parsers live in standin.defects, which the configuration imports without the rest;
# re-exported (``__all__``) so that everything importing them from here keeps working
from aisys_verify.standin.defects import (
    DEFECTS,
    IDEAL,
    PROFILES,
    REFERENCE,
    REFERENCE_SERVING_LOOP_S,
    parse_defects,
    parse_profile,
)


@dataclass(frozen=True)
class StandinProfile:
    """What one stand-in speaks: the profile, its defect switches and the serving-loop cost."""

    name: str = IDEAL
    defects: frozenset[str] = frozenset()
    serving_loop_s: float = 0.0  # reference: REFERENCE_SERVING_LOOP_S unless the agent sets serving_loop_ms

    @property
    def reference(self) -> bool:
        return self.name == REFERENCE

    def has(self, defect: str) -> bool:
        if defect not in DEFECTS:  # a typo in a role must not silently turn a defect off
            raise KeyError(f"unknown defect {defect!r}")
        return defect in self.defects


def resolve(run_profile: str, run_defects: Iterable[str], agent_config: Mapping[str, Any] | None,
            where: str = "agent") -> StandinProfile:
    """The profile of one agent: the run's, overridden by ``config.standin`` of the agent."""
    standin: Any = (agent_config or {}).get("standin") if hasattr(agent_config, "get") else None
    standin = standin if isinstance(standin, Mapping) else {}
    name = parse_profile(str(standin.get("profile", run_profile)), f"{where}: config.standin.profile")
    defects = set(parse_defects(run_defects, f"{where}: defects"))
    if "defects" in standin:
        own = standin["defects"]
        defects = set(parse_defects(own if isinstance(own, (str, list, tuple)) else str(own),
                                    f"{where}: config.standin.defects"))
    if name != REFERENCE:
        defects = set()  # defects are the real agents': the ideal profile has none
    loop = standin.get("serving_loop_ms")
    serving = (float(loop) / 1000 if isinstance(loop, (int, float)) and not isinstance(loop, bool) and loop >= 0
               else REFERENCE_SERVING_LOOP_S) if name == REFERENCE else 0.0
    return StandinProfile(name, frozenset(defects), serving)


# defects that keep an agent off its spec ports from the start: nothing answers there (PROTOCOL.md §4)
START_DEFECTS = ("double_bind", "binds_wrong_port")
# where PROTOCOL.md measured each start defect (the twin was measured after its double bind was worked around)
MEASURED_CARRIERS = {"double_bind": ("RequestCoordinator",), "binds_wrong_port": ("EmotionSynthesisAgent",)}


def start_carriers(topology: Any, run_defects: Iterable[str]) -> dict[str, str]:
    """Start defect -> the one agent key that carries it when the run selects it beside other defects.

    A start defect hides every other defect of its agent (nothing answers on the spec's ports), so a run
    that asks for several defects (``all``) gives each start defect to one carrier: the agent PROTOCOL.md
    measured it on when the spec has it, else the first agent in spec order that is neither a registry nor
    the twin (the others register through them) and carries no other start defect.
    """
    from aisys_verify.plan.roles import role_for  # not standin.roles: its roles import this module

    chosen: dict[str, str] = {}
    for defect in START_DEFECTS:
        if defect not in run_defects:
            continue
        free = [a for a in topology.agents if a.key not in chosen.values()]
        named = [a for a in free if a.name in MEASURED_CARRIERS[defect]]
        pool = named or [a for a in free if role_for(a.name, a.role).role not in ("registry", "twin")]
        if pool:
            chosen[defect] = pool[0].key
    return chosen


def profile_of(topology: Any, plan: Any, agent: Any) -> StandinProfile:
    """The resolved profile of ``agent`` (a spec Agent) in a stack of ``topology`` run with ``plan`` (a
    RunPlan): the run's profile and defects, start defects placed on their carriers when the run selects
    more than one defect (``start_carriers``), then the agent's own ``config.standin``. Every reader of an
    agent's profile (the group process, the health gate, the suites) goes through this one function."""
    run = set(parse_defects(plan.standin_defects, "stand-in defects"))
    starts = run & set(START_DEFECTS)
    if starts and len(run) > 1:
        carriers = start_carriers(topology, run)
        run = (run - starts) | {d for d, key in carriers.items() if key == agent.key}
    return resolve(plan.standin_profile, [d for d in DEFECTS if d in run], agent.config, agent.key)


def start_defects(topology: Any, plan: Any) -> dict[str, str]:
    """Agent key -> the start defect (``START_DEFECTS``) its resolved profile has: agents that will not
    answer on the spec's ports, which a health gate at stand-up must not wait for. ``topology`` is a
    spec Topology, ``plan`` a RunPlan (typed loosely: this module stays free of the spec and wiring)."""
    found: dict[str, str] = {}
    for agent in topology.agents:
        profile = profile_of(topology, plan, agent)
        defect = next((d for d in START_DEFECTS if profile.has(d)), None)
        if defect is not None:
            found[agent.key] = defect
    return found


__all__ = ["DEFECTS", "IDEAL", "MEASURED_CARRIERS", "PROFILES", "REFERENCE", "REFERENCE_SERVING_LOOP_S",
           "START_DEFECTS", "StandinProfile", "parse_defects", "parse_profile",
           "profile_of", "resolve", "start_carriers", "start_defects"]
