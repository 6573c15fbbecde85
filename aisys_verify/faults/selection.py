"""A fault selection (``kind=latency host=pc2 edge=A->B max-blast=10 limit=8``) and the fault kinds.

Kept apart from ``faults.matrix`` so that ``aisys_verify.config`` can check a selection where it is given
while importing nothing above ``errors``; ``faults.matrix`` re-exports both.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from dataclasses import dataclass

from aisys_verify.errors import UsageError

KINDS = ("partition", "latency", "reset_peer", "blackhole")


@dataclass(frozen=True)
class Selection:
    kinds: tuple[str, ...] = KINDS
    hosts: tuple[str, ...] = ()  # the caller's or the callee's host
    groups: tuple[str, ...] = ()  # the caller's or the callee's docker group (NAME or HOST/NAME)
    edges: tuple[str, ...] = ()  # CALLER->CALLEE selectors
    max_blast_radius: int | None = None
    limit: int | None = None

    @classmethod
    def parse(cls, text: str) -> Selection:
        """``kind=latency,partition host=pc2 group=memory_stack edge=A->B max-blast=10 limit=8`` (any subset)."""
        fields: dict[str, list[str]] = defaultdict(list)
        for word in shlex.split(text):
            key, eq, value = word.partition("=")
            if not eq or not value:
                raise UsageError(f"fault selection {text!r}: {word!r} is not KEY=VALUE (keys: kind, host, group, "
                                 "edge, max-blast, limit)")
            fields[key.strip().lower()].extend(v.strip() for v in value.split(",") if v.strip())
        unknown = set(fields) - {"kind", "host", "group", "edge", "max-blast", "limit"}
        if unknown:
            raise UsageError(f"fault selection {text!r}: unknown key(s) {', '.join(sorted(unknown))} (keys: kind, "
                             "host, group, edge, max-blast, limit)")
        kinds = tuple(fields.get("kind", KINDS))
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise UsageError(f"fault selection: unknown kind(s) {', '.join(bad)}; kinds: {', '.join(KINDS)}")
        return cls(kinds, tuple(fields.get("host", ())), tuple(fields.get("group", ())),
                   tuple(fields.get("edge", ())), _one_int(fields, "max-blast"), _one_int(fields, "limit"))


def _one_int(fields: dict[str, list[str]], key: str) -> int | None:
    values = fields.get(key)
    if not values:
        return None
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
        raise UsageError(f"fault selection: {key} takes one whole number >= 1, got {','.join(values)}")
    return int(values[0])
