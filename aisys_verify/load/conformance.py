"""Did the delivered load follow the target shape? Locust's ``tick()`` timing is approximate
(locust#2242, #1762), so this is checked, not assumed.

Both models: in every phase, at least 80 % of the seconds' actual user counts match the shape's target
(within 10 %, at least one user; the targets of the two seconds before count too, for spawning).
Open model: each phase's requests (by intended start) against the shape's integral of the rate, and
the requests that fell due but were never sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aisys_verify.load.scenario import LoadScenario

USERS_TOLERANCE = 0.10     # relative, at least one user
RATE_TOLERANCE = 0.10      # relative, at least 3 requests per phase
MIN_CONFORMING = 0.80      # of the seconds checked
SPAWN_ALLOWANCE_S = 2      # seconds after a change of target users that are not checked


class _CellLike(Protocol):
    phase: str
    total: int


def check_conformance(scenario: LoadScenario, t0: float, control: Mapping[int, Sequence[Any]],
                      seconds: Mapping[tuple[int, str], Sequence[int]], cells: Mapping[tuple[str, str], _CellLike],
                      unsent: int) -> dict[str, Any]:
    """A dict with ``ok``, the checks made, and ``problems`` (one readable line each)."""
    problems: list[str] = []
    checks: dict[str, Any] = {}
    ordered = sorted(control.items())
    if not ordered:
        return {"ok": False, "checks": {}, "problems": ["no per-second control samples: the run did not start"]}
    # users against the target, every second
    per_phase: dict[str, list[int]] = {}   # phase -> [checked, within]
    worst: dict[str, tuple[float, int, float]] = {}
    targets: list[float] = []
    for second, (users, target_users, _rate) in ordered:
        # users may lag the target by up to SPAWN_ALLOWANCE_S seconds (spawning, tick timing, heartbeats)
        targets.append(target_users)
        window = targets[-(SPAWN_ALLOWANCE_S + 1):]
        low, high = min(window), max(window)
        tolerance = max(1.0, USERS_TOLERANCE * high)
        phase = scenario.shape.phase_at(second - t0 + 0.5)
        counts = per_phase.setdefault(phase, [0, 0])
        counts[0] += 1
        if low - tolerance <= users <= high + tolerance:
            counts[1] += 1
        elif phase not in worst or abs(users - target_users) > abs(worst[phase][1] - worst[phase][2]):
            worst[phase] = (second - t0, users, target_users)
    checked, within = sum(c[0] for c in per_phase.values()), sum(c[1] for c in per_phase.values())
    checks["users"] = {"seconds_checked": checked, "seconds_within": within, "tolerance": USERS_TOLERANCE,
                       "phases": {name: {"checked": c[0], "within": c[1]} for name, c in per_phase.items()}}
    for name, (n, ok) in per_phase.items():
        if ok < MIN_CONFORMING * n:
            w = worst.get(name)
            where = f"; worst at +{w[0]:.0f} s: {w[1]} users for a target of {w[2]:g}" if w else ""
            problems.append(f"phase {name}: users followed the target in {ok} of {n} seconds "
                            f"(need {MIN_CONFORMING:.0%}){where}")
    # traffic flowed whenever users were there
    busy = [s for s, (users, _t, _r) in ordered if users > 0][1:]
    sending = {sec for (sec, _e), n in seconds.items() if n[0] > 0}
    flowing = sum(1 for s in busy if s in sending)
    checks["traffic"] = {"seconds_with_users": len(busy), "seconds_with_requests": flowing}
    if busy and flowing < MIN_CONFORMING * len(busy):
        problems.append(f"requests were sent in only {flowing} of {len(busy)} seconds that had users")
    if scenario.model == "open":
        phases = []
        for span in scenario.shape.phases():
            expected = scenario.shape.expected_count(span.start, span.end)
            delivered = sum(c.total for (phase, _e), c in cells.items() if phase == span.name)
            ok = abs(delivered - expected) <= max(3.0, RATE_TOLERANCE * expected)
            phases.append({"phase": span.name, "expected": round(expected, 1), "delivered": delivered, "ok": ok})
            if not ok:
                problems.append(f"phase {span.name}: {delivered} requests for an expected {expected:.0f} "
                                f"(tolerance {RATE_TOLERANCE:.0%})")
        checks["rate"] = {"phases": phases, "unsent": unsent}
    return {"ok": not problems, "checks": checks, "problems": problems}
