"""Standing the spec up: backends (local processes, compose), Toxiproxy on every edge, cleanup.

``Stack`` is the protocol every backend implements (the ``aisys_stack`` fixture); ``require`` skips a test
whose stack lacks a capability (a failure under ``--aisys-strict-capabilities``).
"""

from aisys_verify.stack.base import (
    CAPABILITIES,
    AgentEndpoint,
    Stack,
    StackOptions,
    StackStartError,
    probe_health,
    require,
    serving_loop_s,
)
from aisys_verify.stack.local import LocalStack

__all__ = ["CAPABILITIES", "AgentEndpoint", "LocalStack", "Stack", "StackOptions", "StackStartError", "probe_health",
           "require", "serving_loop_s"]
