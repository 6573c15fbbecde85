"""Load shapes as pure functions of time: no Locust here (the locustfile wraps them in a LoadTestShape).

A shape is a level over time, split into named phases. In the closed model the level is the number
of concurrent users (each waits for its reply before it sends again); in the open model it is the
arrival rate in requests per second, paced from intended start times by a fixed pool of users, so a
stalled server cannot slow the schedule down (no coordinated omission).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aisys_verify.errors import InvalidValue

SHAPES = ("constant", "ramp-up", "step", "spike", "burst", "sine-wave")

# per shape: its parameters with defaults (None: required)
PARAMETERS: dict[str, dict[str, float | None]] = {
    "constant": {"level": None, "duration": None},
    "ramp-up": {"start": 0.0, "peak": None, "ramp": None, "hold": 0.0},
    "step": {"start": None, "step": None, "steps": None, "step_time": None},
    "spike": {"baseline": None, "peak": None, "before": None, "spike": None, "after": None},
    "burst": {"baseline": None, "peak": None, "bursts": None, "burst": None, "gap": None},
    "sine-wave": {"mean": None, "amplitude": None, "period": None, "cycles": 1.0},
}


@dataclass(frozen=True)
class PhaseSpan:
    """A phase as offsets (seconds) from the start of the run."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Shape:
    """A named shape and its parameters (see PARAMETERS); ``level(t)`` and ``phases()`` are its meaning."""

    kind: str
    params: tuple[tuple[str, float], ...]

    @classmethod
    def build(cls, kind: str, raw: Mapping[str, Any], where: str = "shape") -> Shape:
        """Validate parameters; ValueError names the key and says what is expected."""
        if kind not in PARAMETERS:
            raise InvalidValue(f"{where}: unknown shape '{kind}'; the shapes are {', '.join(SHAPES)}")
        known = PARAMETERS[kind]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise InvalidValue(f"{where}: '{kind}' takes no parameter {', '.join(unknown)}; "
                             f"its parameters are {', '.join(known)}")
        values: dict[str, float] = {}
        for key, default in known.items():
            value = raw.get(key, default)
            if value is None:
                raise InvalidValue(f"{where}: '{kind}' needs '{key}' (its parameters: {', '.join(known)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidValue(f"{where}.{key}: expected a number, got {value!r}")
            if value < 0:
                raise InvalidValue(f"{where}.{key}: must be >= 0, got {value!r}")
            values[key] = float(value)
        shape = cls(kind, tuple(values.items()))
        if shape.duration <= 0:
            raise InvalidValue(f"{where}: '{kind}' lasts 0 s; give it a positive duration")
        if kind == "sine-wave" and values["amplitude"] > values["mean"]:
            raise InvalidValue(f"{where}.amplitude: {values['amplitude']:g} exceeds the mean {values['mean']:g}: "
                             "the level would go negative")
        if kind == "step" and values["steps"] != int(values["steps"]):
            raise InvalidValue(f"{where}.steps: expected a whole number, got {values['steps']:g}")
        if kind == "burst" and values["bursts"] != int(values["bursts"]):
            raise InvalidValue(f"{where}.bursts: expected a whole number, got {values['bursts']:g}")
        return shape

    def __getitem__(self, key: str) -> float:
        return dict(self.params)[key]

    @property
    def duration(self) -> float:
        p = dict(self.params)
        match self.kind:
            case "constant":
                return p["duration"]
            case "ramp-up":
                return p["ramp"] + p["hold"]
            case "step":
                return p["steps"] * p["step_time"]
            case "spike":
                return p["before"] + p["spike"] + p["after"]
            case "burst":  # gap, burst, gap, burst, ..., gap
                return p["bursts"] * p["burst"] + (p["bursts"] + 1) * p["gap"]
            case _:
                return p["period"] * p["cycles"]

    @property
    def peak(self) -> float:
        """The highest level the shape reaches."""
        p = dict(self.params)
        match self.kind:
            case "constant":
                return p["level"]
            case "ramp-up":
                return max(p["start"], p["peak"])
            case "step":
                return p["start"] + p["step"] * (p["steps"] - 1)
            case "spike" | "burst":
                return max(p["baseline"], p["peak"])
            case _:
                return p["mean"] + p["amplitude"]

    def phases(self) -> tuple[PhaseSpan, ...]:
        p = dict(self.params)
        match self.kind:
            case "constant":
                spans = [("steady", 0.0, p["duration"])]
            case "ramp-up":
                spans = [("ramp", 0.0, p["ramp"]), ("hold", p["ramp"], p["ramp"] + p["hold"])]
            case "step":
                width = p["step_time"]
                spans = [(f"step-{i + 1}", i * width, (i + 1) * width) for i in range(int(p["steps"]))]
            case "spike":
                a, b = p["before"], p["before"] + p["spike"]
                spans = [("baseline", 0.0, a), ("spike", a, b), ("recovery", b, b + p["after"])]
            case "burst":
                spans, t = [], 0.0
                for i in range(int(p["bursts"])):
                    top = t + p["gap"]
                    spans += [(f"gap-{i + 1}", t, top), (f"burst-{i + 1}", top, top + p["burst"])]
                    t += p["gap"] + p["burst"]
                spans.append((f"gap-{int(p['bursts']) + 1}", t, t + p["gap"]))
            case _:
                n = math.ceil(p["cycles"] - 1e-9)
                period = p["period"]
                spans = [(f"cycle-{i + 1}", i * period, min((i + 1) * period, self.duration)) for i in range(n)]
        return tuple(PhaseSpan(name, start, end) for name, start, end in spans if end > start)

    def phase_at(self, t: float) -> str:
        """The phase holding offset t (the last phase after the end, the first before the start)."""
        spans = self.phases()
        for span in spans:
            if t < span.end:
                return span.name
        return spans[-1].name

    def level(self, t: float) -> float:
        """The target level at offset t seconds (users, or requests/s in the open model); 0 after the end."""
        if t < 0 or t >= self.duration:
            return 0.0
        p = dict(self.params)
        match self.kind:
            case "constant":
                return p["level"]
            case "ramp-up":
                if t < p["ramp"]:
                    return p["start"] + (p["peak"] - p["start"]) * t / p["ramp"]
                return p["peak"]
            case "step":
                return p["start"] + p["step"] * math.floor(t / p["step_time"])
            case "spike":
                return p["peak"] if p["before"] <= t < p["before"] + p["spike"] else p["baseline"]
            case "burst":
                within = t % (p["gap"] + p["burst"])
                return p["peak"] if within >= p["gap"] and t < self.duration - p["gap"] else p["baseline"]
            case _:
                return p["mean"] + p["amplitude"] * math.sin(2 * math.pi * t / p["period"])

    def expected_count(self, start: float, end: float, step: float = 0.01) -> float:
        """The integral of the level over [start, end) (requests, in the open model)."""
        n = max(1, math.ceil((end - start) / step))
        width = (end - start) / n
        return sum(self.level(start + (i + 0.5) * width) for i in range(n)) * width
