"""Toxiproxy's toxics as typed, validated values that mirror its model exactly.

A toxic is ``name``, ``type``, ``stream`` (upstream: client to server; downstream: server to
client, Toxiproxy's default), ``toxicity`` (the probability, 0-1, that it applies to a
connection) and type-specific ``attributes``. The types and attributes are those of
Toxiproxy v2.12.0 (its README and ``toxics/*.go``); units are Toxiproxy's own and are stated
per attribute, because they differ: slicer's ``delay`` is in microseconds, bandwidth's
``rate`` in KB/s, the rest in milliseconds or bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.errors import ToxicError as ToxicError


class Stream(enum.Enum):
    UPSTREAM = "upstream"  # client -> server
    DOWNSTREAM = "downstream"  # server -> client


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    unit: str
    minimum: float = 0
    maximum: float | None = None
    required: bool = True


# type -> its attributes (Toxiproxy v2.12.0)
TOXIC_TYPES: dict[str, tuple[AttributeSpec, ...]] = {
    "latency": (AttributeSpec("latency", "ms"), AttributeSpec("jitter", "ms", required=False)),
    "bandwidth": (AttributeSpec("rate", "KB/s"),),
    "slow_close": (AttributeSpec("delay", "ms"),),
    "timeout": (AttributeSpec("timeout", "ms (0: hold the connection open and drop data)"),),
    "reset_peer": (AttributeSpec("timeout", "ms before the reset", required=False),),
    "slicer": (AttributeSpec("average_size", "bytes", minimum=1), AttributeSpec("size_variation", "bytes",
                                                                              required=False),
               AttributeSpec("delay", "microseconds", required=False)),
    "limit_data": (AttributeSpec("bytes", "bytes"),),
}


@dataclass(frozen=True)
class Toxic:
    type: str
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)
    name: str = ""  # default: "<type>_<stream>", as Toxiproxy's own client names it

    def __post_init__(self) -> None:
        specs = TOXIC_TYPES.get(self.type)
        if specs is None:
            raise ToxicError(f"unknown toxic type {self.type!r}: use one of {', '.join(sorted(TOXIC_TYPES))}")
        if not isinstance(self.stream, Stream):
            raise ToxicError(f"stream must be Stream.UPSTREAM or Stream.DOWNSTREAM, got {self.stream!r}")
        if isinstance(self.toxicity, bool) or not isinstance(self.toxicity, (int, float)) \
                or not 0.0 <= self.toxicity <= 1.0:
            raise ToxicError(f"toxicity must be a probability from 0 to 1, got {self.toxicity!r}")
        known = {s.name: s for s in specs}
        for key, value in self.attributes.items():
            spec = known.get(key)
            if spec is None:
                raise ToxicError(f"{self.type} has no attribute {key!r}; it has: "
                                 + ", ".join(f"{s.name} ({s.unit})" for s in specs))
            if isinstance(value, bool) or not isinstance(value, int):
                raise ToxicError(f"{self.type}.{key} must be a whole number of {spec.unit}, got {value!r}")
            if value < spec.minimum or (spec.maximum is not None and value > spec.maximum):
                raise ToxicError(f"{self.type}.{key} must be at least {spec.minimum:g} {spec.unit}, got {value}")
        missing = [s.name for s in specs if s.required and s.name not in self.attributes]
        if missing:
            raise ToxicError(f"{self.type} needs {', '.join(missing)}")
        if self.type == "slicer" and self.attributes.get("size_variation", 0) >= self.attributes["average_size"]:
            raise ToxicError("slicer.size_variation must be smaller than average_size")
        if not self.name:
            object.__setattr__(self, "name", f"{self.type}_{self.stream.value}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream.value, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        try:
            return cls(str(data["type"]), Stream(data.get("stream", "downstream")), float(data.get("toxicity", 1.0)),
                       dict(data.get("attributes") or {}), str(data.get("name", "")))
        except (KeyError, ValueError, TypeError) as exc:
            raise ToxicError(f"not a toxic: {data!r} ({exc})") from None

    # readable constructors for the common ones
    @classmethod
    def latency(cls, ms: int, jitter_ms: int = 0, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0) -> Toxic:
        return cls("latency", stream, toxicity, {"latency": ms, "jitter": jitter_ms})

    @classmethod
    def bandwidth(cls, kb_per_s: int, stream: Stream = Stream.DOWNSTREAM) -> Toxic:
        return cls("bandwidth", stream, 1.0, {"rate": kb_per_s})

    @classmethod
    def reset_peer(cls, after_ms: int = 0, stream: Stream = Stream.DOWNSTREAM) -> Toxic:
        return cls("reset_peer", stream, 1.0, {"timeout": after_ms})
