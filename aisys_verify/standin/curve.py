"""CurveZMQ on the stand-ins' ZeroMQ sockets, switched on as the real agents do: ``SECURE_ZMQ=1`` with the
certificates under ``ZMQ_CERTIFICATES_DIR`` (TOPOLOGY.md §4.1).

``SECURE_ZMQ`` is ``1``/``true`` (this process: a real agent's container) or a comma-separated list of
host names (the stand-ins' fork server runs many hosts in one process tree; a group is secure when its
host is listed). The folder holds ``zmq.auth.create_certificates`` files:

| file | what |
|---|---|
| ``server.key`` / ``server.key_secret`` | the servers' key pair (one for every agent, as in the real repository) |
| ``client.key`` / ``client.key_secret`` | the key pair this process presents as a client |
| ``authorized_clients/*.key`` | the allow-list: public keys a server's ZAP handler accepts |

A secure group serves every socket as a CURVE server under the ZAP domain ``aisys`` and one
authenticator per ZeroMQ context (pyzmq's ``AsyncioAuthenticator``: the stand-ins' context is asyncio)
accepts only the allow-list; its clients (calls, health probes) present the client pair and pin the
server's public key. Each server socket's monitor writes the handshake outcomes to the agent's log
(``zmq_handshake``: succeeded / failed_auth / failed_protocol), so a test reads the server's verdict.

``AISYS_STANDIN_CURVE_ALLOW_ANY=1`` is a defect for mutation tests only: the ZAP handler then accepts any
client key (``zmq.auth.CURVE_ALLOW_ANY``), which the security suite must catch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import zmq

from aisys_verify.errors import UsageError

SECURE_ENV, CERTS_ENV, ALLOW_ANY_ENV = "SECURE_ZMQ", "ZMQ_CERTIFICATES_DIR", "AISYS_STANDIN_CURVE_ALLOW_ANY"
ZAP_DOMAIN = "aisys"
ALLOWED_DIR = "authorized_clients"
# a refused client reconnects at most this often: TCP succeeds, so libzmq's backoff never grows past the first
# interval after a failed handshake; 500 ms bounds a refused client's handshakes to ~2 a second
RECONNECT_IVL_MS, RECONNECT_IVL_MAX_MS = 500, 2000
_ON = ("1", "true", "yes", "on")
HANDSHAKE_EVENTS: dict[int, str] = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "succeeded",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "failed_auth",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed_no_detail",
}
_MONITORED = sum(HANDSHAKE_EVENTS)


@dataclass(frozen=True)
class CurveKeys:
    """One process's CurveZMQ material, loaded from the certificates folder."""

    folder: Path
    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    @property
    def allowed(self) -> Path:
        return self.folder / ALLOWED_DIR


def secure_for(host: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``SECURE_ZMQ`` turns CurveZMQ on for ``host``'s groups."""
    value = (os.environ if env is None else env).get(SECURE_ENV, "").strip()
    if value.lower() in _ON:
        return True
    return host in {h.strip() for h in value.split(",") if h.strip()}


def load_keys(folder: Path, client: str = "client") -> CurveKeys:
    """The pair ``server`` (both halves) and the pair ``client`` of a certificates folder."""
    import zmq.auth

    try:
        server_public, server_secret = zmq.auth.load_certificate(folder / "server.key_secret")
        client_public, client_secret = zmq.auth.load_certificate(folder / f"{client}.key_secret")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{CERTS_ENV}={folder}: cannot load the CurveZMQ certificates ({exc}): it needs "
                         f"server.key_secret and {client}.key_secret (zmq.auth.create_certificates files)") from exc
    if server_secret is None or client_secret is None:
        raise UsageError(f"{CERTS_ENV}={folder}: a *.key_secret file lacks its secret key")
    return CurveKeys(folder, server_public, server_secret, client_public, client_secret)


def keys_for(host: str, env: Mapping[str, str] | None = None) -> CurveKeys | None:
    """The keys when CurveZMQ is on for ``host`` (``SECURE_ZMQ``), else None; on without a folder fails."""
    env = os.environ if env is None else env
    if not secure_for(host, env):
        return None
    folder = env.get(CERTS_ENV, "").strip()
    if not folder:
        raise UsageError(f"{SECURE_ENV} turns CurveZMQ on for {host} but {CERTS_ENV} is not set: point it at "
                         "the folder holding server.key_secret, client.key_secret and authorized_clients/")
    return load_keys(Path(folder))


def process_keys(env: Mapping[str, str] | None = None) -> CurveKeys | None:
    """The keys this process's own clients present (the framework's requests and health checks, the launcher's
    health gate): on when ``SECURE_ZMQ`` is ``1`` here (a host list selects stand-in groups, not clients) and
    ``ZMQ_CERTIFICATES_DIR`` names the folder; else None (plaintext)."""
    env = os.environ if env is None else env
    if env.get(SECURE_ENV, "").strip().lower() not in _ON:
        return None
    folder = env.get(CERTS_ENV, "").strip()
    if not folder:
        raise UsageError(f"{SECURE_ENV}=1 but {CERTS_ENV} is not set: a stack started from this process mints the "
                         "certificates and sets it; otherwise point it at the folder of the stack's keys")
    return _cached_keys(folder)


@lru_cache(maxsize=4)
def _cached_keys(folder: str) -> CurveKeys:
    return load_keys(Path(folder))


def stack_certificates() -> Path | None:
    """For a stack started from this process with ``SECURE_ZMQ=1``: the certificates folder, which its launcher,
    groups and this process's clients then share. ``ZMQ_CERTIFICATES_DIR`` when given; else minted once per
    process into a temporary folder (0700, removed at exit: every stack of the run shares it, so a stack that
    stops first cannot take the keys from another) and set in this process's environment. None: plaintext."""
    if os.environ.get(SECURE_ENV, "").strip().lower() not in _ON:
        return None
    given = os.environ.get(CERTS_ENV, "").strip()
    if given:
        return Path(given)
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="aisys-zmq-certs-"))
    atexit.register(shutil.rmtree, folder, True)
    make_certificates(folder)
    os.environ[CERTS_ENV] = str(folder)
    return folder


def secure_server(sock: zmq.Socket[Any], keys: CurveKeys) -> None:
    """Make ``sock`` a CURVE server checked by the ZAP handler (call before bind)."""
    sock.curve_secretkey = keys.server_secret
    sock.curve_publickey = keys.server_public
    sock.curve_server = True
    sock.zap_domain = ZAP_DOMAIN.encode()


def secure_client(sock: zmq.Socket[Any], keys: CurveKeys | None, server_public: bytes | None = None) -> None:
    """Make ``sock`` a CURVE client presenting the client pair, with a bounded reconnect interval (call
    before connect); ``keys`` None leaves a plaintext socket as it is. ``server_public`` overrides the
    pinned server key (tests)."""
    if keys is None:
        return
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
    sock.curve_secretkey = keys.client_secret
    sock.curve_publickey = keys.client_public
    sock.curve_serverkey = server_public or keys.server_public


def allow_any(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get(ALLOW_ANY_ENV, "").strip().lower() in _ON


def start_authenticator(context: zmq.Context[Any], keys: CurveKeys, env: Mapping[str, str] | None = None) -> Any:
    """Start the ZAP handler of ``context`` (an asyncio one: call inside its loop) with the allow-list."""
    import zmq.auth
    from zmq.auth.asyncio import AsyncioAuthenticator

    if not keys.allowed.is_dir():
        raise UsageError(f"{keys.allowed}: the CurveZMQ allow-list folder is missing (one *.key per accepted client)")
    auth = AsyncioAuthenticator(context)
    auth.start()
    auth.configure_curve(domain=ZAP_DOMAIN,
                         location=zmq.auth.CURVE_ALLOW_ANY if allow_any(env) else str(keys.allowed))
    return auth


def monitor_handshakes(sock: Any, log: Callable[..., None], socket_name: str) -> Any:
    """A coroutine logging each handshake outcome of ``sock`` (an asyncio socket) as ``zmq_handshake``."""
    from zmq.utils.monitor import parse_monitor_message

    monitor = sock.get_monitor_socket(_MONITORED)

    async def run() -> None:
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())
                outcome = HANDSHAKE_EVENTS.get(int(event["event"]), str(event["event"]))
                log("zmq_handshake", "info" if outcome == "succeeded" else "warning", socket=socket_name,
                    outcome=outcome, code=int(event["value"]), endpoint=event["endpoint"])
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(0)

    return run()


def make_certificates(folder: Path, clients: tuple[str, ...] = ("client",), allowed: tuple[str, ...] = ("client",),
                      ) -> Path:
    """Write a certificates folder (0700): the server pair, a pair per client name, and the allow-list
    holding the public keys of ``allowed``. Used per run, into the stack's secrets folder."""
    import shutil

    import zmq.auth

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    (folder / ALLOWED_DIR).mkdir(exist_ok=True)
    for name in ("server", *clients):
        zmq.auth.create_certificates(folder, name)
        (folder / f"{name}.key_secret").chmod(0o600)
    for name in allowed:
        shutil.copy(folder / f"{name}.key", folder / ALLOWED_DIR / f"{name}.key")
    return folder
