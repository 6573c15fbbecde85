"""Sharding: N CI jobs (``--aisys-shard=I/N``) together run every test exactly once.

A test belongs to shard ``1 + h mod N``, where ``h`` is a stable hash (SHA-256, never Python's salted
``hash``) of its test id (the pytest node id, e.g.
``suites/chaos/test_matrix.py::test_fault_case[partition:pc2/...]``). The split needs no coordination
between jobs and no shared file: each job collects the same tests (same checkout, same spec, same
selection) and keeps its own share; a case added to the matrix lands in exactly one shard without moving
the others. Shards are even in expectation (a hash, not round-robin), which is what CI needs for a
584-case matrix; a handful of tests can land unevenly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from aisys_verify.errors import UsageError

T = TypeVar("T")
_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def bucket(test_id: str, total: int) -> int:
    """The 0-based shard ``test_id`` belongs to out of ``total``."""
    digest = hashlib.sha256(test_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str, where: str = "--aisys-shard") -> Shard:
        """``I/N`` with 1 <= I <= N; anything else is a UsageError naming ``where`` and the accepted form."""
        found = _FORM.fullmatch(text)
        if found is None:
            raise UsageError(f"{where}: expected I/N (this job's shard I of N jobs, e.g. 2/4), got {text!r}")
        index, total = int(found.group(1)), int(found.group(2))
        if not 1 <= index <= total:
            raise UsageError(f"{where}: shard {index} of {total} does not exist: I runs from 1 to N, got {text!r}")
        return cls(index, total)

    def owns(self, test_id: str) -> bool:
        return bucket(test_id, self.total) == self.index - 1

    def split(self, items: Iterable[T], test_id: Callable[[T], str]) -> tuple[list[T], list[T]]:
        """(kept, left to the other shards), each in the original order."""
        kept: list[T] = []
        others: list[T] = []
        for item in items:
            (kept if self.owns(test_id(item)) else others).append(item)
        return kept, others

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"
