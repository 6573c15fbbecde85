"""Fixtures of the e2e suite, built on the plugin's public fixtures only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aisys_verify.errors import CapabilityMissing
from aisys_verify.report.allure import labels
from aisys_verify.stack.base import Stack

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
    if not aisys_stack.proxies:  # the plugin makes this a skip naming the capability (a failure when strict)
        raise CapabilityMissing("the stack has no Toxiproxy on its edges (--aisys-no-proxies, or an inventory "
                                "that declares none): no edge can be cut", "network")
    yield
    aisys_stack.toxiproxy_client.reset()
