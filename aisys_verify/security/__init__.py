"""Security checks: the run's test PKI, TLS on the stand-ins' HTTP side and its negative matrix, CurveZMQ, scans.

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
    "Leak": "secrets", "Secret": "secrets", "as_environment": "secrets", "canary": "secrets",
    "check_no_leaks": "secrets", "scan_containers": "secrets", "scan_files": "secrets",
    "scan_processes": "secrets", "write_secret_file": "secrets",
    "CURVE_CASES": "curve", "CURVE_CASE_NAMES": "curve", "CurveCase": "curve", "CurveOutcome": "curve",
    "CurveStand": "curve", "CurveTarget": "curve", "HandshakeLog": "curve", "check_curve_case": "curve",
    "count_refused_handshakes": "curve", "curve_attempt": "curve", "curve_health": "curve", "curve_standins": "curve",
    "plaintext_health": "curve", "process_keys": "curve",
    "DialogueCounter": "rotation", "RotationReport": "rotation", "RotationStand": "rotation", "STRATEGIES": "rotation",
    "accepts": "rotation", "check_rotation": "rotation", "rotate": "rotation", "rotation_standins": "rotation",
    "set_first_password": "rotation",
    "CASES": "matrix", "CASE_NAMES": "matrix", "Case": "matrix", "check_case": "matrix", "run_case": "matrix",
    "ComposeRoll": "rotation", "compose_rotation": "rotation",
}
__all__ = [
    "BAD_CASES", "CASES", "CASE_NAMES", "CURVE_CASES", "CURVE_CASE_NAMES", "DEFAULT_SELECTION", "KINDS",
    "SELECTION_ENV", "STRATEGIES", "TLS_ENV", "WRONG_HOST", "Case", "ComposeRoll", "ContainerReport", "Credential",
    "CurveCase",
    "CurveOutcome", "CurveStand", "CurveTarget", "DialogueCounter", "Endpoint", "HandshakeLog", "Issue", "Leak",
    "Outcome", "RotationReport", "RotationStand", "Secret", "TestPki", "TlsEndpoint", "TlsScan", "TlsStand", "accepts",
    "as_environment", "attempt", "canary", "check_case", "check_curve_case", "check_no_leaks", "check_reports",
    "check_rotation", "check_scan", "client_context", "compose_rotation", "container_report",
    "count_refused_handshakes", "curve_attempt",
    "curve_health", "curve_standins", "dockerfile_issue", "dockerfile_user", "inspect_containers", "make_pki",
    "parse_selection", "plaintext_health", "process_keys", "rotate", "rotation_standins", "run_case",
    "scan_containers", "scan_endpoint", "scan_files", "scan_processes", "server_context", "server_context_for",
    "set_first_password", "stack_reports", "tls_standins", "write_secret_file", "write_tls_plan",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
