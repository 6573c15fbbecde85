"""Security checks: the run's test PKI, TLS on the stand-ins' HTTP side and its negative matrix, CurveZMQ, scans,
Redis with TLS and its matrix, and image provenance (digests, cosign signatures).

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
    "DEFAULT_REDIS_TLS_HOSTS": "redis_tls", "REDIS_CASES": "redis_tls", "REDIS_CASE_NAMES": "redis_tls",
    "REDIS_TLS_HOSTS_ENV": "redis_tls", "RedisTlsStand": "redis_tls", "admin_tls": "redis_tls",
    "check_redis_case": "redis_tls", "redis_tls_standins": "redis_tls", "resp_attempt": "redis_tls",
    "run_redis_case": "redis_tls",
    "ImageDigest": "provenance", "KeyPair": "provenance", "Verification": "provenance",
    "check_verifications": "provenance", "container_images": "provenance", "generate_keys": "provenance",
    "image_digests": "provenance",
    "sign": "provenance", "verify": "provenance",
    "LocalRegistry": "registry", "missing_tools": "registry",
    "sign_images": "trust", "stack_image_tags": "trust", "verify_images": "trust",
    "ComposeRoll": "rotation", "compose_rotation": "rotation",
}
__all__ = [
    "BAD_CASES", "CASES", "CASE_NAMES", "CURVE_CASES", "CURVE_CASE_NAMES", "DEFAULT_SELECTION", "KINDS",
    "SELECTION_ENV", "STRATEGIES", "TLS_ENV", "WRONG_HOST", "Case", "ComposeRoll", "ContainerReport", "Credential",
    "CurveCase",
    "CurveOutcome", "CurveStand", "CurveTarget", "DialogueCounter", "Endpoint", "HandshakeLog", "ImageDigest", "Issue",
    "KeyPair", "Leak", "LocalRegistry", "Outcome", "RotationReport", "RotationStand", "Secret", "TestPki",
    "TlsEndpoint", "TlsScan", "TlsStand", "Verification", "accepts", "as_environment", "attempt", "canary",
    "check_case", "check_curve_case", "check_no_leaks", "check_reports", "check_rotation", "check_scan",
    "check_verifications", "client_context", "compose_rotation", "container_images", "container_report",
    "count_refused_handshakes",
    "curve_attempt", "curve_health", "curve_standins", "dockerfile_issue", "dockerfile_user", "generate_keys",
    "image_digests", "inspect_containers", "make_pki", "missing_tools", "parse_selection", "plaintext_health",
    "process_keys", "rotate", "rotation_standins", "run_case", "scan_containers", "scan_endpoint", "scan_files",
    "scan_processes", "server_context", "server_context_for", "set_first_password", "sign", "sign_images",
    "stack_image_tags", "stack_reports", "tls_standins", "verify", "verify_images", "write_secret_file",
    "write_tls_plan",
]
__all__ += [  # Redis with TLS (security.redis_tls)
    "DEFAULT_REDIS_TLS_HOSTS", "REDIS_CASES", "REDIS_CASE_NAMES", "REDIS_TLS_HOSTS_ENV", "RedisTlsStand", "admin_tls",
    "check_redis_case", "redis_tls_standins", "resp_attempt", "run_redis_case",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
