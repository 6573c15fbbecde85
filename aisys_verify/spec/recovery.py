"""The manifest's ``recovery_objectives: {rpo_s, rto_s}``: what a disaster may cost, read into the model.

Both are durations (a number of seconds or '30s', '5m'); both must be given and above zero, since an objective
of zero can never be met by a backup and restore, and a missing one would let the DR suite pass on nothing.
"""

from __future__ import annotations

from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.spec.model import RecoveryObjectives
from aisys_verify.spec.reader import Notes, expect_map, parse_duration
from aisys_verify.spec.source import Location

RECOVERY_KEYS = ("rpo_s", "rto_s", "description")


def read_recovery_objectives(value: Any, loc: Location, notes: Notes) -> RecoveryObjectives:
    block = expect_map(value, loc, "recovery_objectives")
    notes.unknown_keys(block, RECOVERY_KEYS, "recovery_objectives")
    found: dict[str, float] = {}
    for key in ("rpo_s", "rto_s"):
        if key not in block:
            raise SpecError(f"recovery_objectives needs {key}", loc,
                            "state both objectives, e.g. recovery_objectives: {rpo_s: 10, rto_s: 60}")
        seconds = parse_duration(block[key], block.loc_of(key), f"recovery_objectives.{key}")
        if seconds <= 0:
            raise SpecError(f"recovery_objectives.{key} must be above zero, got {block[key]!r}", block.loc_of(key),
                            "no backup and restore loses nothing in no time: state the real objective")
        found[key] = seconds
    return RecoveryObjectives(found["rpo_s"], found["rto_s"], loc)
