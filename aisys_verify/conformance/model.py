"""What a conformance check returns, the settings it runs with, and how a failure names a PROTOCOL.md defect.

A check is a plain function of one agent (and the session's shared observations) returning a
CheckResult: ``pass``, ``fail`` (the message says what the agent did, what the contract is, and
which PROTOCOL.md defect it matches) or ``skip`` (not checked, and why: a backend that cannot
kill, an agent that is not running, which another check already reports).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.errors import InvalidValue
from aisys_verify.health import HTTP_POLICIES
from aisys_verify.standin.profile import DEFECTS

PASS, FAIL, SKIP = "pass", "fail", "skip"

# the checks in the order a run performs them: the ones that leave an agent changed come last
# (Redis cut, group killed and restarted, and the actions check, which can wedge a main socket for good)
CHECKS: tuple[str, ...] = ("listens", "health", "registered", "hostile_frames", "ready_refreshed",
                           "http_degraded", "ready_after_crash", "actions")

CHECK_TITLES: dict[str, str] = {
    "listens": "listens on the spec's port and health_check_port, and is the agent that answers there",
    "health": "answers ping/health_check on both sockets within a deadline with consistent health fields",
    "registered": "is found through the registry with its spec ports",
    "hostile_frames": "answers hostile frames and stays usable",
    "ready_refreshed": "refreshes its readiness key's TTL",
    "http_degraded": "HTTP /health shows degradation (policy: status or body)",
    "ready_after_crash": "a killed agent's readiness key is gone or not-ready within a bound",
    "actions": "answers every declared action with a JSON-serialisable reply within a deadline",
}


@dataclass(frozen=True)
class ConformanceOptions:
    """Deadlines and bounds of the checks (docs/conformance.md)."""

    health_deadline_s: float = 2.0  # a health socket answers in < 1 ms when idle (PROTOCOL.md §1)
    main_deadline_s: float = 3.0  # a main socket serves one request per ~100 ms loop (reference)
    action_deadline_s: float = 5.0
    # one registry serves every lookup (and, just after stand-up, every agent's registration) one per loop
    registry_deadline_s: float = 15.0
    observe_s: float | None = None  # readiness TTL watch; None: the stack's refresh interval + OBSERVE_MARGIN_S
    crash_bound_s: float = 30.0  # a killed agent's ready key may live at most this long
    http_policy: str = "status"  # aisys_verify.health.HTTP_POLICIES
    degrade_wait_s: float = 8.0  # after Redis is cut, how long an agent may take to say degraded
    recover_wait_s: float = 30.0  # after a restore or restart, how long agents may take to be back

    def __post_init__(self) -> None:
        if self.http_policy not in HTTP_POLICIES:
            raise InvalidValue(
                f"unknown HTTP health policy {self.http_policy!r}: use one of {', '.join(HTTP_POLICIES)}")
        if self.observe_s is not None and self.observe_s <= 0:
            raise InvalidValue(f"the readiness observation window must be positive, got {self.observe_s:g} s")
        if self.crash_bound_s < 0:
            raise InvalidValue(f"the crash bound must be >= 0 s, got {self.crash_bound_s:g} s")


OBSERVE_MARGIN_S = 2.5  # beyond one refresh interval: a refresh must have happened inside the window


@dataclass(frozen=True)
class CheckResult:
    check: str  # one of CHECKS
    agent: str  # host/Name
    outcome: str  # pass | fail | skip
    message: str
    defects: tuple[str, ...] = ()  # the PROTOCOL.md defects (profile.DEFECTS names) a failure matches
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome == FAIL

    def line(self) -> str:
        defects = f" [{', '.join(self.defects)}]" if self.defects else ""
        return f"{self.outcome.upper():<4} {self.check:<17} {self.agent}{defects}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "agent": self.agent, "outcome": self.outcome, "message": self.message,
                "defects": list(self.defects), "details": self.details}


def passed(check: str, agent: str, message: str, **details: Any) -> CheckResult:
    return CheckResult(check, agent, PASS, message, (), details)


def skipped(check: str, agent: str, why: str) -> CheckResult:
    return CheckResult(check, agent, SKIP, f"not checked: {why}")


def failed(check: str, agent: str, did: str, contract: str, defects: Iterable[str] = (), **details: Any) -> CheckResult:
    """A failure message in the fixed shape: what the agent did; the contract; the PROTOCOL.md defect matched."""
    names = tuple(defects)
    return CheckResult(check, agent, FAIL, f"{did}. Contract: {contract}. {matches(names)}", names, details)


def matches(defects: tuple[str, ...]) -> str:
    if not defects:
        return "No PROTOCOL.md defect matches this exactly."
    return " ".join(f"Matches PROTOCOL.md defect {name!r}: {DEFECTS[name][0]} ({DEFECTS[name][1]})."
                    for name in defects)
