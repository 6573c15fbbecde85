"""Security checks: the run's test PKI, TLS on the stand-ins' HTTP side and its negative matrix, scans.

Names resolve lazily (aisys_verify.lazy): importing the package imports neither ``cryptography`` nor
``sslyze``.
"""

from __future__ import annotations

from aisys_verify.lazy import lazy_exports

_EXPORTS = {
    "BAD_CASES": "pki", "Credential": "pki", "TestPki": "pki", "make_pki": "pki", "WRONG_HOST": "pki",
    "TLS_ENV": "tls", "TlsEndpoint": "tls", "Outcome": "tls", "attempt": "tls", "client_context": "tls",
    "server_context": "tls", "server_context_for": "tls", "write_tls_plan": "tls",
    "TlsScan": "scan", "check_scan": "scan", "scan_endpoint": "scan",
    "DEFAULT_SELECTION": "stand", "Endpoint": "stand", "KINDS": "stand", "SELECTION_ENV": "stand", "TlsStand": "stand",
    "parse_selection": "stand", "tls_standins": "stand",
    "ContainerReport": "hardening", "Issue": "hardening", "check_reports": "hardening", "container_report": "hardening",
    "dockerfile_issue": "hardening", "dockerfile_user": "hardening", "inspect_containers": "hardening",
    "stack_reports": "hardening",
    "CASES": "matrix", "CASE_NAMES": "matrix", "Case": "matrix", "check_case": "matrix", "run_case": "matrix",
}
__all__ = [
    "BAD_CASES", "CASES", "CASE_NAMES", "DEFAULT_SELECTION", "KINDS", "SELECTION_ENV", "TLS_ENV", "WRONG_HOST", "Case",
    "ContainerReport", "Credential", "Endpoint", "Issue", "Outcome", "TestPki", "TlsEndpoint", "TlsScan", "TlsStand",
    "attempt", "check_case", "check_reports", "check_scan", "client_context", "container_report", "dockerfile_issue",
    "dockerfile_user", "inspect_containers", "make_pki", "parse_selection", "run_case", "scan_endpoint",
    "server_context", "server_context_for", "stack_reports", "tls_standins", "write_tls_plan",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
