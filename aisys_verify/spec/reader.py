"""Shared helpers for the spec readers: type checks that fail with file:line, and unknown-key notes."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.findings import Finding, Severity
from aisys_verify.spec.source import Location, YMap, YSeq

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "an integer"}


def type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    for t, name in _TYPE_NAMES.items():
        if isinstance(value, t):
            return name
    return f"a {type(value).__name__}"


class Notes:
    """Collects recoverable problems found while reading, as findings."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(self, rule: str, severity: Severity, message: str, loc: Location, why: str = "", fix: str = "") -> None:
        self.items.append(Finding(rule, severity, message, loc, why, fix))

    def unknown_keys(self, mapping: YMap, known: Iterable[str], what: str) -> None:
        known = list(known)
        for key in mapping:
            if isinstance(key, str) and key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif len(known) <= 12:
                hint = f"known keys: {', '.join(sorted(known))}"
            else:
                hint = "it is not a key this format defines"
            self.add("SPEC001", Severity.WARNING, f"unknown key '{key}' in {what}; {hint}", mapping.loc_of(key),
                     why="an unknown key is ignored, so a misspelt setting silently has no effect",
                     fix=f"rename it to a known key ({hint}) or remove it")


def expect_map(value: Any, loc: Location, what: str, *, allow_none: bool = False) -> YMap:
    if value is None and allow_none:
        return YMap(loc)
    if not isinstance(value, Mapping):
        raise SpecError(f"{what} must be a mapping, got {type_name(value)}", loc)
    if not isinstance(value, YMap):  # pragma: no cover - loaders always give YMap
        ymap = YMap(loc)
        ymap.update(value)
        return ymap
    return value


def expect_list(value: Any, loc: Location, what: str, *, allow_none: bool = True) -> YSeq:
    if value is None and allow_none:
        return YSeq(loc)
    if not isinstance(value, list):
        raise SpecError(f"{what} must be a list, got {type_name(value)}", loc)
    if not isinstance(value, YSeq):  # pragma: no cover
        seq = YSeq(loc)
        seq.extend(value)
        return seq
    return value


def expect_str(value: Any, loc: Location, what: str, *, allow_none: bool = False) -> str | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecError(f"{what} must be text, got {type_name(value)}", loc)
    return str(value)


def expect_bool(value: Any, loc: Location, what: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError(f"{what} must be true or false, got {value!r}", loc, "write true or false, unquoted")
    return value


def expect_number(value: Any, loc: Location, what: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise SpecError(f"{what} must be a number, got {value!r}", loc)
    number: float | None = None
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number):
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise SpecError(f"{what} must be a number (finite), got {shown}", loc)
    return number


def freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become MappingProxyType, lists become tuples."""
    from types import MappingProxyType

    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, loc: Location, what: str) -> float:
    """'30s', '5m', '24h', '30d', '1h30m' or a number of seconds."""
    import re

    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e12:
        return float(value)
    if isinstance(value, str) and len(value) < 64:
        parts = re.findall(r"(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h|d|w)", value.strip())
        if parts and "".join(n + u for n, u in parts) == value.strip():
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise SpecError(f"{what} must be a duration like 30s, 5m, 24h or 30d, got {value!r}", loc)
