"""Stand-in agents: lightweight, protocol-faithful processes for every agent and group of a spec.

Run one group: ``python -m aisys_verify.standin --spec system --host mainpc --group infra_core``.
The protocol (``protocol``) is the real system's, so suites written against stand-ins run
unchanged against the real agents.
"""

from aisys_verify.plan.edges import CallEdge, call_edges
from aisys_verify.plan.run import RunPlan, default_plan, resolve_http_ports
from aisys_verify.standin.protocol import envelope, health_reply, parse_reply, parse_request

__all__ = ["CallEdge", "RunPlan", "call_edges", "default_plan", "envelope", "health_reply", "parse_reply",
           "parse_request", "resolve_http_ports"]
