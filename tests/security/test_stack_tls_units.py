"""mTLS on the session stack, below a stack: the option's parsing and precedence, what the stack mints and writes
(stack/tls.py), and the framework's HTTP client against a real TLS server with the stack's client file
(tlsclient, httpjson): TLS to a listed peer, never a silent fallback to plaintext."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tls_support import mtls_server

from aisys_verify.config import ENV_TLS, VerifyConfig, parse_tls
from aisys_verify.errors import UsageError
from aisys_verify.httpjson import http_direct, http_raw
from aisys_verify.spec.loader import load_spec
from aisys_verify.stack.tls import CLIENT_NAME, mint_stack_tls
from aisys_verify.standin.tls import auth_for, endpoint_for, parse_selection
from aisys_verify.tlsclient import TLS_CLIENT_ENV, context_for, forget, trust

REPO = Path(__file__).resolve().parents[2]


def test_selection_parses_hosts_agents_and_all() -> None:
    assert parse_tls("all=required") == {"all": "required"}
    assert parse_tls("pc2=required,mainpc/ServiceRegistry=optional") == {
        "pc2": "required", "mainpc/ServiceRegistry": "optional"}
    assert parse_tls("off") == {}
    chosen = parse_selection("all=required,pc2=optional,pc2/UnifiedWebAgent=none")
    assert auth_for(chosen, "pc2/UnifiedWebAgent") == "none"  # the agent's own entry wins
    assert auth_for(chosen, "pc2/CacheManager") == "optional"  # then its host's
    assert auth_for(chosen, "mainpc/ServiceRegistry") == "required"  # then all's
    assert auth_for({"pc2": "required"}, "mainpc/ServiceRegistry") is None  # not selected: plain HTTP


@pytest.mark.parametrize("bad", ["pc2=sometimes", "=required", ",", "pc2=required,mainpc=maybe"])
def test_a_bad_selection_names_the_option(bad: str) -> None:
    with pytest.raises(UsageError, match=r"--aisys-tls, \$AISYS_TLS, the aisys_tls ini key"):
        parse_tls(bad)


@given(st.lists(st.tuples(st.sampled_from(["all", "pc2", "mainpc", "pc2/UnifiedWebAgent"]),
                          st.sampled_from(["required", "optional", "none"])), min_size=1, max_size=4))
def test_selection_round_trips(items: list[tuple[str, str]]) -> None:
    assert parse_selection(",".join(f"{s}={a}" for s, a in items)) == dict(items)  # the last entry per selector wins


def test_precedence_environment_under_command_line() -> None:
    from_env = VerifyConfig().with_environ({ENV_TLS: "pc2=optional"})
    assert from_env.tls == {"pc2": "optional"}
    assert from_env.with_overrides(tls="all=required").tls == {"all": "required"}
    assert from_env.with_overrides(tls="off").tls == {}
    assert from_env.with_overrides(tls=None).tls == {"pc2": "optional"}


def test_a_bad_cli_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:hypothesispytest", "--aisys-tls=pc2=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*TLS selection (--aisys-tls*pc2=sometimes*expected HOST*"])


def test_a_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naisys_tls = pc2=maybe\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:hypothesispytest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*TLS selection (--aisys-tls*pc2=maybe*"])
    # each layer is checked where it is given (as every option's): a command-line value does not hide a bad ini one
    assert pytester.runpytest("-p", "no:hypothesispytest", "--aisys-tls=off").ret == pytest.ExitCode.USAGE_ERROR


def test_the_stack_mints_plan_and_client_file(tmp_path: Path) -> None:
    topology = load_spec([str(REPO / "system")])
    agents = topology.agents
    tls = mint_stack_tls(tmp_path / "secrets", topology, {"pc2": "required", "pc2/UnifiedWebAgent": "optional"},
                         {a.key: ["10.1.2.3", f"alias-{a.name.lower()}"] for a in agents},
                         {a.key: [("10.1.2.3", 8000 + i)] for i, a in enumerate(agents)})
    assert tls is not None
    picked = {a.key for a in agents if a.host == "pc2"}
    assert set(tls.served) == picked and tls.served["pc2/UnifiedWebAgent"] == "optional"
    plan = json.loads(tls.plan.read_text())
    assert endpoint_for(plan, "pc2/UnifiedWebAgent").client_auth == "optional"  # type: ignore[union-attr]
    assert endpoint_for(plan, "mainpc/ServiceRegistry") is None
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(tls.pki.server("pc2/UnifiedWebAgent").cert.read_bytes())
    names = {str(n) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
             .get_values_for_type(x509.DNSName)}
    assert {"alias-unifiedwebagent", "localhost"} <= names
    client = json.loads(tls.client_file.read_text())
    assert client["cert"] == str(tls.pki.client(CLIENT_NAME).cert)
    assert len(client["peers"]) == len(picked)  # only TLS agents are TLS peers
    assert (tmp_path / "secrets").stat().st_mode & 0o077 == 0
    assert tls.pki.client(CLIENT_NAME).key.stat().st_mode & 0o077 == 0
    tls.close()
    assert mint_stack_tls(tmp_path / "none", topology, {"nohost": "required"}, {}, {}) is None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Path, int, Path]]:
    """A real HTTPS server on 127.0.0.1 requiring a client certificate from the run's CA (tests/tls_support.py);
    (secrets, port, the client file naming it as a peer)."""
    with mtls_server(tmp_path) as server:
        yield tmp_path, server.port, server.client_file


def test_the_http_client_presents_the_stack_certificate(tls_server: tuple[Path, int, Path]) -> None:
    _, port, path = tls_server
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):  # unknown to this process: not trusted
        http_raw("GET", f"https://127.0.0.1:{port}/health", timeout=5)
    trust(path)
    assert str(path) in os.environ[TLS_CLIENT_ENV].split(os.pathsep)  # subprocesses inherit it
    assert context_for("127.0.0.1", port) is not None and context_for("127.0.0.1", port + 1) is None
    assert http_raw("GET", f"https://127.0.0.1:{port}/health", timeout=5).status == 200
    assert http_direct("127.0.0.1", port, "/health", timeout=5).status == 200  # a health gate's GET: over TLS
    # http:// stays plaintext: the TLS server drops it, nothing falls back
    with pytest.raises(OSError, match=r"reset|closed|without response"):
        http_raw("GET", f"http://127.0.0.1:{port}/health", timeout=5)
    forget(path)
    assert context_for("127.0.0.1", port) is None


def test_a_client_without_certificate_is_refused(tls_server: tuple[Path, int, Path]) -> None:
    secrets, port, _ = tls_server
    context = ssl.create_default_context(cafile=str(secrets / "pki" / "ca.pem"))
    with pytest.raises(OSError, match=r"CERTIFICATE_REQUIRED|EOF occurred in violation of protocol"):
        http_raw_with(context, port)


def http_raw_with(context: ssl.SSLContext, port: int) -> None:
    import urllib.request

    with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=5, context=context) as reply:
        reply.read()
