"""Load: Locust-driven load shapes with exact, coordinated-omission-free latency recording.

Locust is never imported here: it patches the standard library through gevent on import, so it
runs only in subprocesses (``aisys_verify.load.runner``) that load ``aisys_verify.load.locustfile``.
This package's public names are importable from the pytest process. The runner, scenario and shape
names load on first use: the Locust processes import this package too, and start faster without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports
from aisys_verify.load.histogram import Latencies
from aisys_verify.load.results import Cell, EndpointInfo, LoadResults, Phase, read_results, write_results

if TYPE_CHECKING:
    from aisys_verify.load.runner import RunOptions, run_load
    from aisys_verify.load.scenario import LoadScenario, load_scenario, parse_scenario
    from aisys_verify.load.session import LoadDriver
    from aisys_verify.load.shapes import SHAPES, Shape

__all__ = ["SHAPES", "Cell", "EndpointInfo", "Latencies", "LoadDriver", "LoadResults", "LoadScenario", "Phase",
           "RunOptions", "Shape", "load_scenario", "parse_scenario", "read_results", "run_load", "write_results"]

_LAZY = {"RunOptions": "runner", "run_load": "runner", "LoadScenario": "scenario", "load_scenario": "scenario",
         "parse_scenario": "scenario", "SHAPES": "shapes", "Shape": "shapes", "LoadDriver": "session"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
