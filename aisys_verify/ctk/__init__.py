"""A Chaos Toolkit extension inside aisys-verify, and the two-way formats (docs/ctk.md).

Activities for ``type: python`` providers: ``aisys_verify.ctk.actions`` (every fault of ``Chaos``, stand a
stack up or down, hold, the steady-state watch), ``aisys_verify.ctk.probes`` (dialogue turn, agent request,
health, SLO verdict, our scenario probes) and ``aisys_verify.ctk.rollbacks``; the control
``aisys_verify.ctk.control`` undoes every fault at the end of a run, interrupted or not.
``chaos discover aisys-verify`` lists them. ``export_experiment`` turns a scenario into a Chaos Toolkit
experiment; ``run_ctk_experiment`` runs one (chaoslib) against a stack with our journal extras.
Nothing here imports chaoslib until a Chaos Toolkit experiment is run or discovered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.ctk.discovery import discover
    from aisys_verify.faults.ctkrun import is_ctk_experiment, run_ctk_experiment
    from aisys_verify.faults.ctkstate import revert_all_faults
    from aisys_verify.faults.journal import JOURNAL_FORMAT_VERSION, export_experiment, to_ctk_journal

__all__ = ["JOURNAL_FORMAT_VERSION", "discover", "export_experiment", "is_ctk_experiment", "revert_all_faults",
           "run_ctk_experiment", "to_ctk_journal"]

# relative to aisys_verify: the formats and the run live in aisys_verify.faults (the chaos CLI uses them), this
# package holds the extension's activity modules, which import them
_LAZY = {"discover": "ctk.discovery", "JOURNAL_FORMAT_VERSION": "faults.journal",
         "export_experiment": "faults.journal", "to_ctk_journal": "faults.journal",
         "revert_all_faults": "faults.ctkstate", "is_ctk_experiment": "faults.ctkrun",
         "run_ctk_experiment": "faults.ctkrun"}

__getattr__, __dir__ = lazy_exports("aisys_verify", _LAZY, globals())
