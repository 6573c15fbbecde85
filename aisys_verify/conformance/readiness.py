"""Readiness stays fresh, both ways: a live agent's key is refreshed, a killed agent's key goes away soon.

``agent:ready:<Name>`` in the host's Redis (PROTOCOL.md §4). The real agents write it once with a 300 s
TTL: a live agent then reads not-ready after 5 minutes (``ready_ttl_not_refreshed``) and a crashed one
reads ready for up to 5 minutes (``stale_ready_key_after_crash``). Freshness is watched for every agent at
once over one short window (the refresh interval plus a margin, not the 5-minute wait): the TTL must go up
again at least once. Staleness is measured by killing the agent's group (where the backend can kill) and
reading what is left of the key: gone, not-ready, or a TTL within the bound.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import running
from aisys_verify.errors import VerifyError
from aisys_verify.waiting import poll

REFRESHED = "ready_refreshed"
AFTER_CRASH = "ready_after_crash"
REFRESH_CONTRACT = ("the agent's readiness key agent:ready:<Name> has a TTL that it refreshes while it runs "
                    "(the TTL goes up again within one refresh interval)")
CRASH_CONTRACT = ("once the agent is killed, its readiness key is gone or reads not-ready within {bound:g} s "
                  "(its remaining TTL is at most that)")
SAMPLE_EVERY_S = 0.25


@dataclass
class TtlWatch:
    """Samples every agent's readiness TTL (PTTL, ms) from each host's Redis in one background thread."""

    targets: list[wire.Target]
    window_s: float
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # key -> (t, pttl; -2 gone)
    errors: dict[str, str] = field(default_factory=dict)  # host -> why its Redis could not be read

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="conformance-ttl-watch", daemon=True)
        self._done = threading.Event()
        self.started = time.monotonic()
        self.begun = False

    def start(self) -> TtlWatch:
        self.started = time.monotonic()
        self.begun = True
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the window is over (the checks that change the stack must not run inside it); at once when
        the watch never started."""
        if self.begun:
            self._done.wait(self.window_s + 10)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def _run(self) -> None:
        by_redis: dict[tuple[str, int], list[wire.Target]] = {}
        for t in self.targets:
            if t.redis is not None:
                by_redis.setdefault(t.redis, []).append(t)
        try:
            while time.monotonic() - self.started < self.window_s:
                now = time.monotonic() - self.started
                for address, members in by_redis.items():
                    try:
                        keys = wire.read_ready_keys(address, [m.name for m in members])
                    except VerifyError as exc:
                        self.errors[f"{address[0]}:{address[1]}"] = str(exc)
                        continue
                    for m in members:
                        ttl = keys[m.name].ttl_ms
                        self.samples.setdefault(m.key, []).append((now, -2 if ttl is None else ttl))
                time.sleep(SAMPLE_EVERY_S)
        finally:
            self._done.set()


def check_refreshed(target: wire.Target, watch: TtlWatch) -> CheckResult:
    watch.wait()
    if target.redis is None:
        return skipped(REFRESHED, target.key, f"where {target.agent.host}'s Redis is cannot be told from this stack")
    samples = watch.samples.get(target.key, [])
    if not samples:
        where = f"{target.redis[0]}:{target.redis[1]}"
        return skipped(REFRESHED, target.key, f"its host's Redis ({where}) could not be read: "
                       f"{watch.errors.get(where, 'no samples')}")
    key = wire.READY_KEY.format(name=target.name)
    present = [(t, ttl) for t, ttl in samples if ttl != -2]
    if not present:
        if not running(target):
            return skipped(REFRESHED, target.key, f"no {key} during the {watch.window_s:g} s window and nothing "
                           "listens on its spec ports: it is not running (see 'listens')")
        return failed(REFRESHED, target.key, f"{target.name} answers on its ports but wrote no {key} during the "
                      f"{watch.window_s:g} s window", REFRESH_CONTRACT)
    if all(ttl == -1 for _, ttl in present):
        return passed(REFRESHED, target.key, f"{key} has no TTL (never expires; see '{AFTER_CRASH}')")
    rises = sum(1 for (_, a), (_, b) in itertools.pairwise(samples) if b > a + 50 or (a == -2 and b != -2))
    if rises:
        return passed(REFRESHED, target.key, f"{key}'s TTL went up {rises} time(s) in {watch.window_s:g} s "
                      f"(max {max(t for _, t in present) / 1000:.1f} s)")
    first, last = present[0][1], present[-1][1]
    gone = " and then the key expired" if samples[-1][1] == -2 else ""
    return failed(REFRESHED, target.key, f"{target.name}'s {key} TTL only went down over {watch.window_s:g} s "
                  f"({first / 1000:.1f} s -> {last / 1000:.1f} s{gone}): it is not refreshed, so the agent turns "
                  f"not-ready when it expires", REFRESH_CONTRACT, ["ready_ttl_not_refreshed"],
                  first_ttl_ms=first, last_ttl_ms=last)


@dataclass(frozen=True)
class CrashReading:
    """What each agent's key held right after its group was killed (None: Redis could not be read)."""

    group: tuple[str, str]
    keys: Mapping[str, wire.ReadyKey | None]
    restart_error: str | None
    # the keys the restarted agents wrote: their TTL bounds how long the next crash leaves them reading ready,
    # which still shows when the keys read right after the kill had already expired (a key never refreshed)
    fresh: Mapping[str, wire.ReadyKey | None] = field(default_factory=dict)


def kill_and_read(stack: object, group: tuple[str, str], members: Iterable[wire.Target],
                  options: ConformanceOptions) -> CrashReading:
    """SIGKILL the group through the stack, read its agents' keys at once, restart it and wait for it."""
    import signal

    members = list(members)
    stack.kill_group(*group, sig=signal.SIGKILL)  # type: ignore[attr-defined]
    time.sleep(0.2)  # the process is gone before its keys are read: nothing can refresh or delete them now
    keys: dict[str, wire.ReadyKey | None] = {m.key: wire.read_ready_key(m) for m in members}
    restart_error = None
    try:
        stack.restart_group(*group, timeout=options.recover_wait_s)  # type: ignore[attr-defined]
    except VerifyError as exc:  # a member with a start defect never gets healthy: wait for the rest below
        restart_error = str(exc).splitlines()[0][:300]
    _wait_answering([m for m in members], options.recover_wait_s)
    fresh: dict[str, wire.ReadyKey | None] = {m.key: wire.read_ready_key(m) for m in members}
    return CrashReading(group, keys, restart_error, fresh)


def _wait_answering(members: list[wire.Target], timeout: float) -> None:
    from aisys_verify.health import read_reply

    pending = list(members)

    def still_pending() -> list[wire.Target]:  # one that answered stays done
        for m in list(pending):
            reply = wire.parse(wire.exchange(m.endpoint.health_url, b'{"action": "health_check"}', 0.5))
            # answering is enough: restart_group has already run the stack's health gate, and an agent whose
            # health is contradictory never reads up; not listening at all is a start defect: it never will
            if (reply is not None and read_reply(reply).answering) or not wire.listening(
                    m.endpoint.address, m.endpoint.health_port, 0.2):
                pending.remove(m)
        return pending

    if pending:
        poll(still_pending, timeout, 0.2, until=lambda left: not left)


def check_after_crash(target: wire.Target, reading: CrashReading, was_running: bool,
                      options: ConformanceOptions) -> CheckResult:
    """The key read right after the kill must be gone, read not-ready or expire within the bound; and the key
    the restarted agent writes must expire within the bound too (a key written once long ago may have little
    TTL left, or none, when the kill comes: the fresh key tells how long the next crash leaves it)."""
    key = reading.keys.get(target.key)
    name = wire.READY_KEY.format(name=target.name)
    if key is None:
        return skipped(AFTER_CRASH, target.key, "its host's Redis could not be read after the kill")
    contract = CRASH_CONTRACT.format(bound=options.crash_bound_s)
    if not key.exists and not was_running:
        return skipped(AFTER_CRASH, target.key, "it was not running before its group was killed (see 'listens')")
    if key.exists and key.reads_ready:
        if key.ttl_ms == -1:
            return failed(AFTER_CRASH, target.key, f"after {target.name}'s group was killed, {name} still reads "
                          "ready and has no TTL: it will read ready forever", contract, ["stale_ready_key_after_crash"])
        ttl_s = (key.ttl_ms or 0) / 1000
        if ttl_s > options.crash_bound_s:
            return failed(AFTER_CRASH, target.key, f"after {target.name}'s group was killed (SIGKILL), {name} still "
                          f"reads ready and lives another {ttl_s:.0f} s (bound {options.crash_bound_s:g} s): a "
                          f"crashed agent reads ready for up to {ttl_s:.0f} s", contract,
                          ["stale_ready_key_after_crash"], ttl_ms=key.ttl_ms)
        after_kill = f"expires {ttl_s:.1f} s after the kill"
    else:
        after_kill = "was gone right after the kill" if not key.exists else \
            f"read not-ready right after the kill ({key.value!r:.80})"
    fresh = reading.fresh.get(target.key)
    if fresh is not None and fresh.exists and fresh.reads_ready and (
            fresh.ttl_ms == -1 or (fresh.ttl_ms or 0) / 1000 > options.crash_bound_s):
        lives = "no TTL (forever)" if fresh.ttl_ms == -1 else f"a TTL of {(fresh.ttl_ms or 0) / 1000:.0f} s"
        return failed(AFTER_CRASH, target.key, f"{name} {after_kill}, but the key {target.name} wrote when it "
                      f"restarted has {lives} (bound {options.crash_bound_s:g} s): a crash now would leave it "
                      "reading ready that long", contract, ["stale_ready_key_after_crash"], ttl_ms=fresh.ttl_ms)
    return passed(AFTER_CRASH, target.key, f"{name} {after_kill} (bound {options.crash_bound_s:g} s)")
