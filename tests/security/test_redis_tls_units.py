"""Redis with TLS: the stand-ins' TLS settings from the environment, the redis-server flags and ACL file, RESP
encoding, the Redis matrix's judgement, and the matrix against a real TLS redis-server (no stand-ins): the
``tls-auth-clients optional`` mutation must make the no-client-certificate case fail, saying so."""

from __future__ import annotations

import hashlib
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.errors import InvalidValue, SecurityFailure, UsageError
from aisys_verify.security.pki import TestPki, make_pki
from aisys_verify.security.redis_tls import (
    REDIS_CASE_NAMES,
    _resp,
    check_redis_case,
    client_tls_environment,
    redis_case,
    resp_attempt,
    run_redis_case,
)
from aisys_verify.security.secrets import Secret, canary
from aisys_verify.security.tls import Outcome
from aisys_verify.stack.redis_server import spawn_redis, terminate, tls_flags, wait_pong, write_acl_file
from aisys_verify.standin.cluster import wait_port
from aisys_verify.standin.redis_tls import redis_tls_options

WHERE = "redis@test rediss://127.0.0.1:1"


def test_no_tls_options_for_a_plain_redis_url() -> None:
    assert redis_tls_options({"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_TLS_CA_FILE": "/ca.pem"}) == {}
    assert redis_tls_options({}) == {}


def test_rediss_url_gives_client_certificate_and_ca() -> None:
    env = {"REDIS_URL": "rediss://10.0.0.2:6380/0", "REDIS_TLS_CERT_FILE": "/c.pem", "REDIS_TLS_KEY_FILE": "/c.key",
           "REDIS_TLS_CA_FILE": "/ca.pem"}
    assert redis_tls_options(env) == {"ssl": True, "ssl_ca_certs": "/ca.pem", "ssl_check_hostname": True,
                                      "ssl_cert_reqs": "required", "ssl_certfile": "/c.pem", "ssl_keyfile": "/c.key"}
    assert redis_tls_options({**env, "REDIS_TLS_CERT_FILE": "", "REDIS_TLS_KEY_FILE": ""})["ssl"] is True


@pytest.mark.parametrize(("drop", "says"), [("REDIS_TLS_CA_FILE", "REDIS_TLS_CA_FILE is not set"),
                                            ("REDIS_TLS_KEY_FILE", "go together")])
def test_rediss_url_with_missing_files_is_refused(drop: str, says: str) -> None:
    env = {"REDIS_URL": "rediss://h:1", "REDIS_TLS_CERT_FILE": "/c", "REDIS_TLS_KEY_FILE": "/k",
           "REDIS_TLS_CA_FILE": "/ca"}
    del env[drop]
    with pytest.raises(UsageError, match=says):
        redis_tls_options(env)


def test_tls_flags_close_the_plain_port_and_name_the_acl_file(tmp_path: Path) -> None:
    flags = tls_flags(6390, tmp_path / "s.pem", tmp_path / "s.key", tmp_path / "ca.pem", acl_file=tmp_path / "u.acl")
    assert flags[:4] == ["--port", "0", "--tls-port", "6390"]
    assert flags[flags.index("--tls-auth-clients") + 1] == "yes"
    assert flags[flags.index("--tls-protocols") + 1] == "TLSv1.2 TLSv1.3"
    assert flags[-2:] == ["--aclfile", str(tmp_path / "u.acl")]
    assert "--aclfile" not in tls_flags(1, tmp_path, tmp_path, tmp_path, auth_clients="optional")


def test_acl_file_is_private_and_holds_only_the_hash(tmp_path: Path) -> None:
    path = write_acl_file(tmp_path / "redis", "pa ss")
    text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pa ss" not in text and f"#{hashlib.sha256(b'pa ss').hexdigest()}" in text
    assert text.startswith("user default on ")


@settings(max_examples=60)
@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=4))
def test_resp_is_an_array_of_bulk_strings(words: list[str]) -> None:
    data = _resp(*words)
    lines = data.split(b"\r\n")
    assert lines[0] == f"*{len(words)}".encode() and data.endswith(b"\r\n")
    at = 1
    for word in words:  # each word's byte length, then exactly its bytes (CRLF inside a word stays inside)
        raw = word.encode()
        assert lines[at] == f"${len(raw)}".encode()
        start = len(b"\r\n".join(lines[: at + 1])) + 2
        assert data[start:start + len(raw)] == raw
        at += 1 + raw.count(b"\r\n") + 1


def test_unknown_case_is_refused() -> None:
    with pytest.raises(InvalidValue, match="unknown Redis TLS matrix case 'nope'"):
        redis_case("nope")


def test_judgement_uses_the_shared_matrix_rules() -> None:
    assert "+PONG" in check_redis_case("valid", Outcome(True, "read", "+PONG"), WHERE)
    with pytest.raises(SecurityFailure, match="a timeout is not a refusal"):
        check_redis_case("wrong_password", Outcome(False, "timeout", "TimeoutError"), WHERE)
    with pytest.raises(SecurityFailure, match=r"must get \+PONG after AUTH"):
        check_redis_case("valid", Outcome(False, "read", "-NOAUTH Authentication required."), WHERE)
    with pytest.raises(SecurityFailure, match="expected WRONGPASS"):
        check_redis_case("wrong_password", Outcome(False, "read", "-NOAUTH Authentication required."), WHERE)
    with pytest.raises(SecurityFailure, match="no client certificate was ACCEPTED"):
        check_redis_case("no_client_cert", Outcome(True, "read", "+PONG"), WHERE)


def test_client_environment_names_rediss(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", {"r": ["127.0.0.1"]})
    env = client_tls_environment("127.0.0.1", 6390, pki.client("aisys-verify"), pki.ca)
    assert env["REDIS_URL"] == "rediss://127.0.0.1:6390/0"
    assert redis_tls_options(env)["ssl_certfile"] == str(pki.client("aisys-verify").cert)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
              ) -> Iterator[tuple[TestPki, int, Secret]]:
    """A real TLS-only redis-server; ``tls-auth-clients`` as the test's indirect parameter."""
    folder = tmp_path_factory.mktemp("redis-tls")
    pki = make_pki(folder / "pki", {"redis": ["127.0.0.1"]})
    password = canary("redis_password")
    port = _free_port()
    server = pki.server("redis")
    popen = spawn_redis(folder / "redis", "127.0.0.1", port,
                        tls_flags(port, server.cert, server.key, pki.ca, auth_clients=request.param,
                                  acl_file=write_acl_file(folder / "secrets", password.reveal())))
    try:
        assert wait_port("127.0.0.1", port, 5.0), (folder / "redis" / "redis.log").read_text()
        yield pki, port, password
    finally:
        terminate(popen)


@pytest.mark.integration
@pytest.mark.parametrize("tls_redis", ["yes"], indirect=True)
@pytest.mark.parametrize("case", ["valid", "no_client_cert", "plaintext_resp", "wrong_password"])
def test_real_tls_redis(tls_redis: tuple[TestPki, int, Secret], case: str) -> None:
    pki, port, password = tls_redis
    outcome = run_redis_case(case, pki, "127.0.0.1", port, password, server_name="127.0.0.1")
    assert check_redis_case(case, outcome, WHERE).endswith(outcome.shown())


@pytest.mark.integration
@pytest.mark.parametrize("tls_redis", ["optional"], indirect=True)
def test_tls_auth_clients_optional_fails_the_no_client_certificate_case(tls_redis: tuple[TestPki, int, Secret],
                                                                        ) -> None:
    """The mutation: ``tls-auth-clients optional`` lets a client without a certificate in, and the matrix says so."""
    pki, port, password = tls_redis
    outcome = run_redis_case("no_client_cert", pki, "127.0.0.1", port, password, server_name="127.0.0.1")
    with pytest.raises(SecurityFailure) as caught:
        check_redis_case("no_client_cert", outcome, WHERE)
    assert "no client certificate was ACCEPTED (+PONG), it must be refused" in str(caught.value)
    assert "client certificates are not required" in str(caught.value)


@pytest.mark.integration
def test_plain_redis_answers_without_tls(tmp_path: Path) -> None:
    """resp_attempt's plaintext path against a plain redis-server: +PONG with no AUTH needed (nopass)."""
    port = _free_port()
    popen = spawn_redis(tmp_path, "127.0.0.1", port)
    try:
        assert wait_pong(popen, "127.0.0.1", port, 5.0)
        outcome = resp_attempt("127.0.0.1", port, context=None, server_hostname="127.0.0.1", password=None)
        assert outcome == Outcome(True, "read", "+PONG")
        # a nopass default user takes any password: AUTH then PING, both answered
        assert resp_attempt("127.0.0.1", port, context=None, server_hostname="x", password="any").accepted
    finally:
        terminate(popen)


def test_every_case_has_a_refusal_or_is_valid() -> None:
    for name in REDIS_CASE_NAMES:
        case = redis_case(name)
        assert case.accepted == (name == "valid") and (case.accepted or case.refusal), case
