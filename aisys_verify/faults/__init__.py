"""The chaos engine: faults through Toxiproxy, process faults and resource pressure, proved to take effect
and always removed; the fault matrix; scenarios with steady-state hypotheses and journals (docs/chaos.md).

The entry point is ``aisys_verify.faults.chaos.Chaos`` (the ``aisys_chaos`` fixture); heavier parts
(scenarios, experiments, pressure) are imported where used.
"""

from aisys_verify.faults.toxics import TOXIC_TYPES, Stream, Toxic, ToxicError

__all__ = ["TOXIC_TYPES", "Stream", "Toxic", "ToxicError"]
