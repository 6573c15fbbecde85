"""The mTLS negative matrix: one test per case and endpoint kind (gateway, health, metrics). Each
case must be refused (judged after a read: TLS alert or connection outcome, never a timeout) and the
valid case must get an HTTP reply; the observed outcome is printed and recorded as a JUnit property."""

from __future__ import annotations

import pytest

from aisys_verify.security import CASE_NAMES, KINDS, TlsStand, check_case, check_scan, run_case, scan_endpoint

pytestmark = pytest.mark.security


@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_mtls_matrix(aisys_tls_stand: TlsStand, kind: str, case: str, request: pytest.FixtureRequest) -> None:
    endpoint = aisys_tls_stand.endpoints.get(kind)
    if endpoint is None:
        pytest.skip(f"no {kind} endpoint among the TLS-selected agents")
    outcome = run_case(case, aisys_tls_stand.pki, endpoint.address, endpoint.port, endpoint.path,
                       server_name=endpoint.address)
    observed = check_case(case, outcome, endpoint.where)
    request.node.user_properties.append(("observed", observed))  # JUnit XML property
    print(observed)


@pytest.mark.parametrize("kind", KINDS)
def test_sslyze_scan(aisys_tls_stand: TlsStand, kind: str, request: pytest.FixtureRequest) -> None:
    """sslyze: only TLS 1.2/1.3 accepted, and a client certificate required."""
    endpoint = aisys_tls_stand.endpoints.get(kind)
    if endpoint is None:
        pytest.skip(f"no {kind} endpoint among the TLS-selected agents")
    scan = scan_endpoint(endpoint.address, endpoint.port, endpoint.address, aisys_tls_stand.pki.client("aisys-verify"),
                         where=endpoint.where)
    observed = check_scan(scan)
    request.node.user_properties.append(("observed", observed))  # JUnit XML property
    print(observed)
