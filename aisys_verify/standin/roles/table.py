"""Which behaviour each agent gets. The role choice and each role's run-time calls are topology knowledge and
live in ``aisys_verify.plan.roles`` (re-exported here); what is the stand-ins' own is which roles speak HTTP
on their main port.
"""

from __future__ import annotations

from aisys_verify.plan.roles import DEFAULT_ROLES, ROLE_CALLS, ROLES, RoleChoice, role_for

# roles whose main port speaks HTTP in the reference profile (the real ObservabilityHub is a FastAPI app on its
# configured port, PROTOCOL.md §5): clients must not send ZeroMQ there
HTTP_MAIN_ROLES = frozenset({"observability"})


def main_is_http(name: str, declared: str | None, reference: bool) -> bool:
    """Whether an agent's main port speaks HTTP instead of ZeroMQ: its role's, in the reference profile only."""
    return reference and role_for(name, declared).role in HTTP_MAIN_ROLES


__all__ = ["DEFAULT_ROLES", "HTTP_MAIN_ROLES", "ROLES", "ROLE_CALLS", "RoleChoice", "main_is_http", "role_for"]
