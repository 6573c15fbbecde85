"""TLS to Redis for a stand-in group, configured as a real agent would be: ``REDIS_URL=rediss://HOST:PORT``
(the ``rediss`` scheme: TLS) and the client certificate, its key and the CA bundle as files.

| variable | what |
|---|---|
| ``REDIS_TLS_CERT_FILE`` | the client certificate (PEM) presented to a Redis with ``tls-auth-clients yes`` |
| ``REDIS_TLS_KEY_FILE`` | its private key (PEM) |
| ``REDIS_TLS_CA_FILE`` | the CA bundle that verifies the Redis server's certificate (host name checked) |

The password still comes from ``REDIS_PASSWORD_FILE`` (standin.group.FileCredentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.errors import UsageError

__all__ = ["REDIS_TLS_VARS", "redis_tls_options"]

REDIS_TLS_VARS = ("REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_CA_FILE")


def redis_tls_options(env: Mapping[str, str]) -> dict[str, Any]:
    """redis-py's TLS keyword arguments for the group's Redis when ``REDIS_URL`` is ``rediss://``; {} otherwise.
    A ``rediss`` URL without a CA bundle is refused: an agent must not trust any server it is sent to."""
    if not env.get("REDIS_URL", "").strip().lower().startswith("rediss://"):
        return {}
    cert, key, ca = (env.get(v, "").strip() for v in REDIS_TLS_VARS)
    if not ca:
        raise UsageError("REDIS_URL is rediss:// (TLS) but REDIS_TLS_CA_FILE is not set: give the CA bundle that "
                         "verifies the Redis server's certificate")
    if bool(cert) != bool(key):
        raise UsageError("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both (a client certificate "
                         "and its key) or neither")
    options: dict[str, Any] = {"ssl": True, "ssl_ca_certs": ca, "ssl_check_hostname": True,
                               "ssl_cert_reqs": "required"}
    if cert:
        options |= {"ssl_certfile": cert, "ssl_keyfile": key}
    return options
