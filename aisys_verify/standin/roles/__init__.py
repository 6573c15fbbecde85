"""Role behaviours for stand-in agents; ``make_role`` picks one per agent (see table.py)."""

from __future__ import annotations

from aisys_verify.errors import UsageError
from aisys_verify.plan.roles import ROLES, role_for
from aisys_verify.standin.roles.base import AgentContext, Role
from aisys_verify.standin.roles.coordinator import CoordinatorRole
from aisys_verify.standin.roles.emotion import EmotionRole
from aisys_verify.standin.roles.gateway import GatewayRole
from aisys_verify.standin.roles.generic import GenericRole
from aisys_verify.standin.roles.gpu import GpuRole
from aisys_verify.standin.roles.language import LanguageRole
from aisys_verify.standin.roles.memory import MemoryClientRole, MemoryRole
from aisys_verify.standin.roles.observability import ObservabilityRole
from aisys_verify.standin.roles.real_registry import ReferenceRegistryRole, ReferenceTwinRole
from aisys_verify.standin.roles.registry import RegistryRole, TwinRole

ROLE_CLASSES: dict[str, type[Role]] = {
    "registry": RegistryRole, "twin": TwinRole, "coordinator": CoordinatorRole, "memory": MemoryRole,
    "memory-client": MemoryClientRole, "language": LanguageRole, "gpu": GpuRole,
    "observability": ObservabilityRole, "gateway": GatewayRole, "generic": GenericRole, "emotion": EmotionRole,
}
assert set(ROLE_CLASSES) == set(ROLES)
# the reference profile (PROTOCOL.md): roles whose real protocol differs too much to branch inside one class
REFERENCE_CLASSES: dict[str, type[Role]] = {"registry": ReferenceRegistryRole, "twin": ReferenceTwinRole}


def make_role(ctx: AgentContext) -> Role:
    choice = role_for(ctx.agent.name, ctx.agent.role)
    cls = ROLE_CLASSES.get(choice.role)
    if cls is None:
        raise UsageError(f"agent {ctx.agent.name}: unknown role '{choice.role}' (from the {choice.source}); "
                         f"roles: {', '.join(ROLES)}")
    if ctx.profile.reference:
        cls = REFERENCE_CLASSES.get(choice.role, cls)
    return cls(ctx)


__all__ = ["REFERENCE_CLASSES", "ROLE_CLASSES", "AgentContext", "Role", "make_role"]
