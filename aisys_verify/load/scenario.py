"""Load scenarios: YAML files in ``scenarios/load/`` naming a shape, a model, and weighted workloads.

    name: spike
    shape: {kind: spike, baseline: 2, peak: 8, before: 5, spike: 5, after: 5}
    model: closed            # closed: the level is users; open: the level is requests/s
    users: 8                 # open model only: the pool of users that paces the arrivals
    workloads: {conversation: 3, memory: 1, vision: 1, speech: 1, reasoning: 1}
    think_time: 0            # closed model only: seconds a user waits after each reply
    timeout: 10              # seconds per request; a request that takes longer failed
    workers: 0               # 0: one Locust process; N: a master and N local worker processes

Instead of ``workloads``, a team's own Locust file (relative to the scenario file), run under the same shapes,
pacing, recording and verdicts; each ``@task`` function's name becomes an endpoint name:

    locustfile: ../../loadtests/locustfile.py
    user_classes: {WebsiteUser: 3, ApiUser: 1}   # or a list of names; absent: every User class the file defines

Workloads against a stack: conversation (gateway HTTP), memory (ZeroMQ store then retrieve),
vision, speech, reasoning (ZeroMQ to their agents). Against a plain URL: ``http-get``
(``{http-get: {weight: 1, path: /}}``), for benchmarks and tests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import LoadError
from aisys_verify.load.shapes import Shape

WORKLOADS = ("conversation", "memory", "vision", "speech", "reasoning", "http-get")
STACK_WORKLOADS = WORKLOADS[:-1]
GATEWAY_AGENT = "UnifiedWebAgent"
# what each stack workload sends: (kind, agent, action or "METHOD /path"); users.py sends exactly these
WORKLOAD_ENDPOINTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "conversation": (("http", GATEWAY_AGENT, "POST /dialogue/process"),),
    "memory": (("zmq", "MemoryOrchestratorService", "store_memory"),
               ("zmq", "MemoryOrchestratorService", "get_memory")),
    "vision": (("zmq", "VisionProcessingAgent", "recognize"),),
    "speech": (("zmq", "STTService", "transcribe"), ("zmq", "TTSService", "synthesize")),
    "reasoning": (("zmq", "ChainOfThoughtAgent", "reason"),),
}
_KEYS = ("name", "description", "shape", "model", "users", "spawn_rate", "think_time", "workloads", "timeout",
         "workers", "locustfile", "user_classes")


@dataclass(frozen=True)
class Workload:
    name: str
    weight: int
    options: tuple[tuple[str, str], ...] = ()  # http-get: path, method


@dataclass(frozen=True)
class LoadScenario:
    name: str
    shape: Shape
    model: str = "closed"
    users: int = 0                    # open model: pool size (0: derived from the peak rate)
    spawn_rate: float = 0.0           # closed model: users started per second (0: reach each level at once)
    think_time: float = 0.0           # closed model: seconds a user waits after each reply
    workloads: tuple[Workload, ...] = (Workload("conversation", 1),)
    timeout: float = 10.0
    workers: int = 0
    description: str = ""
    source: str = "<inline>"
    locustfile: str = ""                          # a user's own Locust file (absolute path); replaces workloads
    user_classes: tuple[tuple[str, int], ...] = ()  # (class name, weight; 0: the class's own), () = all of them

    @property
    def pool(self) -> int:
        """Open model: the users pacing the arrivals; enough that a 0.5 s reply does not hold the schedule."""
        if self.users:
            return self.users
        return max(4, math.ceil(self.shape.peak * 0.5))

    def with_overrides(self, **changes: Any) -> LoadScenario:
        from dataclasses import replace

        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": {"kind": self.shape.kind, **dict(self.shape.params)},
                "model": self.model, "users": self.pool if self.model == "open" else self.users,
                "spawn_rate": self.spawn_rate, "think_time": self.think_time, "timeout": self.timeout,
                "workers": self.workers,
                "workloads": {w.name: {"weight": w.weight, **dict(w.options)} for w in self.workloads},
                **({"locustfile": self.locustfile, "user_classes": dict(self.user_classes)} if self.locustfile
                   else {})}


def parse_scenario(data: Mapping[str, Any], source: str = "<inline>") -> LoadScenario:
    """A LoadScenario from parsed YAML/JSON; LoadError names the file and the key."""
    if not isinstance(data, Mapping):
        raise LoadError(f"{source}: a load scenario is a mapping with 'shape' and 'workloads'")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise LoadError(f"{source}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_KEYS)}")
    raw_shape = data.get("shape")
    if not isinstance(raw_shape, Mapping) or "kind" not in raw_shape:
        raise LoadError(f"{source}: 'shape' must be a mapping with 'kind' (e.g. {{kind: ramp-up, peak: 8, ramp: 5}})")
    try:
        shape = Shape.build(str(raw_shape["kind"]), {k: v for k, v in raw_shape.items() if k != "kind"},
                            f"{source}: shape")
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    model = data.get("model", "closed")
    if model not in ("open", "closed"):
        raise LoadError(f"{source}: model must be 'open' or 'closed', got {model!r}")
    locustfile, user_classes = _locustfile(data, source)
    if locustfile and "workloads" in data:
        raise LoadError(f"{source}: give either 'workloads' or 'locustfile' (a team's own Locust users), not both")
    workloads = () if locustfile else _workloads(data.get("workloads", {"conversation": 1}), source)
    return LoadScenario(
        name=str(data.get("name") or Path(source).stem), shape=shape, model=model,
        users=_number(data, "users", 0, source, whole=True), spawn_rate=_number(data, "spawn_rate", 0, source),
        think_time=_number(data, "think_time", 0, source),
        workloads=workloads, timeout=_number(data, "timeout", 10.0, source, positive=True),
        workers=_number(data, "workers", 0, source, whole=True), description=str(data.get("description") or ""),
        source=source, locustfile=locustfile, user_classes=user_classes)


def _locustfile(data: Mapping[str, Any], source: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    raw, classes = data.get("locustfile"), data.get("user_classes")
    if raw is None:
        if classes is not None:
            raise LoadError(f"{source}: 'user_classes' needs 'locustfile' (the file that defines them)")
        return "", ()
    if not isinstance(raw, str) or not raw.endswith(".py"):
        raise LoadError(f"{source}: 'locustfile' must be the path of a .py file, got {raw!r}")
    path = Path(raw) if Path(raw).is_absolute() or source.startswith("<") else Path(source).parent / raw
    if not path.is_file():
        raise LoadError(f"{source}: locustfile: no such file {path} (a path relative to the scenario file)")
    if classes is None:
        chosen: dict[str, Any] = {}
    elif isinstance(classes, list) and all(isinstance(c, str) for c in classes):
        chosen = dict.fromkeys(classes, 0)
    elif isinstance(classes, Mapping):
        chosen = dict(classes)
    else:
        raise LoadError(f"{source}: 'user_classes' must list User class names or map them to weights")
    for name, weight in chosen.items():
        if not str(name).isidentifier():
            raise LoadError(f"{source}: user_classes: {name!r} is not a class name")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise LoadError(f"{source}: user_classes.{name}: the weight must be a whole number >= 1, got {weight!r}")
    return str(path.resolve()), tuple((str(k), int(v)) for k, v in chosen.items())


def _number(data: Mapping[str, Any], key: str, default: float, source: str, *, whole: bool = False,
            positive: bool = False) -> Any:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
        raise LoadError(f"{source}: '{key}' must be a {'positive' if positive else 'non-negative'} number, "
                        f"got {value!r}")
    if whole and value != int(value):
        raise LoadError(f"{source}: '{key}' must be a whole number, got {value!r}")
    return int(value) if whole else float(value)


def _workloads(raw: Any, source: str) -> tuple[Workload, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise LoadError(f"{source}: 'workloads' must map workload names to weights, "
                        "e.g. {conversation: 3, memory: 1}")
    out = []
    for name, spec in raw.items():
        if name not in WORKLOADS:
            raise LoadError(f"{source}: workloads: unknown workload '{name}'; the workloads are {', '.join(WORKLOADS)}")
        options: dict[str, str] = {}
        if isinstance(spec, Mapping):
            extra = set(spec) - {"weight", "path", "method"}
            if extra:
                raise LoadError(f"{source}: workloads.{name}: unknown key(s) {', '.join(sorted(extra))} "
                                "(keys: weight, path, method)")
            options = {k: str(v) for k, v in spec.items() if k != "weight"}
            weight = spec.get("weight", 1)
        else:
            weight = spec
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise LoadError(f"{source}: workloads.{name}: the weight must be a whole number >= 1, got {weight!r}")
        out.append(Workload(str(name), weight, tuple(sorted(options.items()))))
    return tuple(out)


def load_scenario(path_or_name: str | os.PathLike[str], root: Path | None = None) -> LoadScenario:
    """A scenario from a YAML file, or by name from ``scenarios/load/`` (``spike`` -> ``scenarios/load/spike.yaml``)."""
    from aisys_verify.yamlfile import read_yaml

    path = Path(path_or_name)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        folder = (root or Path.cwd()) / "scenarios" / "load"
        path = folder / f"{path_or_name}.yaml"
        if not path.exists():
            names = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
            raise LoadError(f"no load scenario '{path_or_name}' in {folder} "
                            f"(there: {', '.join(names) or 'none'}); give a name or a YAML path")
    if not path.is_file():
        raise LoadError(f"{path}: no such load scenario file")
    return parse_scenario(read_yaml(path, LoadError, "load scenario"), str(path))
