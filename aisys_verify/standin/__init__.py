"""Stand-in agents: lightweight, protocol-faithful processes for every agent and group of a spec.

Run one group: ``python -m aisys_verify.standin --spec system --host mainpc --group infra_core``.
The protocol (``protocol``) is the real system's, so suites written against stand-ins run
unchanged against the real agents.

``request_once`` (one ZeroMQ request to an agent) loads ZeroMQ on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports
from aisys_verify.plan.edges import CallEdge, call_edges
from aisys_verify.plan.run import RunPlan, default_plan, resolve_http_ports
from aisys_verify.standin.protocol import envelope, health_reply, parse_reply, parse_request

if TYPE_CHECKING:
    from aisys_verify.standin.client import request_once

__all__ = ["CallEdge", "RunPlan", "call_edges", "default_plan", "envelope", "health_reply", "parse_reply",
           "parse_request", "request_once", "resolve_http_ports"]


__getattr__, __dir__ = lazy_exports(__name__, {"request_once": "client"}, globals())
