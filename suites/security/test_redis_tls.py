"""Redis with TLS (security.redis_tls): the hosts ``AISYS_REDIS_TLS_HOSTS`` names (``pc2`` unless set) as
stand-ins, each host's Redis TLS-only with ``tls-auth-clients yes`` and the ``default`` user's password from a
secret (a 0600 ACL file, never a command line), the stand-ins configured as real agents (``REDIS_URL=rediss://``,
``REDIS_TLS_CERT_FILE``/``_KEY_FILE``/``_CA_FILE``, ``REDIS_PASSWORD_FILE``). One stand per module.

The negative matrix: one test per case, judged on what was read after the handshake (the TLS alert, ``-WRONGPASS``,
``-NOAUTH``, ``+PONG``), never on a timeout; the observed outcome is printed and kept as a JUnit property."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from aisys_verify import VerifyConfig, poll
from aisys_verify.security import (
    DEFAULT_REDIS_TLS_HOSTS,
    REDIS_CASE_NAMES,
    REDIS_TLS_HOSTS_ENV,
    RedisTlsStand,
    canary,
    check_no_leaks,
    check_redis_case,
    check_scan,
    redis_tls_standins,
    run_redis_case,
    scan_endpoint,
    scan_files,
    scan_processes,
)

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def _stands() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def redis_stand(_stands: contextlib.ExitStack, aisys_config: VerifyConfig,
                tmp_path_factory: pytest.TempPathFactory) -> RedisTlsStand:
    """Stood up at the module's first use (aisys_config is per test, the stand per module), down at its end."""
    found = getattr(_stands, "stand", None)
    if isinstance(found, RedisTlsStand):
        return found
    hosts = [h.strip() for h in os.environ.get(REDIS_TLS_HOSTS_ENV, DEFAULT_REDIS_TLS_HOSTS).split(",") if h.strip()]
    stand = _stands.enter_context(redis_tls_standins(
        [str(p) for p in aisys_config.spec], tmp_path_factory.mktemp("redis-tls"), canary("redis_password"),
        hosts=hosts, spec_vars=dict(aisys_config.spec_vars)))
    _stands.stand = stand  # type: ignore[attr-defined]  # the module's one stand, kept on its exit stack
    return stand


@pytest.mark.parametrize("case", REDIS_CASE_NAMES)
def test_redis_tls_matrix(redis_stand: RedisTlsStand, case: str, request: pytest.FixtureRequest) -> None:
    outcome = run_redis_case(case, redis_stand.pki, redis_stand.address, redis_stand.port, redis_stand.password,
                             server_name=redis_stand.address)
    observed = check_redis_case(case, outcome, redis_stand.where)
    request.node.user_properties.append(("observed", observed))  # JUnit XML property
    print(observed)


def test_standins_use_their_tls_redis(redis_stand: RedisTlsStand, request: pytest.FixtureRequest) -> None:
    """Every agent's health reads Redis reachable and its ready key present: both went through the TLS Redis."""
    health = redis_stand.cluster.wait_healthy(30.0)
    checks = {key: reply.get("health_checks", {}) for key, reply in health.items()}
    missing = {k: c for k, c in checks.items() if not (c.get("redis") and c.get("ready_key"))}
    assert checks, "no agent answered its health socket"
    assert not missing, f"agents without Redis over TLS: {missing}"
    observed = f"{len(checks)} agents on {redis_stand.where}: redis reachable, ready key present"
    request.node.user_properties.append(("observed", observed))
    print(observed)


def test_sslyze_scan_of_redis(redis_stand: RedisTlsStand, request: pytest.FixtureRequest) -> None:
    """sslyze: only TLS 1.2/1.3 accepted, and a client certificate required."""
    scan = scan_endpoint(redis_stand.address, redis_stand.port, redis_stand.address,
                         redis_stand.pki.client("aisys-verify"), where=redis_stand.where)
    observed = check_scan(scan)
    request.node.user_properties.append(("observed", observed))
    print(observed)


def test_no_redis_password_leaked(redis_stand: RedisTlsStand) -> None:
    """The password, given as a secret file, is in no process's environment or command line (redis-server's
    included: its ACL file holds a hash) and in nothing the stand-ins wrote; the secrets folder aside."""
    assert redis_stand.pids, "the stand's processes are unknown: nothing would be scanned"
    places = [p for p in redis_stand.workdir.iterdir() if p.name != "secrets"]
    assert any(p.name == "logs" for p in places), sorted(p.name for p in places)
    check_no_leaks([*scan_processes([redis_stand.password], redis_stand.pids),
                    *scan_files([redis_stand.password], places)])


def test_a_standin_without_its_client_certificate_is_refused(redis_stand: RedisTlsStand,
                                                             request: pytest.FixtureRequest) -> None:
    """The stand-ins reach Redis because of their client certificate: one group restarted without
    REDIS_TLS_CERT_FILE/_KEY_FILE reads Redis unreachable in every agent's health, and Redis logs why; then the
    group is restarted as it was (and must read Redis reachable again)."""
    cluster, host = redis_stand.cluster, redis_stand.target
    group = min(g for h, g in cluster.groups if h == host)
    kept = {v: cluster.host_environ[host][v] for v in ("REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE")}

    def redis_of_group() -> set[object]:
        return set(redis_stand.redis_checks(group).values())

    redis_stand.restart_group(group, dict.fromkeys(kept, ""))
    try:
        refused = poll(redis_of_group, 10.0, 0.1, until=lambda seen: seen == {False})
        assert refused.met, f"{host}/{group} without a client certificate still reads Redis: {refused.last}"
        log = (redis_stand.workdir / "redis" / host / "redis.log").read_text(errors="replace")
        assert "peer did not return a certificate" in log, log[-2000:]
    finally:
        redis_stand.restart_group(group, kept)
    assert poll(redis_of_group, 10.0, 0.1, until=lambda seen: seen == {True}).met, f"{host}/{group} did not recover"
    observed = f"{host}/{group} without a client certificate: Redis unreachable (every agent's health); restored"
    request.node.user_properties.append(("observed", observed))
    print(observed)


def test_a_standin_logging_its_redis_password_is_caught(redis_stand: RedisTlsStand) -> None:
    """Mutation, last in the module (it leaves the leak in the stand's logs): one group restarted with
    AISYS_STANDIN_LEAK_SECRETS=1 (a defect switch: it logs the password it read from REDIS_PASSWORD_FILE) is
    caught by the canary scan, which names the group's log files and never shows the value."""
    logs = redis_stand.workdir / "logs"
    assert not scan_files([redis_stand.password], [logs]), "the stand leaked before the mutation"
    group = min(g for h, g in redis_stand.cluster.groups if h == redis_stand.target)
    redis_stand.restart_group(group, {"AISYS_STANDIN_LEAK_SECRETS": "1"})
    with pytest.raises(AssertionError) as caught:  # SecretLeak, a SecurityFailure
        check_no_leaks(scan_files([redis_stand.password], [logs]))
    shown = str(caught.value)
    assert f"{logs / redis_stand.target}/" in shown, shown
    assert "secret 'redis_password' (plain)" in shown, shown
    assert redis_stand.password.reveal() not in shown
    print(shown.splitlines()[0])
