"""What the ``aisys_load`` fixture hands a test: ``aisys_load(scenario, target=None, workers=None)``.

The scenario is a name in ``scenarios/load/``, a YAML path, a mapping (an inline scenario) or a
LoadScenario; the target defaults to the session's stack. Each run is one Allure step with the
summary, the conformance check, the time series (CSV) and a plot attached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aisys_verify.load.results import LoadResults
from aisys_verify.load.scenario import LoadScenario, load_scenario, parse_scenario


class LoadDriver:
    def __init__(self, root: Path, run_root: Path, stack: Callable[[], Any]) -> None:
        self.root, self.run_root, self._stack = root, run_root, stack
        self.runs: list[LoadResults] = []

    def scenario(self, scenario: str | os.PathLike[str] | Mapping[str, Any] | LoadScenario) -> LoadScenario:
        if isinstance(scenario, LoadScenario):
            return scenario
        if isinstance(scenario, Mapping):
            return parse_scenario(scenario)
        return load_scenario(scenario, self.root)

    def __call__(self, scenario: str | os.PathLike[str] | Mapping[str, Any] | LoadScenario, target: Any = None,
                 workers: int | None = None) -> LoadResults:
        from aisys_verify.load.runner import RunOptions, results_summary_line, run_load
        from aisys_verify.report.allure import step

        chosen = self.scenario(scenario)
        run_dir = self.run_root / f"{len(self.runs) + 1:02d}-{chosen.name}"
        with step(f"load {chosen.name}: {chosen.shape.kind}, {chosen.model} model, {chosen.shape.duration:g} s"):
            lines: list[str] = []
            results = run_load(chosen, self._stack() if target is None else target, run_dir,
                               RunOptions(workers=workers), progress=lines.append)
            lines.append(results_summary_line(results))
            attach_results(results, lines)
        self.runs.append(results)
        return results


def attach_results(results: LoadResults, log: list[str] | None = None) -> None:
    """The run's summary, conformance, time series and plot in the report (no-ops without Allure);
    the plot is also written to the run folder as plot.svg."""
    from aisys_verify.load.plot import render_svg
    from aisys_verify.load.results import TIMESERIES_FILE
    from aisys_verify.report.allure import active, attach_json, attach_text

    svg = render_svg(results)
    (results.run_dir / "plot.svg").write_text(svg, encoding="utf-8")
    if not active():
        return
    import allure

    attach_json(f"load {results.scenario}: summary", results.summary() | {"schedule": results.schedule})
    attach_json(f"load {results.scenario}: shape conformance", results.conformance)
    allure.attach(svg, name=f"load {results.scenario}: delivered vs target", attachment_type=allure.attachment_type.SVG)
    attach_text(f"load {results.scenario}: time series (csv)",
                (results.run_dir / TIMESERIES_FILE).read_text(encoding="utf-8"))
    if log:
        attach_text(f"load {results.scenario}: log", "\n".join(log))
