"""``aisys-verify chaos run`` for Chaos Toolkit experiments: chaoslib runs it (our extension's providers, and
plain ``http``/``process`` ones), with the stack as the configuration's ``aisys_stack``; the journal is
chaoslib's with our extras (every fault with its efficacy evidence, the steady state watched during)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import CtkError
from aisys_verify.faults import ctkstate as state

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack


def is_ctk_experiment(data: Any) -> bool:
    """A Chaos Toolkit experiment (its method activities have a ``type`` or a ``ref``), not our scenario."""
    method = data.get("method") if isinstance(data, dict) else None
    return isinstance(method, list) and any(isinstance(a, dict) and ("type" in a or "ref" in a) for a in method)


def _chaoslib() -> Any:
    try:
        import chaoslib.experiment  # type: ignore[import-untyped]
        import chaoslib.run  # type: ignore[import-untyped]
    except ImportError:
        raise CtkError("running a Chaos Toolkit experiment needs chaostoolkit-lib: pip install 'aisys-verify[ctk]'"
                       ) from None
    return chaoslib


def load_ctk_experiment(path: Path) -> dict[str, Any]:
    """The experiment at ``path``, validated as ``chaos validate`` does (its providers imported, their arguments
    bound); CtkError says why it cannot run."""
    _chaoslib()
    from chaoslib.exceptions import ChaosException  # type: ignore[import-untyped]
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment  # type: ignore[import-untyped]

    try:
        experiment: dict[str, Any] = load_experiment(str(path), settings={})
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise CtkError(f"{path}: not a valid Chaos Toolkit experiment: {exc}") from None
    return experiment


def run_ctk_experiment(path: Path, stack: Stack, *, journal_path: Path | None = None) -> dict[str, Any]:
    """Validate and run the experiment at ``path`` against ``stack``; the journal (written to ``journal_path``)."""
    chaoslib = _chaoslib()
    from chaoslib.types import Schedule, Strategy  # type: ignore[import-untyped]

    experiment = load_ctk_experiment(path)
    state.use(stack)
    try:
        with chaoslib.run.Runner(Strategy.DEFAULT, Schedule()) as runner:
            journal: dict[str, Any] = runner.run(experiment, settings={},
                                                 experiment_vars=({"aisys_stack": stack.stack_id}, None))
    finally:
        extras = {"stack_id": stack.stack_id, "steady_state_watch": state.watch_summary(),
                  "watched_during": state.watch_checks(),
                  "faults": [f for engine in state.engines().values() for f in engine.journal()["faults"]],
                  "undone": state.revert_all_faults(stack.stack_id)}
        state.forget(stack.stack_id)
    journal["aisys_verify"] = {**journal.get("aisys_verify", {}), **extras}
    before = journal.get("steady_states", {}).get("before")
    if before is not None and not before.get("steady_state_met"):
        # chaoslib leaves such a run "completed" with nothing injected; our runs call it failed, and so do we
        missed = [p["activity"]["name"] for p in before.get("probes", []) if not p.get("tolerance_met")]
        journal["abort_reason"] = f"steady state not met before the method: {', '.join(missed)}"
    elif journal.get("deviated"):
        journal["abort_reason"] = "steady state not met after the method"
    journal["chaos-engine"] = "chaostoolkit-lib (aisys-verify chaos run)"
    if journal_path is not None:
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        journal_path.write_text(json.dumps(journal, indent=1, default=str), encoding="utf-8")
    return journal
