"""What every fault is: applied at once, proved effective, reverted exactly once, journaled.

A fault is applied when it is created and reverted when its ``with`` block ends, when
``revert()`` is called, or when the chaos engine resets (test teardown, Ctrl-C, scenario
rollback) - whichever comes first. Application is followed by an efficacy check: evidence
observed from the outside (added latency measured, a reset seen, a process found stopped);
a fault that did not take effect is reverted and raises ``FaultNotEffective``, so a test can
never pass against a fault that was not there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.errors import ChaosError as ChaosError
from aisys_verify.errors import ChaosUnsupported as ChaosUnsupported
from aisys_verify.errors import FaultNotEffective as FaultNotEffective
from aisys_verify.waiting import wait_until as wait_until  # its home is aisys_verify.waiting; kept here for callers


@dataclass(frozen=True)
class Efficacy:
    effective: bool
    evidence: str  # what was observed, in words
    measured: dict[str, Any] = field(default_factory=dict)


Recorder = Callable[[dict[str, Any]], None]


class Fault:
    """Base class: subclasses implement ``_apply``, ``_verify`` and ``_revert``."""

    kind = "fault"

    def __init__(self, target: str, attributes: dict[str, Any] | None = None, *,
                 record: Recorder | None = None, on_revert: Callable[[Fault], None] | None = None) -> None:
        self.target = target
        self.attributes = dict(attributes or {})
        self.record = record or (lambda event: None)
        self.on_revert = on_revert
        self.applied_at: float | None = None
        self.reverted_at: float | None = None
        self.efficacy: Efficacy | None = None
        self.recovery_s: float | None = None  # set by faults whose revert waits for the system to recover
        self._lock = threading.Lock()

    # --- the public life cycle --------------------------------------------------------------

    def start(self, verify: bool = True) -> Fault:
        self._event("apply")
        try:
            self._apply()
        except BaseException as exc:
            self._event("apply_failed", error=str(exc))
            self.revert()
            raise
        self.applied_at = time.time()
        if verify:
            try:
                self.efficacy = self._verify()
            except BaseException:
                self.revert()
                raise
            self._event("efficacy", effective=self.efficacy.effective, evidence=self.efficacy.evidence,
                        measured=self.efficacy.measured)
            if not self.efficacy.effective:
                self.revert()
                raise FaultNotEffective(f"{self.describe()} did not take effect: {self.efficacy.evidence}")
        return self

    def revert(self) -> None:
        """Undo the fault (idempotent, thread-safe: a signal handler and a teardown may race)."""
        with self._lock:
            if self.reverted_at is not None:
                return
            self.reverted_at = time.time()
        try:
            self._revert()
            self._event("revert", recovery_s=self.recovery_s)
        except BaseException as exc:
            self._event("revert_failed", error=str(exc))
            raise
        finally:
            if self.on_revert is not None:
                self.on_revert(self)

    @property
    def active(self) -> bool:
        return self.reverted_at is None

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.kind}({self.target}{', ' + shown if shown else ''})"

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.revert()

    def __repr__(self) -> str:
        return f"<{self.describe()} {'active' if self.active else 'reverted'}>"

    # --- for subclasses ----------------------------------------------------------------------

    def _apply(self) -> None:
        raise NotImplementedError

    def _verify(self) -> Efficacy:
        raise NotImplementedError

    def _revert(self) -> None:
        raise NotImplementedError

    def _event(self, action: str, **fields: Any) -> None:
        self.record({"t": time.time(), "action": action, "fault": self.kind, "target": self.target,
                     "attributes": self.attributes, **{k: v for k, v in fields.items() if v is not None}})


