"""Fixtures of the security suite, over the plugin's public fixtures (aisys_tls_stand, aisys_canary).

Which hosts/agents serve HTTPS and with which client authentication: ``AISYS_TLS_CLIENT_AUTH``
(``pc2=required`` unless set; ``host/Agent=optional`` overrides one agent), parsed by
aisys_verify.security.stand. The PKI and the TLS plan live in pytest's temporary folder.
"""

from __future__ import annotations

import pytest

from aisys_verify import labels


@pytest.fixture(autouse=True)
def _security_labels() -> None:
    labels(suite="security")
