"""Fixtures of the disaster-recovery suite: its Allure label and where its figures are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify import labels

REPORTS = Path(__file__).resolve().parents[2] / "reports" / "dr"


@pytest.fixture(autouse=True)
def _dr_labels() -> None:
    labels(suite="dr")


@pytest.fixture(scope="session")
def dr_reports() -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS
