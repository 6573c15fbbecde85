"""Any agent without a special role: ping, health and the configurable 'work' action (in Role)."""

from aisys_verify.standin.roles.base import Role


class GenericRole(Role):
    name = "generic"
