"""Our chaos scenarios as Chaos Toolkit experiments (``aisys-verify chaos export``), and our journals in Chaos
Toolkit's journal shape (so ``chaos report`` renders them).

The export keeps our semantics with python providers pointing at this extension: each steady-state probe is
``probes.steady_state`` with our probe as its argument (tolerance ``[succeeded]``); each fault step is its
``actions`` function (``duration_s`` held, then reverted, inside the action); a ``pause_s`` step is
``actions.hold``. Our engine reverts every fault and waits for health before it checks the steady state
after, where Chaos Toolkit checks it before its rollbacks: so the method ends with ``actions.recover``.
``runtime.during`` becomes ``actions.watch_steady_state`` first in the method and the hypothesis probe
``probes.held_during`` (the run deviates when the steady state broke ``runtime.abort`` times in a row).
The control ``aisys_verify.ctk.control`` undoes everything at the end, even when the run is interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aisys_verify.faults.scenario import Scenario

EXTENSION = "aisys-verify"
# the chaoslib journal format our journals follow (chaos report picks its template by this version)
JOURNAL_FORMAT_VERSION = "1.44.0"
STACK_CONFIGURATION = {"aisys_stack": {"type": "env", "key": "AISYS_STACK", "default": ""}}
CONTROL = {"name": EXTENSION, "provider": {"type": "python", "module": "aisys_verify.ctk.control"}}
_ROLLBACKS = {"reset-toxics": "reset_toxics", "resume-groups": "resume_groups", "wait-healthy": "wait_healthy"}


def _python(kind: str, name: str, module: str, func: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "name": name,
            "provider": {"type": "python", "module": f"aisys_verify.ctk.{module}", "func": func,
                         "arguments": arguments}}


def probe_activity(raw_probe: dict[str, Any]) -> dict[str, Any]:
    activity = _python("probe", str(raw_probe["name"]), "probes", "steady_state", {"probe": dict(raw_probe)})
    activity["tolerance"] = ["succeeded"]
    return activity


def step_activities(scenario: Scenario) -> list[dict[str, Any]]:
    """One Chaos Toolkit activity per method step, in order."""
    out = []
    for step, raw in zip(scenario.method, scenario.raw["method"], strict=True):
        if step.kind == "fault":
            args = {**dict(step.args), **({"duration_s": step.duration_s} if step.duration_s else {})}
            out.append(_python("action", step.describe(), "actions", step.fault, args))
        elif step.kind == "probe":
            out.append(probe_activity(raw["probe"]))
        else:
            out.append(_python("action", step.describe(), "actions", "hold", {"seconds": step.pause_s}))
    return out


def _watch(scenario: Scenario) -> dict[str, Any]:
    return _python("action", "watch the steady state during the method", "actions", "watch_steady_state",
                   {"probes": [dict(p) for p in scenario.raw["steady-state-hypothesis"]["probes"]],
                    "interval_s": scenario.during_interval_s, "abort_after": scenario.abort_after or 0})


def _recover(scenario: Scenario) -> dict[str, Any]:
    waits = [float(a.get("timeout_s", 30)) for a in scenario.rollbacks if a["action"] == "wait-healthy"]
    return _python("action", "revert the faults still on and wait until every agent is healthy", "actions",
                   "recover", {"timeout_s": max([scenario.recovery_timeout_s, *waits])})


def export_experiment(scenario: Scenario) -> dict[str, Any]:
    """A Chaos Toolkit experiment (JSON-ready) equivalent to ``scenario``."""
    hypothesis = scenario.raw.get("steady-state-hypothesis") or {}
    probes = [probe_activity(p) for p in hypothesis.get("probes", [])]
    method = step_activities(scenario)
    if scenario.during_interval_s is not None:
        probes.append({**_python("probe", "the steady state held during the method", "probes", "held_during", {}),
                       "tolerance": ["succeeded"]})
        method.insert(0, _watch(scenario))
    method.append(_recover(scenario))
    rollbacks = [_python("action", "revert every fault and remove any residue", "rollbacks", "revert_all", {})]
    for action in scenario.rollbacks:
        args = {"timeout_s": float(action["timeout_s"])} if "timeout_s" in action else {}
        rollbacks.append(_python("action", str(action["action"]), "rollbacks", _ROLLBACKS[str(action["action"])],
                                 args))
    experiment: dict[str, Any] = {
        "version": "1.0.0", "title": scenario.title, "description": scenario.description or scenario.title,
        "tags": list(scenario.tags), "configuration": dict(STACK_CONFIGURATION), "controls": [CONTROL],
        "method": method, "rollbacks": rollbacks,
        "extensions": [{"name": EXTENSION, "scenario": dict(scenario.raw),
                        "source": str(scenario.path) if scenario.path else ""}]}
    if probes:
        experiment["steady-state-hypothesis"] = {"title": scenario.hypothesis_title or "steady state",
                                                 "probes": probes}
    return experiment


def to_ctk_journal(journal: dict[str, Any], scenario: Scenario, iso_time: Callable[[float], str]) -> dict[str, Any]:
    """Our engine's journal with every field of Chaos Toolkit's (``chaoslib-version``, ``experiment`` as a Chaos
    Toolkit experiment, each run and rollback entry with an ``activity`` mapping and ISO times); our scenario,
    descriptions, efficacy evidence and timelines stay as extra keys. ``iso_time``: the engine's epoch -> ISO."""
    experiment = export_experiment(scenario)
    activities = step_activities(scenario)
    journal["chaoslib-version"] = JOURNAL_FORMAT_VERSION
    journal["scenario"], journal["experiment"] = journal["experiment"], experiment
    for entry in journal["run"]:
        if isinstance(entry.get("activity"), str):
            entry["description"] = entry["activity"]
            entry["activity"] = activities[int(entry["step"])]
        _iso_times(entry, iso_time, journal["end"])
    for entry in journal["rollbacks"]:
        if isinstance(entry.get("activity"), str):
            entry["description"] = entry["activity"]
            func = _ROLLBACKS.get(entry["activity"], "revert_all")
            entry["activity"] = _python("action", entry["description"], "rollbacks", func, {})
        _iso_times(entry, iso_time, journal["end"])
    hypothesis = {p["name"]: p for p in experiment.get("steady-state-hypothesis", {}).get("probes", [])}
    for state in (journal["steady_states"].get("before"), journal["steady_states"].get("after")):
        for probe in (state or {}).get("probes", []):
            name = probe.get("activity", {}).get("name")
            if name in hypothesis:
                probe["probe"], probe["activity"] = probe["activity"], hypothesis[name]
    return journal


def _iso_times(entry: dict[str, Any], iso: Callable[[float], str], default: str) -> None:
    if "start" not in entry:  # a rollback our engine does not time: stamped with the journal's end
        entry.update(start=default, end=default, duration=0.0)
    start, end = entry.get("start"), entry.get("end")
    if isinstance(start, (int, float)):
        entry["start"] = iso(start)
        if isinstance(end, (int, float)):
            entry["duration"] = round(end - start, 3)
            entry["end"] = iso(end)
        else:
            entry["end"] = entry["start"]
            entry.setdefault("duration", 0.0)
    entry.setdefault("output", {k: entry[k] for k in ("efficacy", "recovery_s", "seconds", "found", "faults",
                                                      "errors") if k in entry} or None)
