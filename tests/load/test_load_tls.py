"""mTLS for the load drivers, against a real HTTPS server that requires a client certificate from the run's CA
(tests/tls_support.py): the Locust users present the stack's client certificate when ``AISYS_TLS_CLIENT`` names the
peer (the server answers the certificate's name), and without it they are refused (the server's handshake reason);
the SLO driver's HTTP path does the same through httpjson."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from tls_support import CLIENT, MtlsServer, mtls_server

from aisys_verify.load.locust_tls import StackContextFactory, stack_tls, tls_attrs
from aisys_verify.load.runner import _client_tls_files, run_load
from aisys_verify.load.scenario import LoadScenario, parse_scenario
from aisys_verify.slo.driver import Target, run
from aisys_verify.tlsclient import TLS_CLIENT_ENV, forget, trust

pytestmark = pytest.mark.integration
REFUSED_NO_CERT = "PEER_DID_NOT_RETURN_A_CERTIFICATE"  # OpenSSL's reason on the server's side


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MtlsServer]:
    with mtls_server(tmp_path) as running:
        yield running


def one_user(seconds: float = 1.0) -> LoadScenario:
    return parse_scenario({"name": "tls", "model": "closed", "users": 1, "timeout": 2,
                           "shape": {"kind": "constant", "level": 1, "duration": seconds},
                           "workloads": {"http-get": {"weight": 1, "path": "/health"}}})


def test_locust_users_present_the_stack_certificate_and_without_it_are_refused(server: MtlsServer,
                                                                               tmp_path: Path) -> None:
    trust(server.client_file)  # as a stack with TLS on does: its Locust processes inherit it
    results = run_load(one_user(), server.url, tmp_path / "with")
    total, failed = results.counts()
    assert total >= 1 and failed == 0, \
        f"{total} requests, {failed} failed over mTLS; the server refused: {Counter(server.refused).most_common(3)}"
    assert server.answered and set(server.answered) == {CLIENT}, server.answered  # each one with our certificate
    answered = len(server.answered)
    forget(server.client_file)  # the peer is unknown: Locust's own default (no certificate) applies
    results = run_load(one_user(), server.url, tmp_path / "without")
    total, failed = results.counts()
    assert total >= 1 and failed == total, f"{total} requests, {failed} failed without a client certificate"
    assert len(server.answered) == answered, "a request without a client certificate was answered"
    assert REFUSED_NO_CERT in server.refused, Counter(server.refused).most_common(3)


TEAM_LOCUSTFILE = """
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser


class RequestsUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def requests_health(self):
        self.client.get("/health")


class GeventUser(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def gevent_health(self):
        self.client.get("/health")
"""


def test_a_teams_own_http_users_present_the_stack_certificate(server: MtlsServer, tmp_path: Path) -> None:
    """A team's locustfile (scenario key ``locustfile``): its requests-based HttpUser and its FastHttpUser both
    present the certificate (userfile.py wraps them with the same tls_attrs)."""
    (tmp_path / "team.py").write_text(TEAM_LOCUSTFILE, encoding="utf-8")
    scenario = parse_scenario({"name": "team-tls", "model": "closed", "users": 2, "timeout": 2,
                               "locustfile": str(tmp_path / "team.py"),
                               "shape": {"kind": "constant", "level": 2, "duration": 1}})
    trust(server.client_file)
    results = run_load(scenario, server.url, tmp_path / "team")
    for task_name in ("requests_health", "gevent_health"):
        total, failed = results.counts(endpoint=task_name)
        assert total >= 1 and failed == 0, \
            f"{task_name}: {total} requests, {failed} failed; refused: {Counter(server.refused).most_common(3)}"
    assert set(server.answered) == {CLIENT}, server.answered


def locust_like(name: str, module: str, **attrs: object) -> type:
    """A class whose MRO names Locust's class as tls_attrs reads it: Locust itself may not be imported here (it
    monkey-patches the process with gevent); the Locust run above exercises the real classes."""
    return type("Team", (type(name, (), {"__module__": module}),), attrs)


def test_tls_attrs_only_for_a_listed_https_peer(server: MtlsServer) -> None:
    fast = locust_like("FastHttpUser", "locust.contrib.fasthttp", ssl_context_factory=None)
    trust(server.client_file)
    assert stack_tls(f"http://127.0.0.1:{server.port}") is None  # http:// stays plaintext
    assert stack_tls(f"https://127.0.0.1:{server.port + 1}") is None  # a peer no stack lists
    attrs = tls_attrs(fast, server.url)
    assert attrs["insecure"] is False
    factory = attrs["ssl_context_factory"]
    assert isinstance(factory, StackContextFactory)
    context = factory(cafile=ssl.get_default_verify_paths().cafile)  # as geventhttpclient calls it
    assert type(context).__module__ == "gevent.ssl"  # its sockets cooperate with the Locust process's greenlets
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        c["subject"] for c in ssl.create_default_context(cafile=str(server.pki.ca)).get_ca_certs()]  # only the run's CA
    own = locust_like("FastHttpUser", "locust.contrib.fasthttp", ssl_context_factory=ssl.create_default_context)
    assert tls_attrs(own, server.url) == {}  # a team's own TLS settings are kept
    requests_user = tls_attrs(locust_like("HttpUser", "locust.user.users"), server.url)
    assert set(requests_user) == {"__init__"}  # sets the session's verify and cert
    assert tls_attrs(locust_like("User", "locust.user.users"), server.url) == {}  # ZeroMQ users: nothing to do
    forget(server.client_file)
    assert tls_attrs(fast, server.url) == {}


def test_the_locust_processes_get_the_target_stacks_client_file(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    stack = SimpleNamespace(tls=SimpleNamespace(client_file=tmp_path / "tls-client.json"))  # a StackTls's field
    monkeypatch.setenv(TLS_CLIENT_ENV, "/other/tls-client.json")
    assert _client_tls_files(stack).split(":") == ["/other/tls-client.json", str(tmp_path / "tls-client.json")]
    monkeypatch.delenv(TLS_CLIENT_ENV)
    assert _client_tls_files("https://example.org") == ""


def test_the_slo_driver_speaks_mtls_to_a_stack_peer(server: MtlsServer) -> None:
    target = Target("tls GET /health", "h", "Agent", server.url, "GET /health", timeout_s=2.0)
    trust(server.client_file)
    record = run([target], [("steady", 0.3)], workers=1)
    total, failed = record.counts()
    assert total >= 1 and failed == 0, record.errors()
    forget(server.client_file)  # unknown peer: the system's CAs do not trust the run's CA
    record = run([target], [("steady", 0.3)], workers=1)
    total, failed = record.counts()
    assert total >= 1 and failed == total and "CERTIFICATE_VERIFY_FAILED" in " ".join(record.errors())
