"""``chaos discover aisys-verify``: the extension's activities (chaoslib's discovery convention)."""

from __future__ import annotations

from typing import Any

MODULES = (("aisys_verify.ctk.actions", "action"), ("aisys_verify.ctk.probes", "probe"),
           ("aisys_verify.ctk.rollbacks", "action"))


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Chaos Toolkit's discovery payload: every action, probe and rollback with its arguments; with
    ``discover_system``, the running stacks of this machine (``aisys-verify status``)."""
    from chaoslib.discovery.discover import (  # type: ignore[import-untyped]
        discover_activities,
        initialize_discovery_result,
    )

    from aisys_verify import __version__

    discovery: dict[str, Any] = initialize_discovery_result("aisys-verify", __version__, "aisys-verify")
    for module, kind in MODULES:
        discovery["activities"].extend(discover_activities(module, kind))
    if discover_system:
        from aisys_verify.stack.state import list_stacks

        discovery["system"] = {"stacks": [{"stack_id": r.stack_id, "backend": r.backend, "running": bool(live)}
                                          for r, live in list_stacks()]}
    return discovery
