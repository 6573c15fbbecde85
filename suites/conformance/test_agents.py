"""Per agent of the spec, the agent-level contract (docs/conformance.md), one test id per check and agent:
``test_listens[mainpc/ServiceRegistry]``. pytest runs these functions in file order, each over every agent,
which is the order the contract needs: the checks that leave an agent changed (its Redis cut, its group
killed and restarted, and the actions, which can wedge a main socket) come last."""

from __future__ import annotations

import pytest

from aisys_verify.conformance import Conformance

from .conftest import verdict

pytestmark = pytest.mark.conformance


def test_listens(conformance: Conformance, aisys_agent: str) -> None:
    """It listens on the spec's port and health_check_port, and it is what answers there."""
    verdict(conformance.result("listens", aisys_agent))


def test_health(conformance: Conformance, aisys_agent: str) -> None:
    """ping/health_check on both sockets within a deadline, health fields consistent."""
    verdict(conformance.result("health", aisys_agent))


def test_registered(conformance: Conformance, aisys_agent: str) -> None:
    """The registry returns it with its spec ports."""
    verdict(conformance.result("registered", aisys_agent))


def test_hostile_frames(conformance: Conformance, aisys_agent: str) -> None:
    """Not JSON, invalid UTF-8, an array, no action, an unknown action, 2 MiB: each answered, socket still usable."""
    verdict(conformance.result("hostile_frames", aisys_agent))


def test_ready_refreshed(conformance: Conformance, aisys_agent: str) -> None:
    """Its readiness key's TTL goes up again within the observation window."""
    verdict(conformance.result("ready_refreshed", aisys_agent))


def test_http_degraded(conformance: Conformance, aisys_agent: str) -> None:
    """With its Redis cut, HTTP /health shows the degradation (policy: --aisys-conformance-http-policy)."""
    verdict(conformance.result("http_degraded", aisys_agent))


def test_ready_after_crash(conformance: Conformance, aisys_agent: str) -> None:
    """Its group killed, its readiness key is gone or not-ready within the bound."""
    verdict(conformance.result("ready_after_crash", aisys_agent))


def test_actions(conformance: Conformance, aisys_agent: str) -> None:
    """Every declared action answered with a JSON-serialisable reply within the deadline."""
    verdict(conformance.result("actions", aisys_agent))
