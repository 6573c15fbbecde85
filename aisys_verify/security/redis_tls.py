"""Redis with TLS, ``tls-auth-clients`` and an ACL password from a secret, and its negative matrix.

``redis_tls_standins`` mints the run's PKI (the Redis server certificate's SAN: the Redis address), starts one
host's Redis TLS-only (stack.redis_server.tls_flags: ``--port 0``, ``--tls-port``, ``--tls-auth-clients``, the
``default`` user's password in a 0600 ACL file as its SHA-256, never on a command line) and the host's groups
configured as real agents: ``REDIS_URL=rediss://ADDRESS:PORT``, ``REDIS_TLS_CERT_FILE``/``_KEY_FILE``/``_CA_FILE``
(standin.redis_tls) and ``REDIS_PASSWORD_FILE``.

The matrix (REDIS_CASES) speaks RESP after the handshake and reads to the end (``QUIT`` last, so Redis closes):
the verdict is what was read (``+PONG``, ``-WRONGPASS``, ``-NOAUTH``, a TLS alert), never a timeout; judged by
security.matrix.judge as the HTTP matrix is.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import InvalidValue, UsageError
from aisys_verify.security.matrix import Case, case_context, judge
from aisys_verify.security.pki import Credential, TestPki, make_pki
from aisys_verify.security.tls import Outcome, failure_reason

if TYPE_CHECKING:
    from aisys_verify.security.secrets import Secret
    from aisys_verify.standin.cluster import LocalCluster

REDIS_CASES = (
    Case("valid", "a client certificate from the run's CA and the right password", True),
    Case("no_client_cert", "no client certificate", False, "CERTIFICATE_REQUIRED"),
    Case("other_ca", "a client certificate from another CA", False, "UNKNOWN_CA"),
    Case("expired", "an expired client certificate", False, "CERTIFICATE_EXPIRED"),
    Case("not_yet_valid", "a client certificate not yet valid", False, "BAD_CERTIFICATE"),
    Case("plaintext_resp", "plaintext RESP to the TLS port", False, "without a RESP reply"),
    Case("tls1_0", "a client offering TLS 1.0 only", False, "PROTOCOL_VERSION"),
    Case("tls1_1", "a client offering TLS 1.1 only", False, "PROTOCOL_VERSION"),
    Case("wrong_password", "a valid certificate and a wrong password", False, "WRONGPASS"),
    Case("no_password", "a valid certificate and the default user without a password", False, "NOAUTH"),
)
REDIS_CASE_NAMES = tuple(c.name for c in REDIS_CASES)
CLIENT = "aisys-verify"
# the suite's stand: these hosts, the last one probed
REDIS_TLS_HOSTS_ENV, DEFAULT_REDIS_TLS_HOSTS = "AISYS_REDIS_TLS_HOSTS", "pc2"
LISTEN_S = 0.15  # a refusal's alert comes within milliseconds on loopback; the valid case pays this once


def redis_case(name: str) -> Case:
    for case in REDIS_CASES:
        if case.name == name:
            return case
    raise InvalidValue(f"unknown Redis TLS matrix case {name!r}: use one of {', '.join(REDIS_CASE_NAMES)}")


def _resp(*words: str) -> bytes:
    """One command as a RESP array of bulk strings (a password with spaces or CRLF stays one argument)."""
    return f"*{len(words)}\r\n".encode() + b"".join(b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words)


def _listen(sock: socket.socket, timeout: float) -> bytes | None:
    """Under TLS 1.3 Redis judges the client certificate after the client's handshake is done and answers a
    refusal with an alert and a close: listen briefly before writing, so that the alert is read rather than lost
    to the reset a write into the closed connection causes. An alert raises (the caller's verdict); ``b""``: the
    server closed without a word; None: quiet for LISTEN_S (the certificate accepted; no verdict by itself)."""
    sock.settimeout(LISTEN_S)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    finally:
        sock.settimeout(timeout)


def resp_attempt(address: str, port: int, *, context: ssl.SSLContext | None, server_hostname: str,
                 password: str | None, timeout: float = 5.0) -> Outcome:
    """Connect, handshake (``context`` None: plaintext), send ``AUTH default password`` (None: no AUTH), ``PING``
    and ``QUIT``, and read until Redis closes: accepted when ``+PONG`` came back, else the first error reply or
    where the connection ended (a ``timeout`` outcome is inconclusive, not a refusal)."""
    if timeout <= 0:
        raise InvalidValue(f"timeout must be positive, got {timeout}")
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return Outcome(False, "connect", failure_reason(exc))
    sock: socket.socket = raw
    stage, data = "handshake", b""
    request = (_resp("AUTH", "default", password) if password is not None else b"") + _resp("PING") + _resp("QUIT")
    try:
        if context is not None:
            sock = context.wrap_socket(raw, server_hostname=server_hostname, suppress_ragged_eofs=False)
            stage = "read"
            heard = _listen(sock, timeout)
            if heard == b"":
                return Outcome(False, stage, "connection closed without a RESP reply (right after the handshake)")
            data = heard or b""
        stage = "read"
        sock.sendall(request)
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError as exc:
        return Outcome(False, "timeout", failure_reason(exc))
    except OSError as exc:  # the TLS alert, a reset, an EOF in the middle
        if context is None and not data:  # Redis drops a plaintext peer on its TLS port (a reset or an EOF)
            return Outcome(False, stage, f"connection closed without a RESP reply ({type(exc).__name__})")
        return Outcome(False, stage, failure_reason(exc))
    finally:
        sock.close()
        raw.close()
    replies = [line.decode(errors="replace") for line in data.split(b"\r\n") if line[:1] in (b"+", b"-")]
    if "+PONG" in replies:
        return Outcome(True, "read", "+PONG")
    errors = [r for r in replies if r.startswith("-")]
    if errors:
        return Outcome(False, "read", errors[0][:120])
    return Outcome(False, "read", f"connection closed without a RESP reply ({len(data)} bytes)")


def run_redis_case(name: str, pki: TestPki, address: str, port: int, password: Secret, *, server_name: str,
                   timeout: float = 5.0) -> Outcome:
    """The attempt of case ``name`` against a TLS Redis whose certificate is for ``server_name``."""
    case = redis_case(name)
    given: str | None = password.reveal()
    if name == "wrong_password":
        given = f"not-{password.reveal()}"
    elif name == "no_password":
        given = None
    context = case_context("valid" if name in ("wrong_password", "no_password") else case.name, pki, CLIENT)
    return resp_attempt(address, port, context=context, server_hostname=server_name, password=given, timeout=timeout)


def check_redis_case(name: str, outcome: Outcome, where: str) -> str:
    """The observed verdict as one line when it is the expected one; else SecurityFailure (security.matrix.judge)."""
    __tracebackhide__ = True
    return judge(redis_case(name), outcome, where, valid_reply="+PONG after AUTH")


def client_tls_environment(address: str, port: int, client: Credential, ca: Path) -> dict[str, str]:
    """The variables a real agent is given for this TLS Redis (standin.redis_tls)."""
    return {"REDIS_URL": f"rediss://{address}:{port}/0", "REDIS_TLS_CERT_FILE": str(client.cert),
            "REDIS_TLS_KEY_FILE": str(client.key), "REDIS_TLS_CA_FILE": str(ca)}


def admin_tls(client: Credential, ca: Path) -> dict[str, Any]:
    """redis-py's keyword arguments for this package's own admin connections (security.rotation) to a TLS Redis."""
    return {"ssl": True, "ssl_certfile": str(client.cert), "ssl_keyfile": str(client.key), "ssl_ca_certs": str(ca),
            "ssl_check_hostname": True, "ssl_cert_reqs": "required"}


@dataclass
class RedisTlsStand:
    """Every host's Redis TLS-only; the matrix probes ``target``'s. ``password``: the current one (whoever rotates
    it sets the new one here)."""

    cluster: LocalCluster
    pki: TestPki
    target: str
    auth_clients: str
    secret_file: Path
    password: Secret
    gateway_url: str | None  # POST /dialogue/process of the spec's gateway, if it has one
    workdir: Path

    @property
    def address(self) -> str:
        return self.cluster.plan.redis[self.target][0]

    @property
    def port(self) -> int:
        return self.cluster.plan.redis[self.target][1]

    @property
    def where(self) -> str:
        return f"redis@{self.target} rediss://{self.address}:{self.port} (tls-auth-clients {self.auth_clients})"

    @property
    def admin_tls(self) -> dict[str, Any]:
        return admin_tls(self.pki.client(CLIENT), self.pki.ca)

    @property
    def pids(self) -> list[int]:
        return [pid for _, pid in self.cluster.pids()]

    def redis_checks(self, group: str, timeout: float = 0.3) -> dict[str, object]:
        """Each agent of the target host's ``group``: its health's ``redis`` check (None: no reply, not yet checked)."""
        from aisys_verify.plan.groups import agents_of_group
        from aisys_verify.standin.client import HEALTH_CHECK, request_once

        result: dict[str, object] = {}
        for agent in agents_of_group(self.cluster.topology, self.target, group):
            url = f"tcp://{self.cluster.plan.host_addresses[self.target]}:{agent.health_port.number}"
            try:
                reply = request_once(url, HEALTH_CHECK, timeout)
            except TimeoutError:
                reply = {}
            result[agent.key] = reply.get("health_checks", {}).get("redis")
        return result

    def restart_group(self, group: str, environ: Mapping[str, str] | None = None, timeout: float = 20.0) -> None:
        """Stop the target host's ``group`` (SIGTERM) and start it again with ``environ`` added (a defect switch)."""
        import signal

        self.cluster.kill_group(self.target, group, signal.SIGTERM)
        self.cluster.host_environ[self.target] = {**self.cluster.host_environ.get(self.target, {}), **(environ or {})}
        self.cluster.restart_group(self.target, group, timeout)


@contextlib.contextmanager
def redis_tls_standins(spec: Sequence[str], workdir: Path, password: Secret, *, hosts: Sequence[str] | None = None,
                       target: str | None = None, auth_clients: str = "yes", environ: Mapping[str, str] | None = None,
                       spec_vars: Mapping[str, str] | None = None,
                       start_timeout: float = 60.0) -> Iterator[RedisTlsStand]:
    """``hosts``' groups (None: every host) as stand-ins, each host's against its own TLS-only Redis requiring
    ``password`` (see the module); ``target``: the host whose Redis the matrix probes (the last host unless
    given); ``environ``: more variables for the group processes (a defect switch, say)."""
    from aisys_verify.plan.roles import role_for
    from aisys_verify.security.secrets import write_secret_file
    from aisys_verify.stack.redis_server import tls_flags, write_acl_file
    from aisys_verify.standin.cluster import LocalCluster

    if auth_clients not in ("yes", "optional", "no"):
        raise UsageError(f"tls-auth-clients {auth_clients!r}: use yes, optional or no")
    cluster = LocalCluster(list(spec), workdir, spec_vars=dict(spec_vars or {}), only_hosts=hosts)
    names = cluster.hosts()
    known = [h.name for h in cluster.topology.hosts]
    unknown = sorted(set(hosts or ()) - set(known)) + ([target] if target and target not in names else [])
    if unknown or not names:
        raise UsageError(f"Redis TLS stand: hosts {', '.join(unknown) or '(none)'} not among the spec's "
                         f"{'selected ' if hosts else ''}hosts ({', '.join(names or known)})")
    secrets = workdir / "secrets"
    pki = make_pki(secrets / "pki", {f"redis@{h}": [cluster.plan.redis[h][0], "localhost"] for h in names},
                   clients=(CLIENT, *names))
    acl = write_acl_file(secrets / "redis", password.reveal())
    secret_file = write_secret_file(password, secrets)
    for host in names:
        address, port = cluster.plan.redis[host]
        server = pki.server(f"redis@{host}")
        cluster.redis_flags[host] = tls_flags(port, server.cert, server.key, pki.ca, auth_clients=auth_clients,
                                              acl_file=acl)
        cluster.host_environ[host] = client_tls_environment(address, port, pki.client(host), pki.ca)
    cluster.environ.update({"REDIS_PASSWORD_FILE": str(secret_file), **(environ or {})})
    gateway = next((a for a in cluster.topology.agents
                    if a.host in names and role_for(a.name, a.role).role == "gateway"), None)
    url = (f"http://{cluster.plan.address_of(gateway.key, gateway.host)}:{cluster.plan.http_ports[gateway.key]}"
           "/dialogue/process") if gateway is not None else None
    try:
        cluster.start(timeout=start_timeout)
        yield RedisTlsStand(cluster, pki, target or names[-1], auth_clients, secret_file, password, url, workdir)
    finally:
        cluster.stop()
