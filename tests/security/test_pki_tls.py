"""The test PKI and the TLS pieces against a real TLS server (the stand-ins' httpd in a thread)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from aisys_verify.errors import InvalidValue, SecurityFailure, UsageError
from aisys_verify.security.matrix import CASE_NAMES, check_case, run_case
from aisys_verify.security.pki import BAD_CASES, TestPki, make_pki
from aisys_verify.security.stand import parse_selection
from aisys_verify.security.tls import (
    Outcome,
    TlsEndpoint,
    server_context,
    server_context_for,
    write_tls_plan,
)
from aisys_verify.standin.httpd import HttpRequest, HttpResponse, serve
from aisys_verify.standin.tls import endpoint_for

REPO = Path(__file__).resolve().parents[2]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"), {"gw": ["127.0.0.1", "localhost"]})


def test_pki_has_every_bad_case_and_sane_leaves(pki: TestPki) -> None:
    assert set(pki.bad) == set(BAD_CASES)
    leaf = _cert(pki.server("gw").cert)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical  # sslyze's trust check refuses a critical SAN
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    now = dt.datetime.now(dt.UTC)
    assert _cert(pki.bad["expired"].cert).not_valid_after_utc < now
    assert _cert(pki.bad["not_yet_valid"].cert).not_valid_before_utc > now
    other = _cert(pki.bad["other_ca"].cert)
    assert other.issuer != leaf.issuer
    own = _cert(pki.bad["self_signed"].cert)
    assert own.issuer == own.subject
    assert oct(pki.server("gw").key.stat().st_mode & 0o777) == "0o600"


def test_pki_refuses_a_folder_in_a_git_tree() -> None:
    with pytest.raises(InvalidValue, match="inside the git work tree"):
        make_pki(REPO / "secrets-here", {"x": ["127.0.0.1"]})
    assert not (REPO / "secrets-here").exists()


def test_unknown_names_are_named(pki: TestPki) -> None:
    with pytest.raises(InvalidValue, match="no client certificate 'nobody': it has aisys-verify"):
        pki.client("nobody")


def test_tls_plan_agent_beats_host(tmp_path: Path, pki: TestPki) -> None:
    cred = pki.server("gw")
    path = write_tls_plan(tmp_path / "plan.json", {"pc2": TlsEndpoint(cred.cert, cred.key, pki.ca),
                                                   "pc2/Gw": TlsEndpoint(cred.cert, cred.key, pki.ca, "optional")})
    env = {"AISYS_STANDIN_TLS": str(path)}
    assert server_context_for("pc2/Gw", env) is not None
    assert server_context_for("mainpc/X", env) is None
    assert server_context_for("pc2/Gw", {}) is None
    import json
    plan = json.loads(path.read_text())
    assert endpoint_for(plan, "pc2/Gw").client_auth == "optional"  # type: ignore[union-attr]
    assert endpoint_for(plan, "pc2/Other").client_auth == "required"  # type: ignore[union-attr]


def test_selection_parser() -> None:
    assert parse_selection("pc2=required, pc2/Gw=optional") == {"pc2": "required", "pc2/Gw": "optional"}
    assert parse_selection("pc2") == {"pc2": "required"}
    for bad in ("", "pc2=maybe", "=required"):
        with pytest.raises(UsageError):
            parse_selection(bad)


@pytest.fixture(scope="module")
def server(pki: TestPki) -> Iterator[dict[str, int]]:
    """Two real HTTPS servers (the stand-ins' httpd): client auth required and optional."""
    loop = asyncio.new_event_loop()

    async def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse.of_json(200, {"path": request.path})

    cred = pki.server("gw")
    ports = {}
    for auth in ("required", "optional"):
        srv = loop.run_until_complete(serve(handler, "127.0.0.1", 0,
                                            server_context(TlsEndpoint(cred.cert, cred.key, pki.ca, auth))))
        ports[auth] = srv.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield ports
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_matrix_against_a_required_server(pki: TestPki, server: dict[str, int], case: str) -> None:
    outcome = run_case(case, pki, "127.0.0.1", server["required"], "/health", server_name="127.0.0.1")
    assert check_case(case, outcome, "gw").startswith(f"gw {case}: ")


def test_optional_client_auth_is_caught(pki: TestPki, server: dict[str, int]) -> None:
    """Mutation: client authentication optional; the no-certificate case fails with a clear message."""
    outcome = run_case("no_client_cert", pki, "127.0.0.1", server["optional"], "/health", server_name="127.0.0.1")
    assert outcome.accepted and outcome.status == 200
    with pytest.raises(SecurityFailure, match=r"no client certificate was ACCEPTED .*client certificates are not"):
        check_case("no_client_cert", outcome, "gw")


def test_timeouts_and_wrong_refusals_are_not_passes() -> None:
    with pytest.raises(SecurityFailure, match="a timeout is not a refusal"):
        check_case("expired", Outcome(False, "timeout", "TimeoutError"), "gw")
    with pytest.raises(SecurityFailure, match="refused, but not as expected"):
        check_case("expired", Outcome(False, "read", "SSLError TLSV1_ALERT_UNKNOWN_CA"), "gw")
    with pytest.raises(SecurityFailure, match="the valid case was refused"):
        check_case("valid", Outcome(False, "read", "SSLEOFError"), "gw")
