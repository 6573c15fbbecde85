"""Fixtures of the e2e suite, built on the plugin's public fixtures only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aisys_verify import Stack, labels, require

from .support import Gateway


@pytest.fixture(autouse=True)
def _e2e_labels() -> None:
    labels(suite="e2e")


@pytest.fixture(scope="session")
def gateway(aisys_stack: Stack) -> Gateway:
    """The web gateway (PC2 UnifiedWebAgent), where users come in."""
    return Gateway(aisys_stack.endpoint("UnifiedWebAgent").http_url)


@pytest.fixture
def toxiproxy_reset(aisys_stack: Stack) -> Iterator[None]:
    """Every proxy enabled and every toxic removed after the test, whatever it did or how it ended."""
    # a skip naming the capability without Toxiproxy (--aisys-no-proxies, an inventory declaring none)
    require(aisys_stack, "network", purpose="no edge can be cut")
    yield
    aisys_stack.toxiproxy_client.reset()
