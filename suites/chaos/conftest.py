"""Fixtures of the chaos suite, over the plugin's public fixtures (aisys_stack, aisys_chaos)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify import Stack, attach_json, attach_svg, attach_text, labels
from aisys_verify.faults import bars_svg

from .support import Dialogue

REPORTS = Path(__file__).resolve().parents[2] / "reports" / "chaos"


@pytest.fixture(autouse=True)
def _chaos_labels() -> None:
    labels(suite="chaos")


@pytest.fixture(scope="session")
def dialogue(aisys_stack: Stack) -> Dialogue:
    """Dialogue turns through the web gateway (pc2 UnifiedWebAgent), timed."""
    return Dialogue(aisys_stack.endpoint("UnifiedWebAgent").http_url)


@pytest.fixture(scope="session")
def recovery_table() -> Iterator[list[dict[str, object]]]:
    """Rows of measured recovery times; written to reports/chaos/recovery.json and attached at the end."""
    rows: list[dict[str, object]] = []
    yield rows
    if rows:
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / "recovery.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        attach_json("recovery times", rows)
        attach_svg("recovery times (chart)", bars_svg("seconds until healthy again after each fault", [
            (f"{r['target']} ({r['fault']})", float(r["recovery_s"])) for r in rows  # type: ignore[arg-type]
            if r.get("recovery_s") is not None]))
        width = max(len(str(r["target"])) for r in rows)
        attach_text("recovery times (table)", "\n".join(
            f"{r['target']!s:<{width}}  {r['fault']:<10} group back in {r['recovery_s']:>6} s   "
            f"whole stack healthy in {r.get('stack_healthy_s', '-'):>6} s" for r in rows))
