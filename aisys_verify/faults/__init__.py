"""The chaos engine: faults through Toxiproxy, process faults and resource pressure, proved to take effect
and always removed; the fault matrix; scenarios with steady-state hypotheses and journals (docs/chaos.md).

The entry point is ``Chaos`` (the ``aisys_chaos`` fixture). The toxics load with this package; the heavier
parts (the engine, scenarios, experiments, the matrix) load on first use of their names (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.faults.toxics import TOXIC_TYPES, Stream, Toxic, ToxicError
from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.faults.base import ChaosError, ChaosUnsupported, FaultNotEffective, wait_until
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.faults.edges import SelectorError
    from aisys_verify.faults.experiment import SteadyState, run_experiment
    from aisys_verify.faults.matrix import FaultCase, Selection, fault_matrix
    from aisys_verify.faults.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
    from aisys_verify.faults.timeline import bars_svg, timeline_svg

__all__ = ["TOXIC_TYPES", "Chaos", "ChaosError", "ChaosUnsupported", "FaultCase", "FaultNotEffective", "Scenario",
           "ScenarioError", "Selection", "SelectorError", "SteadyState", "Stream", "Toxic", "ToxicError", "bars_svg",
           "fault_matrix", "load_scenario", "parse_scenario", "run_experiment", "timeline_svg", "wait_until"]

_LAZY = {"Chaos": "chaos", "ChaosError": "base", "ChaosUnsupported": "base", "FaultNotEffective": "base",
         "wait_until": "base", "SelectorError": "edges", "SteadyState": "experiment", "run_experiment": "experiment",
         "FaultCase": "matrix", "Selection": "matrix", "fault_matrix": "matrix", "Scenario": "scenario",
         "ScenarioError": "scenario", "load_scenario": "scenario", "parse_scenario": "scenario",
         "bars_svg": "timeline", "timeline_svg": "timeline"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
