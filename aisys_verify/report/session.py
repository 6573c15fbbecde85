"""What a pytest session shows beyond the tests: stand-up progress on the terminal (also on passing runs)
and the environment.properties of an Allure report. Called by the plugin, which only wires them."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aisys_verify.report.allure import StandUpSteps

__all__ = ["environment_properties", "terminal_progress"]


class _Reporter(Protocol):
    def write_line(self, line: str) -> None: ...


def terminal_progress(steps: StandUpSteps, reporter: _Reporter | None, capture: Any) -> Callable[[str], None]:
    """A progress callback for a stack's stand-up: each line into the Allure step and onto the terminal,
    past pytest's output capture (``capture``: pytest's capture manager, or None)."""

    def progress(line: str) -> None:
        steps.line(line)
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():  # progress shows on passing runs too, not only in failures
            reporter.write_line(line)

    return progress


def environment_properties(args: Sequence[str], resolved: Any, summary: Mapping[str, Any] | None
                           ) -> dict[str, str]:
    """Allure's environment.properties of a run: versions, machine, command, the resolved config (a
    VerifyConfig, or None) and the session stack's summary (``allure.stack_summary``, or None)."""
    import pytest

    from aisys_verify import __version__

    env: dict[str, str] = {
        "aisys-verify": __version__, "python": platform.python_version(), "pytest": pytest.__version__,
        "platform": platform.platform(), "machine": f"{platform.node()}, {os.cpu_count()} CPUs",
        "command": " ".join(["pytest", *args]),
    }
    if resolved is not None:
        env |= {"spec": ", ".join(str(p) for p in resolved.spec), "backend": resolved.backend,
                "toxiproxy": "on every edge" if resolved.interpose else "off"}
        if resolved.spec_vars:
            env["spec vars"] = ", ".join(f"{k}={v}" for k, v in sorted(resolved.spec_vars.items()))
    if summary is not None:
        env["stack"] = (f"{summary['stack_id']} on {summary['network']}: {summary['agents']} agents, "
                        f"{summary['groups']} groups, {summary['start_layers']} start layers, "
                        f"{summary['proxies']} proxies")
        env["stand-up"] = f"{summary['stand_up_s']} s at {summary['started_at']}"
    return env
