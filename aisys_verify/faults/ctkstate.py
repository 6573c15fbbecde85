"""State of the Chaos Toolkit extension (aisys_verify.ctk) in this process: which stack its activities act on, the
faults they applied, and the steady state watched in the background while a method runs (``runtime.during``).

Which stack the Chaos Toolkit activities of this process act on, and the faults they applied.

Chaos Toolkit runs every activity of an experiment in one process (``chaos run``), each a plain function
call: the stack (attached by id, or stood up by ``stand_up``) and its ``Chaos`` engine live here, so a
rollback, the control's end of the experiment, or an interrupt can revert every fault this process
applied. ``aisys-verify chaos emergency-stop`` (any shell) removes what a killed process could not.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import CtkError

if TYPE_CHECKING:
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.stack.base import Stack

STACK_KEY = "aisys_stack"  # the experiment's configuration key (and AISYS_STACK) naming the stack

_lock = threading.RLock()
_stacks: dict[str, Stack] = {}
_engines: dict[str, Chaos] = {}
_owned: dict[str, Stack] = {}  # stood up by this process (stand_up): stopped by stand_down or at the end
_current: list[str] = []       # the stack of the last stand_up, used when the configuration names none


def stack_id_of(configuration: dict[str, Any] | None) -> str:
    named = str((configuration or {}).get(STACK_KEY) or os.environ.get("AISYS_STACK") or "")
    if named:
        return named
    with _lock:
        if _current:
            return _current[-1]
    raise CtkError("no stack to act on: set the experiment's configuration 'aisys_stack' (or AISYS_STACK) to the id "
                   "of a stack from 'aisys-verify up' (see 'aisys-verify status'), or call the action "
                   "aisys_verify.ctk.actions.stand_up first")


def stack_for(configuration: dict[str, Any] | None) -> Stack:
    stack_id = stack_id_of(configuration)
    with _lock:
        stack = _stacks.get(stack_id)
        if stack is None:
            from aisys_verify.stack.attached import attach

            stack = _stacks[stack_id] = attach(stack_id)
        return stack


def chaos_for(configuration: dict[str, Any] | None) -> Chaos:
    stack = stack_for(configuration)
    with _lock:
        engine = _engines.get(stack.stack_id)
        if engine is None:
            from aisys_verify.faults.chaos import Chaos

            engine = _engines[stack.stack_id] = Chaos(stack)
        return engine


def adopt(stack: Stack) -> None:
    """A stack this process stood up: acted on by default, stopped by ``release`` (or ``release_all``)."""
    with _lock:
        _stacks[stack.stack_id] = _owned[stack.stack_id] = stack
        _current.append(stack.stack_id)


def use(stack: Stack) -> None:
    """A stack another part of this process runs (``aisys-verify chaos run``): acted on by default, never stopped."""
    with _lock:
        _stacks[stack.stack_id] = stack
        _current.append(stack.stack_id)


def forget(stack_id: str) -> None:
    with _lock:
        _stacks.pop(stack_id, None)
        _engines.pop(stack_id, None)
        while stack_id in _current:
            _current.remove(stack_id)


def release(stack_id: str) -> bool:
    """Revert this process's faults on ``stack_id`` and stop it if this process stood it up."""
    revert_all_faults(stack_id)
    with _lock:
        stack = _owned.pop(stack_id, None)
        _stacks.pop(stack_id, None)
        _engines.pop(stack_id, None)
        while stack_id in _current:
            _current.remove(stack_id)
    if stack is not None:
        stack.stop()
    return stack is not None


def revert_all_faults(stack_id: str | None = None) -> dict[str, Any]:
    """Revert every fault this process applied (on one stack or all), then remove any residue the stack still
    shows (toxics, disabled proxies, paused groups, pressure cgroups); what was done, per stack."""
    from aisys_verify.faults.hygiene import restore

    done: dict[str, Any] = {}
    with _lock:
        targets = [(sid, s) for sid, s in _stacks.items() if stack_id in (None, sid)]
        engines = dict(_engines)
    for sid, stack in targets:
        engine = engines.get(sid)
        reverted = [f.describe() for f in engine.active] if engine is not None else []
        errors = engine.reset() if engine is not None else []
        residue = restore(stack)
        done[sid] = {"reverted": reverted, "errors": errors,
                     "residue_removed": "" if residue.clean else residue.describe()}
    return done


def engines() -> dict[str, Chaos]:
    with _lock:
        return dict(_engines)


def release_all() -> None:
    """Stop every stack this process stood up (the faults on every stack are reverted first)."""
    with _lock:
        ids = list(_owned)
    for sid in ids:
        release(sid)


# --- the steady state watched during the method -------------------------------------------------------


class _Watch(threading.Thread):
    def __init__(self, stack: Stack, probes: list[dict[str, Any]], interval_s: float, abort_after: int) -> None:
        from aisys_verify.faults.scenario import parse_probe

        super().__init__(daemon=True, name="aisys-ctk-steady-state")
        self.stack, self.interval_s, self.abort_after = stack, interval_s, abort_after
        self.probes = [parse_probe(p, f"watch_steady_state probes[{i}]") for i, p in enumerate(probes)]
        self.halt = threading.Event()
        self.checks: list[dict[str, Any]] = []
        self.worst_run = 0  # the longest run of consecutive failed checks
        self.broken: str | None = None

    def run(self) -> None:
        from aisys_verify.faults.probes import run_probe

        failures = 0
        while not self.halt.wait(self.interval_s):
            results = [run_probe(self.stack, p) for p in self.probes]
            met = all(r.tolerance_met for r in results)
            self.checks.append({"t": time.time(), "steady_state_met": met,
                                "problems": [f"{r.probe.name}: {'; '.join(r.problems)}" for r in results
                                             if not r.tolerance_met]})
            failures = 0 if met else failures + 1
            self.worst_run = max(self.worst_run, failures)
            if self.abort_after and failures >= self.abort_after and self.broken is None:
                self.broken = (f"steady state broken {failures} times in a row during the method "
                               f"({self.checks[-1]['problems'][0]})")


_wlock = threading.Lock()
_watches: list[_Watch] = []
_last: dict[str, Any] = {}


def watch_start(stack: Stack, probes: list[dict[str, Any]], interval_s: float, abort_after: int) -> None:
    watch = _Watch(stack, probes, max(0.1, float(interval_s)), int(abort_after))
    watch_stop()
    with _wlock:
        _watches.append(watch)
        _last.clear()
    watch.start()


def watch_stop() -> dict[str, Any]:
    """Stop the watch; its summary (also kept for ``summary()``)."""
    with _wlock:
        watches, _watches[:] = list(_watches), []
    for watch in watches:
        watch.halt.set()
        watch.join(timeout=60)
        with _wlock:
            _last.clear()
            _last.update(checks=len(watch.checks), failed=sum(not c["steady_state_met"] for c in watch.checks),
                         longest_failed_run=watch.worst_run, abort_after=watch.abort_after, broken=watch.broken,
                         during=watch.checks)
    return watch_summary()


def watch_summary() -> dict[str, Any]:
    with _wlock:
        return {k: v for k, v in _last.items() if k != "during"}


def watch_checks() -> list[dict[str, Any]]:
    with _wlock:
        return list(_last.get("during", []))
