"""Fixtures of the load suite, built on the plugin's public fixtures only."""

from __future__ import annotations

import pytest

from aisys_verify import labels


@pytest.fixture(autouse=True)
def _load_labels() -> None:
    labels(suite="load")
