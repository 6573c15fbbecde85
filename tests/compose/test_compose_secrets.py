"""Secrets, CurveZMQ and mTLS on the compose backend, against one real compose stack of a small spec with a secrets
overlay (tests/compose/secrets_spec), started with ``SECURE_ZMQ=1`` and ``--aisys-tls=all=required`` (one stack for
all three: CI time): each declared secret is this run's canary
in a 0600 file the containers read through ``*_FILE``; the host's Redis requires ``redis_password`` without the
value in any command line or environment; every group container serves CurveZMQ from the mounted certificates
(a plaintext client is refused, as the server's handshake log shows); a normal run leaks nothing, and the scan
of a compose run finds a canary planted in a container's ``docker logs`` and in its ``docker inspect``
environment, naming the container and the place, through the session-end plugin as ``aisys_stack`` wires it;
each agent's https /health answers a client with the stack's certificate and refuses one without (security.matrix's
judgement, after a read), and the probe and the stack's own Prometheus see every agent up over https.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aisys_verify.conformance.wire import read_ready_keys
from aisys_verify.conformance.wire import redis_address as wire_redis_address
from aisys_verify.errors import SecretLeak
from aisys_verify.probe import UP, probe
from aisys_verify.security import check_case, run_case
from aisys_verify.security.curve import HandshakeLog, check_curve_case, curve_attempt
from aisys_verify.security.secrets import check_no_leaks, scan_containers
from aisys_verify.security.session import CanaryScan, scan_stack, watch_stack
from aisys_verify.stack.base import StackOptions
from aisys_verify.stack.compose_names import REDIS_SERVICE
from aisys_verify.stack.compose_secrets import CURVE_TARGET
from aisys_verify.stack.docker import LABEL_STACK, run_docker
from aisys_verify.standin.curve import load_keys, make_certificates

pytestmark = [pytest.mark.integration, pytest.mark.security]

SPEC = Path(__file__).resolve().parent / "secrets_spec"
TLS = {"all": "required"}  # --aisys-tls=all=required: every agent's HTTP side over mTLS
StartCompose = Callable[[list[str], StackOptions], AbstractContextManager[Any]]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """SECURE_ZMQ=1 for this module, with its own certificates folder (as a user's ZMQ_CERTIFICATES_DIR)."""
    folder = make_certificates(tmp_path_factory.mktemp("zmq") / "certs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SECURE_ZMQ", "1")
        patch.setenv("ZMQ_CERTIFICATES_DIR", str(folder))
        patch.delenv("AISYS_SECRETS_DIR", raising=False)  # the stack writes its own canaries
        yield folder


@pytest.fixture(scope="module")
def stack(certificates: Path, tmp_path_factory: pytest.TempPathFactory, start_compose: StartCompose) -> Iterator[Any]:
    with start_compose([str(SPEC)], StackOptions(health_timeout=120.0, tls=TLS,
                                                 workdir=tmp_path_factory.mktemp("compose-secrets"))) as s:
        yield s


def container_env(cid: str) -> dict[str, str]:
    config = json.loads(run_docker("inspect", cid).stdout)[0]["Config"]
    return dict(str(e).partition("=")[::2] for e in config.get("Env") or [])


def in_container(cid: str, code: str) -> str:
    return run_docker("exec", cid, "python3", "-c", code).stdout.strip()


def test_each_declared_secret_is_a_canary_the_groups_read_through_their_file_variables(stack: Any) -> None:
    secrets = {s.name: s for s in stack.run_secrets}
    assert sorted(secrets) == ["database_password", "redis_password"]
    assert all(s.reveal().startswith(f"aisys-canary-{name}-") for name, s in secrets.items())
    folder = stack.workdir / "secrets"
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir() if p.is_file()} == {
        "database_password": "0o600", "redis_password": "0o600",
        "tls-plan.json": "0o644", "tls-client.json": "0o644"}  # TLS's: paths only, no key (those are in pki/)
    digest = hashlib.sha256(secrets["redis_password"].reveal().encode()).hexdigest()
    for group in ("memory_stack", "context"):  # context: the overlay forgets it, the backend gives it the same way
        cid = stack.group_container("pc2", group)
        env = container_env(cid)
        assert env["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password", (group, env)
        read = in_container(cid, "import hashlib, os; print(hashlib.sha256(open(os.environ['REDIS_PASSWORD_FILE'], "
                                 "'rb').read()).hexdigest())")
        assert read == digest, f"{group} does not read this run's redis_password"
    log = (stack.workdir / "logs" / "pc2" / "ContextManager.log").read_text(encoding="utf-8")
    loaded = [json.loads(line) for line in log.splitlines() if '"secret_loaded"' in line]
    assert loaded and loaded[0]["name"] == "REDIS_PASSWORD" and "value" not in loaded[0], loaded


def test_the_hosts_redis_requires_the_password_and_the_groups_authenticate(stack: Any) -> None:
    import redis

    address, port = stack.redis_address("pc2")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retry: redis-py retries an AuthenticationError (a ConnectionError) with backoff otherwise
    with redis.Redis(host=address, port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0)) as anonymous, \
            pytest.raises(redis.AuthenticationError, match=r"(?i)authenticat"):
        anonymous.ping()
    password = stack.redis_password("pc2")
    assert password is not None
    with redis.Redis(host=address, port=port, username="default", password=password.reveal(),
                     socket_timeout=5) as client:
        keys = {k.decode() for k in client.keys("*")}
    # the stand-ins' readiness keys: written by both groups through REDIS_PASSWORD_FILE
    assert any("MemoryOrchestratorService" in k for k in keys) and any("ContextManager" in k for k in keys), keys
    # the conformance wire check reads the same keys, authenticated with the stack's password
    ready = read_ready_keys(wire_redis_address(stack, "pc2"), ["MemoryOrchestratorService", "ContextManager"])
    assert all(key.exists for key in ready.values()), ready
    redis_cid = stack.runner.cid(stack.host_projects["pc2"], REDIS_SERVICE)
    command = " ".join(json.loads(run_docker("inspect", redis_cid).stdout)[0]["Config"]["Cmd"])
    assert "/run/secrets/redis_password" in command  # read from the mounted file, not given on the command line
    check_no_leaks(scan_containers(stack.run_secrets, [redis_cid]))


def test_a_backup_reads_the_redis_with_the_stacks_password(stack: Any) -> None:
    from aisys_verify.backup.stores import redis_bgsave
    from aisys_verify.backup.volumes import compose_targets

    target = next(t for t in compose_targets(stack) if t.kind == "redis")
    assert target.password_file == stack.workdir / "secrets" / "redis_password"
    dirname, dbfilename, _ = redis_bgsave(target)  # BGSAVE as the backup does it, authenticated
    assert (str(dirname), dbfilename) == ("/data", "dump.rdb")  # (without the password: refused, test above)


def test_every_group_serves_curvezmq_from_the_mounted_certificates(stack: Any, certificates: Path) -> None:
    for group in ("memory_stack", "context"):
        env = container_env(stack.group_container("pc2", group))
        assert (env.get("SECURE_ZMQ"), env.get("ZMQ_CERTIFICATES_DIR")) == ("1", CURVE_TARGET), (group, env)
    mounted = stack.workdir / "secrets" / "zmq"
    assert sorted(p.name for p in mounted.iterdir()) == sorted(p.name for p in certificates.iterdir())
    url = stack.endpoint("MemoryOrchestratorService", "pc2").main_url
    log = stack.workdir / "logs" / "pc2" / "MemoryOrchestratorService.log"
    keys = load_keys(certificates)
    valid = curve_attempt("valid", url, keys, HandshakeLog(log, "main"), timeout=10.0)
    print(check_curve_case("valid", valid, url))
    plaintext = curve_attempt("plaintext_client", url, keys, HandshakeLog(log, "main"), timeout=5.0)
    print(check_curve_case("plaintext_client", plaintext, url))


def test_a_normal_compose_run_leaks_no_canary(stack: Any) -> None:
    stack.collect_logs()  # the containers' output into the work folder too: scanned as files as well
    assert scan_stack(stack, stack.run_secrets) == []


def test_the_session_scan_names_a_canary_in_a_containers_logs_and_inspect_and_a_volume(stack: Any) -> None:
    secret = stack.redis_password("pc2")
    assert secret is not None
    # a container given the value in its environment that prints it: a leak in its inspect and in its logs
    leaky = f"aisys-leak-{uuid.uuid4().hex[:6]}"
    run_docker("run", "-d", "--name", leaky, "--label", f"{LABEL_STACK}={stack.stack_id}",
               "-e", f"REDIS_PASSWORD={secret.reveal()}", stack.images.standin, "sh", "-c",
               'echo "connecting with $REDIS_PASSWORD"; sleep 60')
    # and a file on the agents' data volume holding it (copied from the mounted secret: no value on a command line)
    volume = run_docker("volume", "ls", "-q", "--filter", f"label={LABEL_STACK}={stack.stack_id}",
                        "--filter", "label=com.docker.compose.volume=aisys_data").stdout.split()[0]
    run_docker("run", "--rm", "-v", f"{stack.workdir / 'secrets' / 'redis_password'}:/s:ro", "-v", f"{volume}:/d",
               stack.images.standin, "sh", "-c", "cat /s > /d/leak.txt")
    try:
        from aisys_verify.waiting import wait_until

        wait_until(lambda: secret.reveal() in run_docker("logs", leaky).stdout, 10, 0.1)
        # the session's scan as aisys_stack wires it: run before the stack stops, reported at the session's end
        scan = CanaryScan(SimpleNamespace(option=SimpleNamespace()))  # type: ignore[arg-type]
        watch_stack(None, stack, scan)()  # type: ignore[arg-type]  # no request: the test's own scan
        session = SimpleNamespace(exitstatus=0)
        scan.pytest_sessionfinish(session)  # type: ignore[arg-type]
    finally:
        run_docker("rm", "-f", leaky, check=False)
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
    assert isinstance(scan.leak, SecretLeak)
    assert set(scan.leak.files) == {f"container {leaky} logs", f"container {leaky} inspect",
                                    f"volume {volume} file ./leak.txt"}, scan.leak.files
    assert secret.reveal() not in str(scan.leak)


def test_each_agent_serves_mtls_and_the_probe_and_prometheus_see_it_up(stack: Any) -> None:
    assert stack.tls is not None and set(stack.tls.served) == {a.key for a in stack.topology.agents}
    seen = []
    for ep in stack.endpoints():
        assert ep.http_url.startswith("https://"), ep.http_url
        where = f"{ep.host}/{ep.agent} {ep.http_url}/health (compose, published port)"
        for case in ("valid", "no_client_cert"):  # judged after a read: a TLS 1.3 refusal comes after the handshake
            outcome = run_case(case, stack.tls.pki, ep.address, ep.http_port, "/health", server_name=ep.address)
            seen.append(check_case(case, outcome, where))
        result = probe(f"{ep.http_url}/health", timeout=5.0)  # the framework's client: the stack's certificate
        assert result.status == UP, result.line()
    print("\n".join(seen))
    observability = getattr(stack, "observability", None)  # this test runs late: Prometheus has discovered them
    if observability is None:  # no Prometheus installed here: the probe above is the check
        return
    observability.wait_targets(timeout=15.0)  # every agent scraped and up, else PrometheusError naming them
    scraped = {t["labels"]["instance"]: t for t in observability.prometheus.targets()}
    for ep in stack.endpoints():
        target = scraped[f"{ep.host}/{ep.agent}"]
        assert target["health"] == "up" and target["scrapeUrl"].startswith("https://"), target


@pytest.mark.exhaustive
def test_a_stand_in_that_logs_its_redis_password_is_named_by_the_scan(tmp_path: Path, start_compose: StartCompose,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutation: AISYS_STANDIN_LEAK_SECRETS=1 in memory_stack's container (its compose file passes it)."""
    monkeypatch.setenv("AISYS_STANDIN_LEAK_SECRETS", "1")
    monkeypatch.delenv("AISYS_SECRETS_DIR", raising=False)
    monkeypatch.delenv("SECURE_ZMQ", raising=False)
    with start_compose([str(SPEC)], StackOptions(health_timeout=120.0, workdir=tmp_path / "leaky")) as leaky:
        leaks = scan_stack(leaky, leaky.run_secrets)
    places = {leak.place for leak in leaks if leak.secret == "redis_password"}
    assert str(tmp_path / "leaky" / "logs" / "pc2" / "MemoryOrchestratorService.log") in places, places


LEAKY_SESSION = '''
from aisys_verify.stack.docker import LABEL_STACK, run_docker


def test_plants_a_leak(aisys_stack):
    secret = aisys_stack.redis_password("pc2")
    run_docker("run", "-d", "--name", "{name}", "--label", f"{{LABEL_STACK}}={{aisys_stack.stack_id}}",
               "-e", f"LEAKED={{secret.reveal()}}", aisys_stack.images.standin, "sleep", "60")
'''


@pytest.mark.exhaustive
def test_a_compose_session_with_a_leak_fails_naming_the_container(tmp_path: Path) -> None:
    """The plugin as a user runs it: ``pytest --aisys-backend=compose``; a test plants the run's canary in a
    container of the session stack (its environment); the session fails at its end naming that container."""
    import os
    import subprocess
    import sys

    name = f"aisys-leak-session-{uuid.uuid4().hex[:6]}"
    (tmp_path / "test_leaky.py").write_text(LEAKY_SESSION.format(name=name), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("SECURE_ZMQ", "AISYS_SECRETS_DIR")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_leaky.py", "-q", "-p", "no:cacheprovider",
                           "--aisys-backend=compose", f"--aisys-spec={SPEC}", "--junitxml=junit.xml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "1 passed" in out and "aisys-verify: secret leak" in out, out[-3000:]
    assert f"container {name} inspect: secret 'redis_password'" in out, out[-3000:]
    assert "aisys-canary-redis_password-" not in out  # the place and the name, never the value
