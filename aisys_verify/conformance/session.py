"""One conformance run against a running stack: the targets, the shared observations, and the checks in order.

The checks are plain functions of one agent; what several agents share is made once here and reused:
the readiness TTL watch (started when the session is, so its window overlaps the first checks), the
Redis cut (one window for all agents), and the kill of each docker group (one kill answers for all its
agents). ``result(check, agent)`` is what a pytest test calls; ``run()`` is what the CLI calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from aisys_verify.conformance import wire
from aisys_verify.conformance.actions import check_actions
from aisys_verify.conformance.degradation import DegradedSnapshot, check_http_degraded, cut_redis_and_observe
from aisys_verify.conformance.frames import check_hostile_frames
from aisys_verify.conformance.liveness import check_health
from aisys_verify.conformance.model import CHECKS, OBSERVE_MARGIN_S, CheckResult, ConformanceOptions, skipped
from aisys_verify.conformance.ports import check_listens, running
from aisys_verify.conformance.readiness import (
    AFTER_CRASH,
    CrashReading,
    TtlWatch,
    check_after_crash,
    check_refreshed,
    kill_and_read,
)
from aisys_verify.conformance.registration import check_registered
from aisys_verify.errors import UsageError

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack

DEFAULT_REFRESH_S = 10.0  # the stand-ins' (RunPlan.ready_refresh_s) when the stack does not say
# checks that only talk to the agent itself (one request at a time per agent), so agents can be checked side by
# side: a reference main socket serves one request per ~100 ms, and 77 agents one after the other add up
PER_AGENT_IN_PARALLEL = frozenset({"listens", "health", "registered", "hostile_frames", "actions"})
PARALLEL_AGENTS = 8


class Conformance:
    def __init__(self, stack: Stack, options: ConformanceOptions | None = None, *, watch: bool = True,
                 scope: Iterable[str] | None = None) -> None:
        """``watch``: start the readiness TTL watch now (its window then overlaps the first checks); otherwise
        it starts when 'ready_refreshed' first needs it. ``scope``: the agents (host/Name) the run will ask
        about (None: all), so that a check made side by side is made for those only."""
        self.stack = stack
        self.options = options or ConformanceOptions()
        self.targets = wire.targets(stack)
        self.scope = None if scope is None else {self.target(a).key for a in scope}
        refresh = float(getattr(getattr(stack, "plan", None), "ready_refresh_s", DEFAULT_REFRESH_S))
        window = self.options.observe_s if self.options.observe_s is not None else refresh + OBSERVE_MARGIN_S
        self.watch = TtlWatch(list(self.targets.values()), window)
        if watch:
            self.watch.start()
        self._degraded: DegradedSnapshot | None = None
        self._batches: dict[str, dict[str, CheckResult]] = {}  # check -> agent -> result not yet handed out
        self._crashes: dict[tuple[str, str], tuple[CrashReading, dict[str, bool]]] = {}

    def target(self, agent: str) -> wire.Target:
        found = self.targets.get(agent)
        if found is None:
            host, _, name = agent.rpartition("/")
            matches = [t for t in self.targets.values() if t.name == name and (not host or t.agent.host == host)]
            if len(matches) != 1:
                raise UsageError(f"no agent {agent!r} in the spec (write HOST/Name, e.g. "
                                 f"{next(iter(self.targets), 'mainpc/ServiceRegistry')})")
            found = matches[0]
        return found

    def result(self, check: str, agent: str) -> CheckResult:
        """One check of one agent (the shared observations it needs are made on first use)."""
        target = self.target(agent)
        checks: dict[str, Callable[[wire.Target], CheckResult]] = {
            "listens": lambda t: check_listens(t, self.options, self.stack),
            "health": lambda t: check_health(t, self.options),
            "registered": lambda t: check_registered(t, self.targets, self.options),
            "hostile_frames": lambda t: check_hostile_frames(t, self.options),
            "ready_refreshed": lambda t: check_refreshed(t, self._watching()),
            "http_degraded": lambda t: check_http_degraded(t, self.degraded(), self.options),
            "ready_after_crash": self._after_crash,
            "actions": lambda t: check_actions(t, self.options),
        }
        if check not in checks:
            raise UsageError(f"unknown conformance check {check!r}: use one of {', '.join(CHECKS)}")
        if check not in PER_AGENT_IN_PARALLEL:
            return checks[check](target)
        cached = self._batches.setdefault(check, {})
        if target.key not in cached:  # the first ask makes the check for every agent at once
            from concurrent.futures import ThreadPoolExecutor

            pending = [t for t in self.targets.values() if t.key not in cached
                       and (self.scope is None or t.key in self.scope or t.key == target.key)]
            with ThreadPoolExecutor(max_workers=PARALLEL_AGENTS) as pool:
                cached.update(zip([t.key for t in pending], pool.map(checks[check], pending)))
        return cached[target.key]

    def run(self, agents: Iterable[str] | None = None, checks: Iterable[str] = CHECKS) -> Iterator[CheckResult]:
        """Every check of every agent, check by check (the order of CHECKS: the disruptive ones last)."""
        keys = [self.target(a).key for a in agents] if agents is not None else list(self.targets)
        if agents is not None:
            self.scope = set(keys) | (self.scope or set())
        for check in [c for c in CHECKS if c in set(checks)]:
            for key in keys:
                yield self.result(check, key)

    def _watching(self) -> TtlWatch:
        if not self.watch.begun:
            self.watch.start()
        return self.watch

    def degraded(self) -> DegradedSnapshot:
        if self._degraded is None:
            self.watch.wait()  # a Redis cut inside the TTL window would stop every refresh it is watching
            self._degraded = cut_redis_and_observe(self.stack, self.targets.values(), self.options)
        return self._degraded

    def _after_crash(self, target: wire.Target) -> CheckResult:
        if "kill" not in self.stack.capabilities or "restart" not in self.stack.capabilities:
            return skipped(AFTER_CRASH, target.key, f"the {type(self.stack).__name__} backend cannot kill and "
                           "restart a group (an attached stack: run the check in the process that owns the stack)")
        if target.group not in self._crashes:
            self.watch.wait()
            members = [t for t in self.targets.values() if t.group == target.group]
            before = {m.key: running(m) or bool((k := wire.read_ready_key(m)) and k.exists) for m in members}
            self._crashes[target.group] = (kill_and_read(self.stack, target.group, members, self.options), before)
        reading, before = self._crashes[target.group]
        return check_after_crash(target, reading, before.get(target.key, True), self.options)

    def close(self) -> None:
        self.watch.wait()
