"""Chaos scenarios as data (``scenarios/chaos/*.yaml``), in Chaos Toolkit's shape, validated on load.

    title: Memory slow on the dialogue path         # required
    description: ...
    tags: [dialogue]
    steady-state-hypothesis:                        # checked before the method, during it (runtime.during)
      title: users get answers                      # and after it (allowing runtime.recovery_timeout_s)
      probes:
        - name: a turn is answered within 5 s
          type: http                                # http | request (ZeroMQ) | health
          agent: UnifiedWebAgent                    # http: the agent's HTTP port; host: optional
          method: POST
          path: /dialogue/process
          body: {text: "Hello there"}
          tolerance: {status: 200, max_latency_ms: 5000, json: {degraded: false}}
    method:                                         # run in order
      - fault: latency                              # any Chaos method: latency, bandwidth, slow_close,
        edge: RequestCoordinator->MemoryClient      # blackhole, reset_peer, slicer, limit_data, partition,
        ms: 300                                     # isolate, partition_hosts, kill, terminate, pause,
        duration_s: 3                               # cpu_pressure, memory_pressure (their arguments);
      - probe: {name: ..., type: health, agents: "*", tolerance: {status: [ok, degraded]}}
      - pause_s: 1                                  # duration_s: hold, then revert (absent: until the end)
    rollbacks:                                      # always run after the method; faults are reverted first
      - action: wait-healthy                        # reset-toxics | resume-groups | wait-healthy
        timeout_s: 30
    runtime:
      during: {interval_s: 1.0}                     # probe the steady state while the method runs
      abort: {consecutive_failures: 3}              # and stop the method when it breaks this often in a row
      recovery_timeout_s: 30

Anything else - an unknown key, a wrong type, a fault argument the fault does not take - is a
ScenarioError naming the file and the key path (``method[1].ms``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import ScenarioError as ScenarioError
from aisys_verify.yamlfile import read_yaml

PROBE_TYPES = {"http": {"agent", "host", "method", "path", "body"}, "request": {"agent", "host", "action", "fields",
                                                                               "socket"},
               "health": {"agents"}}
PROBE_COMMON = {"name", "type", "tolerance", "timeout_s"}
TOLERANCE_KEYS = {"status", "max_latency_ms", "json", "contains"}
FAULTS = ("latency", "bandwidth", "slow_close", "blackhole", "reset_peer", "slicer", "limit_data", "partition",
          "isolate", "partition_hosts", "kill", "terminate", "pause", "cpu_pressure", "memory_pressure")
ROLLBACK_ACTIONS = {"reset-toxics": set(), "resume-groups": set(), "wait-healthy": {"timeout_s"}}


@dataclass(frozen=True)
class Probe:
    name: str
    type: str
    args: Mapping[str, Any]
    tolerance: Mapping[str, Any]
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Step:
    kind: str  # fault | probe | pause
    fault: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    probe: Probe | None = None
    pause_s: float = 0.0
    name: str = ""

    def describe(self) -> str:
        if self.kind == "fault":
            shown = ", ".join(f"{k}={v}" for k, v in self.args.items())
            return self.name or f"{self.fault}({shown})" + (f" for {self.duration_s:g} s" if self.duration_s else "")
        if self.kind == "probe":
            assert self.probe is not None
            return f"probe {self.probe.name}"
        return f"pause {self.pause_s:g} s"


@dataclass(frozen=True)
class Scenario:
    title: str
    path: Path | None
    raw: Mapping[str, Any]
    hypothesis_title: str
    probes: tuple[Probe, ...]
    method: tuple[Step, ...]
    rollbacks: tuple[Mapping[str, Any], ...]
    during_interval_s: float | None = None
    abort_after: int | None = None  # consecutive steady-state failures during the method
    recovery_timeout_s: float = 30.0
    description: str = ""
    tags: tuple[str, ...] = ()


def fault_parameters(fault: str) -> tuple[set[str], set[str]]:
    """(all, required) argument names of a Chaos fault method: the scenario vocabulary is the API's."""
    from aisys_verify.faults.chaos import Chaos

    params = [p for p in inspect.signature(getattr(Chaos, fault)).parameters.values() if p.name != "self"]
    names = {p.name for p in params} - {"sig"}  # a signal is chosen by the fault's name (kill, terminate)
    return names, {p.name for p in params if p.default is inspect.Parameter.empty}


def load_scenario(path: str | Path) -> Scenario:
    """A chaos scenario from a YAML file (parse_scenario checks it, naming file and key)."""
    path = Path(path)
    return parse_scenario(read_yaml(path, ScenarioError, "scenario"), str(path), path)


def parse_scenario(data: Any, where: str = "<scenario>", path: Path | None = None) -> Scenario:
    top = _mapping(data, where, "the file")
    _keys(top, {"title", "description", "tags", "steady-state-hypothesis", "method", "rollbacks", "runtime"},
          where, "")
    title = _str(top.get("title"), where, "title")
    hypothesis = _mapping(top.get("steady-state-hypothesis", {}), where, "steady-state-hypothesis")
    _keys(hypothesis, {"title", "probes"}, where, "steady-state-hypothesis.")
    probes = tuple(_probe(p, where, f"steady-state-hypothesis.probes[{i}]")
                   for i, p in enumerate(_list(hypothesis.get("probes", []), where, "steady-state-hypothesis.probes")))
    method_items = _list(top.get("method"), where, "method")
    if not method_items:
        raise ScenarioError(f"{where}: method: at least one step is needed")
    method = tuple(_step(s, where, f"method[{i}]") for i, s in enumerate(method_items))
    rollbacks = []
    for i, item in enumerate(_list(top.get("rollbacks", []), where, "rollbacks")):
        action = _mapping(item, where, f"rollbacks[{i}]")
        name = _str(action.get("action"), where, f"rollbacks[{i}].action")
        if name not in ROLLBACK_ACTIONS:
            raise ScenarioError(f"{where}: rollbacks[{i}].action: unknown action {name!r}; use one of "
                                f"{', '.join(ROLLBACK_ACTIONS)}")
        _keys(action, {"action"} | ROLLBACK_ACTIONS[name], where, f"rollbacks[{i}].")
        rollbacks.append(action)
    runtime = _mapping(top.get("runtime", {}), where, "runtime")
    _keys(runtime, {"during", "abort", "recovery_timeout_s"}, where, "runtime.")
    during = _mapping(runtime.get("during", {}), where, "runtime.during")
    _keys(during, {"interval_s"}, where, "runtime.during.")
    abort = _mapping(runtime.get("abort", {}), where, "runtime.abort")
    _keys(abort, {"consecutive_failures"}, where, "runtime.abort.")
    abort_after = abort.get("consecutive_failures")
    if abort_after is not None and (not isinstance(abort_after, int) or isinstance(abort_after, bool)
                                    or abort_after < 1):
        raise ScenarioError(f"{where}: runtime.abort.consecutive_failures: a whole number >= 1, got {abort_after!r}")
    if abort_after is not None and not during:
        raise ScenarioError(f"{where}: runtime.abort needs runtime.during (the steady state is only watched during "
                            "the method when runtime.during.interval_s is set)")
    tags = _list(top.get("tags", []), where, "tags")
    return Scenario(
        title, path, top, str(hypothesis.get("title", "")), probes, method, tuple(rollbacks),
        _number(during["interval_s"], where, "runtime.during.interval_s", 0.1) if "interval_s" in during else None,
        abort_after, _number(runtime.get("recovery_timeout_s", 30.0), where, "runtime.recovery_timeout_s", 0),
        str(top.get("description", "") or ""), tuple(str(t) for t in tags))


def parse_probe(item: Any, where: str = "<probe>") -> Probe:
    """One steady-state probe (the mapping a scenario lists); ScenarioError names ``where``."""
    return _probe(item, where, "probe")


def _step(item: Any, where: str, key: str) -> Step:
    step = _mapping(item, where, key)
    kinds = [k for k in ("fault", "probe", "pause_s") if k in step]
    if len(kinds) != 1:
        raise ScenarioError(f"{where}: {key}: a step has exactly one of 'fault', 'probe' or 'pause_s'")
    if kinds[0] == "pause_s":
        _keys(step, {"pause_s", "name"}, where, f"{key}.")
        return Step("pause", pause_s=_number(step["pause_s"], where, f"{key}.pause_s", 0),
                    name=str(step.get("name", "")))
    if kinds[0] == "probe":
        _keys(step, {"probe"}, where, f"{key}.")
        return Step("probe", probe=_probe(step["probe"], where, f"{key}.probe"))
    fault = _str(step["fault"], where, f"{key}.fault")
    if fault not in FAULTS:
        import difflib

        close = difflib.get_close_matches(fault, FAULTS, n=1)
        raise ScenarioError(f"{where}: {key}.fault: unknown fault {fault!r}"
                            + (f"; did you mean {close[0]!r}?" if close else f"; faults: {', '.join(FAULTS)}"))
    allowed, required = fault_parameters(fault)
    args = {k: v for k, v in step.items() if k not in ("fault", "duration_s", "name")}
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: {key}.{unknown[0]}: {fault} takes {', '.join(sorted(allowed))}")
    missing = sorted(required - set(args))
    if missing:
        raise ScenarioError(f"{where}: {key}: {fault} needs {', '.join(missing)}")
    duration = step.get("duration_s")
    return Step("fault", fault, args, None if duration is None else _number(duration, where, f"{key}.duration_s", 0),
                name=str(step.get("name", "")))


def _probe(item: Any, where: str, key: str) -> Probe:
    probe = _mapping(item, where, key)
    kind = _str(probe.get("type"), where, f"{key}.type")
    if kind not in PROBE_TYPES:
        raise ScenarioError(f"{where}: {key}.type: unknown probe type {kind!r}; use one of {', '.join(PROBE_TYPES)}")
    _keys(probe, PROBE_COMMON | PROBE_TYPES[kind], where, f"{key}.")
    if kind in ("http", "request") and "agent" not in probe:
        raise ScenarioError(f"{where}: {key}: a {kind} probe needs 'agent'")
    if kind == "request" and "action" not in probe:
        raise ScenarioError(f"{where}: {key}: a request probe needs 'action'")
    tolerance = _mapping(probe.get("tolerance", {}), where, f"{key}.tolerance")
    _keys(tolerance, TOLERANCE_KEYS, where, f"{key}.tolerance.")
    if "json" in tolerance:
        _mapping(tolerance["json"], where, f"{key}.tolerance.json")
    if "max_latency_ms" in tolerance:
        _number(tolerance["max_latency_ms"], where, f"{key}.tolerance.max_latency_ms", 0)
    args = {k: v for k, v in probe.items() if k in PROBE_TYPES[kind]}
    return Probe(_str(probe.get("name"), where, f"{key}.name"), kind, args, tolerance,
                 _number(probe.get("timeout_s", 10.0), where, f"{key}.timeout_s", 0.01))


def _mapping(value: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {key}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: {key}: expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: {key}: expected non-empty text, got {value!r}")
    return value


def _number(value: Any, where: str, key: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ScenarioError(f"{where}: {key}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _keys(mapping: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
        raise ScenarioError(f"{where}: {prefix}{unknown[0]}: unknown key{hint}")
