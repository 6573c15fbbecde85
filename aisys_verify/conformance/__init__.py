"""The agent-level contract of PROTOCOL.md, checked black-box per agent (docs/conformance.md).

    from aisys_verify.conformance import Conformance
    results = list(Conformance(stack).run())        # every check of every agent, in CHECKS order
    Conformance(stack).result("listens", "mainpc/ServiceRegistry")

Works against the real agents and against stand-ins of either profile: it only uses the spec's ports,
the stack's addresses, HTTP, and the hosts' Redis.
"""

from aisys_verify.conformance.model import CHECK_TITLES, CHECKS, CheckResult, ConformanceOptions
from aisys_verify.conformance.session import Conformance

__all__ = ["CHECKS", "CHECK_TITLES", "CheckResult", "Conformance", "ConformanceOptions"]
