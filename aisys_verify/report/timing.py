"""Where a run's time went: test durations summed per folder (suites/chaos, suites/e2e, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def per_folder(reports: Iterable[Any], depth: int = 2) -> dict[str, float]:
    """Sum of ``duration`` over test reports (set-up, call, teardown), keyed by the first ``depth`` parts of
    their node id's path (``suites/chaos``), in the order first seen."""
    totals: dict[str, float] = {}
    for report in reports:
        nodeid, duration = getattr(report, "nodeid", ""), getattr(report, "duration", None)
        if not nodeid or not isinstance(duration, (int, float)) or getattr(report, "when", None) is None:
            continue
        folder = "/".join(nodeid.split("::")[0].split("/")[:depth])
        totals[folder] = totals.get(folder, 0.0) + float(duration)
    return totals
