"""Run a chaos scenario against a stack and write its journal.

The run: steady state before (a gate: if it is not met nothing is injected, status
``failed``); the method, step by step, with the steady state watched in the background when
``runtime.during`` is set (``runtime.abort`` stops the method when it breaks too often in a
row, status ``aborted``); then, always, the rollbacks: every fault still on is reverted, then
the scenario's own rollback actions; then the steady state after, retried for up to
``runtime.recovery_timeout_s`` (not met: ``deviated``; the seconds it took: ``recovery_s``).
A fault that fails to apply or to take effect fails the run (status ``failed``), unlike tools
that report "completed" over an action that never happened. Ctrl-C (or SIGTERM, turned into
one) stops the method and still rolls back (status ``interrupted``); a second Ctrl-C during
the rollback is ignored, so the rollback finishes.

The journal (JSON) is a Chaos Toolkit journal (``chaos report`` renders it): chaoslib-version,
experiment (the scenario exported as a Chaos Toolkit experiment, aisys_verify.faults.journal), status,
deviated, start, end, duration, steady_states {before, during, after}, run and rollbacks (each with
its activity, status, ISO start/end, duration, output); plus ours: scenario, abort_reason,
recovery_s, the faults with their efficacy evidence, fault_events, notes.
"""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import VerifyError
from aisys_verify.faults.base import ChaosError
from aisys_verify.faults.chaos import Chaos
from aisys_verify.faults.hygiene import restore
from aisys_verify.faults.probes import ProbeOutcome, run_probe
from aisys_verify.faults.scenario import Scenario, Step
from aisys_verify.waiting import poll

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack

STATUSES = ("completed", "deviated", "aborted", "failed", "interrupted")


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SteadyState:
    met: bool
    probes: list[ProbeOutcome]

    def to_json(self) -> dict[str, Any]:
        return {"steady_state_met": self.met, "probes": [p.to_json() for p in self.probes]}


def check_steady_state(stack: Stack, scenario: Scenario) -> SteadyState:
    results = [run_probe(stack, p) for p in scenario.probes]
    return SteadyState(all(r.tolerance_met for r in results), results)


class _Watcher(threading.Thread):
    """Probes the steady state every interval while the method runs; trips ``abort`` when it breaks
    ``limit`` times in a row."""

    def __init__(self, stack: Stack, scenario: Scenario, abort: threading.Event) -> None:
        super().__init__(daemon=True, name="aisys-chaos-steady-state")
        self.stack, self.scenario, self.abort = stack, scenario, abort
        self.stop = threading.Event()
        self.checks: list[dict[str, Any]] = []
        self.reason: str | None = None

    def run(self) -> None:
        interval = self.scenario.during_interval_s or 1.0
        failures = 0
        while not self.stop.wait(interval):
            state = check_steady_state(self.stack, self.scenario)
            self.checks.append({"t": time.time(), **state.to_json()})
            failures = 0 if state.met else failures + 1
            limit = self.scenario.abort_after
            if limit is not None and failures >= limit and not self.abort.is_set():
                broken = [f"{p.probe.name}: {'; '.join(p.problems)}" for p in state.probes if not p.tolerance_met]
                self.reason = f"steady state broken {failures} times in a row during the method ({broken[0]})"
                self.abort.set()


@contextlib.contextmanager
def _shielded_from_sigint(note: Callable[[str], None]) -> Iterator[None]:
    """Ignore (but note) Ctrl-C while rolling back, so that a rollback always finishes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: note("second interrupt ignored: rolling back"))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_experiment(stack: Stack, scenario: Scenario, *, journal_path: Path | None = None,
                   progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run ``scenario`` against ``stack``; the journal (also written to ``journal_path`` when given).
    Re-raises KeyboardInterrupt after rolling back and writing the journal."""
    chaos = Chaos(stack, recovery_timeout=max(30.0, scenario.recovery_timeout_s))
    started = time.time()
    journal: dict[str, Any] = {
        "chaos-engine": "aisys-verify", "experiment": dict(scenario.raw), "path": str(scenario.path or ""),
        "status": "completed", "deviated": False, "start": iso_time(started), "platform": platform.platform(),
        "node": platform.node(), "steady_states": {"before": None, "during": [], "after": None}, "run": [],
        "rollbacks": [], "abort_reason": None, "recovery_s": None, "notes": []}
    abort = threading.Event()
    watcher: _Watcher | None = None
    interrupted = False

    def finish() -> dict[str, Any]:
        ended = time.time()
        journal.update(end=iso_time(ended), duration=round(ended - started, 3), faults=chaos.journal()["faults"],
                       fault_events=chaos.events)
        from aisys_verify.faults.journal import to_ctk_journal

        to_ctk_journal(journal, scenario, iso_time)  # chaos report reads these fields; ours are kept
        if journal_path is not None:
            journal_path.parent.mkdir(parents=True, exist_ok=True)
            journal_path.write_text(json.dumps(journal, indent=1, default=str), encoding="utf-8")
        progress(f"chaos: {scenario.title}: {journal['status']}"
                 + (f" ({journal['abort_reason']})" if journal["abort_reason"] else ""))
        return journal

    try:
        progress(f"chaos: {scenario.title}: steady state before")
        before = check_steady_state(stack, scenario)
        journal["steady_states"]["before"] = before.to_json()
        if not before.met:
            journal["status"] = "failed"
            journal["abort_reason"] = "steady state not met before the method: " + "; ".join(
                f"{p.probe.name}: {', '.join(p.problems)}" for p in before.probes if not p.tolerance_met)
            return finish()
        if scenario.during_interval_s is not None:
            watcher = _Watcher(stack, scenario, abort)
            watcher.start()
        _run_method(chaos, stack, scenario, journal, abort, progress)
        if watcher is not None and watcher.reason:
            journal["status"], journal["abort_reason"] = "aborted", watcher.reason
    except KeyboardInterrupt:
        interrupted = True
        journal["status"], journal["abort_reason"] = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
        progress("chaos: interrupted: rolling back")
    except VerifyError as exc:  # a fault that could not be applied or did not take effect, a bad selector
        journal["status"], journal["abort_reason"] = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        if watcher is not None:
            watcher.stop.set()
            watcher.join(timeout=30)
            journal["steady_states"]["during"] = watcher.checks
        with _shielded_from_sigint(journal["notes"].append):
            _rollback(chaos, stack, scenario, journal, progress)
    if journal["status"] in ("completed", "aborted") or (journal["status"] == "failed" and journal["run"]):
        _steady_state_after(stack, scenario, journal, progress)
    finish()
    if interrupted:
        raise KeyboardInterrupt
    return journal


def _run_method(chaos: Chaos, stack: Stack, scenario: Scenario, journal: dict[str, Any], abort: threading.Event,
                progress: Callable[[str], None]) -> None:
    for index, step in enumerate(scenario.method):
        if abort.is_set():
            return
        entry: dict[str, Any] = {"step": index, "activity": step.describe(), "kind": step.kind, "start": time.time()}
        journal["run"].append(entry)
        progress(f"chaos: step {index + 1}/{len(scenario.method)}: {step.describe()}")
        if step.kind == "pause":
            abort.wait(step.pause_s)
        elif step.kind == "probe":
            assert step.probe is not None
            result = run_probe(stack, step.probe)
            entry.update(result.to_json())
        else:
            _fault_step(chaos, step, entry, abort)
        entry["end"] = time.time()
        entry.setdefault("status", "succeeded")


def _fault_step(chaos: Chaos, step: Step, entry: dict[str, Any], abort: threading.Event) -> None:
    try:
        fault = getattr(chaos, step.fault)(**step.args)
    except TypeError as exc:  # an argument of the wrong type for the fault
        entry["status"] = "failed"
        raise ChaosError(f"{step.describe()}: {exc}") from None
    except VerifyError as exc:
        entry.update(status="failed", exception=str(exc))
        raise
    if hasattr(fault, "efficacy") and fault.efficacy is not None:
        entry["efficacy"] = {"effective": fault.efficacy.effective, "evidence": fault.efficacy.evidence,
                             "measured": fault.efficacy.measured}
    if step.duration_s is not None:
        abort.wait(step.duration_s)
        fault.revert()
        if fault.recovery_s is not None:
            entry["recovery_s"] = fault.recovery_s


def _rollback(chaos: Chaos, stack: Stack, scenario: Scenario, journal: dict[str, Any],
              progress: Callable[[str], None]) -> None:
    active = chaos.active
    errors = chaos.reset()
    journal["rollbacks"].append({"activity": f"revert {len(active)} fault(s) still on",
                                 "faults": [f.describe() for f in active], "status": "failed" if errors else
                                 "succeeded", **({"errors": errors} if errors else {})})
    for action in scenario.rollbacks:
        name = str(action["action"])
        entry: dict[str, Any] = {"activity": name, "start": time.time()}
        try:
            if name == "reset-toxics":
                stack.toxiproxy_client.reset()
            elif name == "resume-groups":
                for host, group in stack.paused_groups():
                    stack.resume_group(host, group)
            elif name == "wait-healthy":
                entry["seconds"] = round(chaos.wait_healthy(timeout=float(action.get("timeout_s", 30))), 3)
            entry["status"] = "succeeded"
        except Exception as exc:  # a failed rollback is recorded and the others still run
            entry.update(status="failed", exception=f"{type(exc).__name__}: {exc}")
        journal["rollbacks"].append(entry)
    residue = restore(stack)  # belt and braces: whatever a step left that the engine did not track
    if not residue.clean:
        journal["rollbacks"].append({"activity": "hygiene restore", "status": "succeeded",
                                     "found": residue.describe()})
    progress(f"chaos: rolled back ({len(active)} fault(s) reverted)")


def _steady_state_after(stack: Stack, scenario: Scenario, journal: dict[str, Any],
                        progress: Callable[[str], None]) -> None:
    progress(f"chaos: steady state after (up to {scenario.recovery_timeout_s:g} s)")
    began = time.monotonic()
    after = poll(lambda: check_steady_state(stack, scenario), scenario.recovery_timeout_s, 0.25,
                 until=lambda state: state.met).last
    journal["steady_states"]["after"] = after.to_json()
    if after.met:
        journal["recovery_s"] = round(time.monotonic() - began, 3)
    elif journal["status"] == "completed":
        journal["status"], journal["deviated"] = "deviated", True
        journal["abort_reason"] = "steady state not met after the method: " + "; ".join(
            f"{p.probe.name}: {', '.join(p.problems)}" for p in after.probes if not p.tolerance_met)
    else:
        journal["deviated"] = True
