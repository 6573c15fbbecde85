"""A Chaos Toolkit control (``controls: [{name: aisys-verify, provider: {type: python, module:
aisys_verify.ctk.control}}]``): whatever ends the experiment (completed, deviated, failed, Ctrl-C, SIGTERM),
every fault this run applied is reverted and the stacks it stood up are stopped.

Chaos Toolkit skips the rollbacks of an interrupted run (its default rollback strategy), but it always
ends the experiment's controls: that is where this undoes everything.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

from aisys_verify.faults import ctkstate as state

__all__ = ["after_experiment_control", "cleanup_control"]


def after_experiment_control(context: dict[str, Any], state: dict[str, Any] | None = None,
                             configuration: dict[str, Any] | None = None, **_: Any) -> None:
    _undo(state)


def cleanup_control() -> None:
    _undo(None)


def _undo(journal: dict[str, Any] | None) -> None:
    with _sigint_shielded():
        watched = state.watch_stop()
        done = state.revert_all_faults()
        faults = [f for engine in state.engines().values() for f in engine.journal()["faults"]]
        state.release_all()  # only the stacks stand_up started; an attached or caller's stack keeps running
    if journal is not None:  # our evidence, as extra keys of Chaos Toolkit's journal
        journal.setdefault("aisys_verify", {}).update(
            faults=faults, steady_state_watch=watched, watched_during=state.watch_checks(), undone_at_end=done)


@contextlib.contextmanager
def _sigint_shielded() -> Any:
    """A second Ctrl-C while undoing is ignored, so the undo finishes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
