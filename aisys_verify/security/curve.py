"""CurveZMQ checked from both ends: a client behaviour per case against a stand-in's ZeroMQ socket, and
the verdict the *server* gave, read from its socket monitor's ``zmq_handshake`` lines in the agent's log
(standin/curve.py). A client that got no reply proves nothing by itself (the server may just be slow);
the server's monitor says why it refused. A monitor event names no peer, and the stand-ins' own clients
handshake with the same sockets, so a ``succeeded`` line is not attributed: acceptance is the reply, and a
refusal is no reply *and* the expected failed handshake (only a refused client fails one).

| case | client | the server's monitor must show |
|---|---|---|
| ``valid`` | the allow-listed client pair, the right server key | ``succeeded`` (and a reply) |
| ``unknown_client_key`` | a pair not on the allow-list | ``failed_auth`` (ZAP 400) |
| ``wrong_server_key`` | the allowed pair, another server key pinned | ``failed_protocol`` (cryptographic) |
| ``plaintext_client`` | no CurveZMQ at all | ``failed_protocol`` (mechanism mismatch) or ``failed_no_detail`` |

``curve_standins`` starts hosts' groups with ``SECURE_ZMQ`` on and a certificates folder minted per run
into the work folder's ``secrets/zmq`` (never the repository).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import InvalidValue, SecurityFailure, UsageError
from aisys_verify.standin.curve import (
    CERTS_ENV,
    SECURE_ENV,
    CurveKeys,
    load_keys,
    make_certificates,
    secure_client,
)
from aisys_verify.standin.curve import (
    process_keys as process_keys,
)


@dataclass(frozen=True)
class CurveCase:
    name: str
    what: str
    server_outcomes: tuple[str, ...]  # the handshake outcomes the server's monitor may log (one must appear)


CURVE_CASES = (
    CurveCase("valid", "the allow-listed client key and the right server key", ("succeeded",)),
    CurveCase("unknown_client_key", "a client key not on the allow-list", ("failed_auth",)),
    CurveCase("wrong_server_key", "the client pins another server's public key", ("failed_protocol",)),
    # the mechanism mismatch is seen by whichever end reads the other's greeting first: when the client
    # hangs up first, the server logs the failure without its detail
    CurveCase("plaintext_client", "a plaintext (NULL mechanism) client", ("failed_protocol", "failed_no_detail")),
)
CURVE_CASE_NAMES = tuple(c.name for c in CURVE_CASES)
CLIENT, INTRUDER = "aisys-verify", "intruder"  # the framework's allowed client; a key never allow-listed


def curve_case(name: str) -> CurveCase:
    for case in CURVE_CASES:
        if case.name == name:
            return case
    raise InvalidValue(f"unknown CurveZMQ case {name!r}: use one of {', '.join(CURVE_CASE_NAMES)}")


@dataclass(frozen=True)
class CurveOutcome:
    replied: bool
    server_events: tuple[str, ...]  # handshake outcomes the server logged during the attempt

    def shown(self) -> str:
        return (f"{'a reply' if self.replied else 'no reply'}; server handshake: "
                f"{', '.join(self.server_events) or 'no event'}")


class HandshakeLog:
    """The ``zmq_handshake`` lines an agent's log gains from now on (one socket: main or health)."""

    def __init__(self, path: Path, socket: str) -> None:
        self.path, self.socket = path, socket
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[dict[str, Any]]:
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as stream:
            stream.seek(self.offset)
            data = stream.read()
            complete = data[:data.rfind(b"\n") + 1]  # a line still being written waits for the next read
            self.offset += len(complete)
            return [r for r in map(json.loads, complete.splitlines())
                    if r.get("event") == "zmq_handshake" and r.get("socket") == self.socket]
        return []


def curve_attempt(case: str, url: str, keys: CurveKeys, log: HandshakeLog, *, timeout: float = 2.0,
                  intruder: CurveKeys | None = None) -> CurveOutcome:
    """Make case ``case``'s attempt (a health request on a REQ socket) and collect the server's verdict:
    waits for a reply or for the server's first handshake event, whichever decides, then at most 0.5 s more."""
    import zmq

    chosen = curve_case(case)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    if chosen.name == "unknown_client_key":
        if intruder is None:
            raise InvalidValue("case unknown_client_key needs the intruder's keys (a pair not on the allow-list)")
        secure_client(sock, intruder)
    elif chosen.name == "wrong_server_key":
        secure_client(sock, keys, server_public=(intruder or keys).client_public)  # any key but the server's
    elif chosen.name == "valid":
        secure_client(sock, keys)
    time.sleep(0.2)  # a previous attempt's last lines (a half-done handshake cut by its close) are not this one's
    log.read()
    events: list[str] = []
    replied = False

    def decided() -> bool:
        return any(e in chosen.server_outcomes for e in events)

    try:
        sock.connect(url)
        sock.send(json.dumps({"action": "health_check"}).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not replied and not decided():
            replied = bool(sock.poll(100))
            events += [str(r["outcome"]) for r in log.read()]
    finally:
        sock.close(0)
    settle = time.monotonic() + 0.5  # the monitor's line may trail the reply
    while time.monotonic() < settle and not decided():
        time.sleep(0.05)
        events += [str(r["outcome"]) for r in log.read()]
    return CurveOutcome(replied, tuple(events))


def check_curve_case(name: str, outcome: CurveOutcome, where: str) -> str:
    """The observed verdict as one line when it is the expected one; else SecurityFailure."""
    __tracebackhide__ = True
    case = curve_case(name)
    expected = " or ".join(case.server_outcomes)
    seen = any(e in case.server_outcomes for e in outcome.server_events)
    if name == "valid":
        ok = outcome.replied and seen
        why = "the allow-listed client must get a reply after a succeeded handshake; check the allow-list and keys"
    else:
        # a "succeeded" line may be another agent's (the stand-ins probe each other's sockets over CurveZMQ;
        # a monitor event names no peer), so acceptance is the reply; a failed handshake is only ever ours
        ok = not outcome.replied and seen
        why = ("it was ACCEPTED (a reply came back): the ZAP allow-list lets unknown keys in (CURVE_ALLOW_ANY?)"
               if outcome.replied
               else f"it must be refused with a {expected} handshake on the server; a refusal without it proves "
                    "nothing about this case")
    if not ok:
        raise SecurityFailure(f"{where}: CurveZMQ case {name} ({case.what}): observed {outcome.shown()}, expected "
                              f"{expected}: {why}", where=where, case=name, observed=outcome.shown())
    return f"{where} {name}: {outcome.shown()}"


def count_refused_handshakes(url: str, keys: CurveKeys, log: HandshakeLog, hold_s: float,
                             intruder: CurveKeys | None = None) -> int:
    """Hold a client with a wrong server key for ``hold_s`` seconds (libzmq reconnects it after each refused
    handshake) and count the refusals the server logged: bounded by the client's reconnect interval."""
    import zmq

    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    secure_client(sock, keys, server_public=(intruder or keys).client_public)
    try:
        sock.connect(url)
        sock.send(b"health_check")
        time.sleep(hold_s)
    finally:
        sock.close(0)
    time.sleep(0.3)
    return sum(1 for r in log.read() if r["outcome"] == "failed_protocol")


def plaintext_health(urls: dict[str, str], timeout: float = 1.0) -> dict[str, dict[str, Any] | None]:
    """Each health socket's reply to a plaintext client (None: no reply in ``timeout``)."""
    return curve_health(urls, None, timeout)


def curve_health(urls: dict[str, str], keys: CurveKeys | None, timeout: float = 3.0,
                 ) -> dict[str, dict[str, Any] | None]:
    """Each health socket's reply to a CurveZMQ client presenting ``keys`` (None: a plaintext client); None
    where no reply came in ``timeout`` (all sent at once, one deadline)."""
    import zmq

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socks: dict[str, zmq.Socket[bytes]] = {}
    replies: dict[str, dict[str, Any] | None] = dict.fromkeys(urls)
    try:
        for key, url in urls.items():
            sock = socks[key] = ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            secure_client(sock, keys)
            sock.connect(url)
            sock.send(json.dumps({"action": "health_check"}).encode())
        deadline = time.monotonic() + timeout
        for key, sock in socks.items():  # all were sent at once: one deadline for all
            if sock.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                replies[key] = json.loads(sock.recv())
    finally:
        for sock in socks.values():
            sock.close(0)
    return replies


@dataclass(frozen=True)
class CurveTarget:
    agent: str  # host/Agent
    main_url: str
    health_url: str
    log: Path


@dataclass(frozen=True)
class CurveStand:
    keys: CurveKeys  # the framework's allowed client pair
    intruder: CurveKeys  # a pair never allow-listed
    target: CurveTarget
    health_urls: dict[str, str]  # every agent of the secure hosts -> its health socket
    certificates: Path
    workdir: Path


@contextlib.contextmanager
def curve_standins(spec: Sequence[str], workdir: Path, hosts: Sequence[str], start_timeout: float = 60.0,
                   spec_vars: Mapping[str, str] | None = None) -> Iterator[CurveStand]:
    """Start ``hosts``' groups with CurveZMQ on (``SECURE_ZMQ`` naming them), certificates minted into
    ``workdir/secrets/zmq``; the target is the first agent whose main socket is ZeroMQ."""
    from aisys_verify.standin.cluster import LocalCluster

    cluster = LocalCluster(list(spec), workdir, spec_vars=dict(spec_vars or {}), only_hosts=list(hosts))
    unknown = sorted(set(hosts) - {h.name for h in cluster.topology.hosts})
    if unknown or not hosts:
        raise UsageError(f"CurveZMQ selection: hosts {', '.join(unknown) or '(none)'} not in the spec "
                         f"(hosts: {', '.join(h.name for h in cluster.topology.hosts)})")
    folder = make_certificates(workdir / "secrets" / "zmq", clients=("client", CLIENT, INTRUDER),
                               allowed=("client", CLIENT))
    cluster.environ.update({SECURE_ENV: ",".join(hosts), CERTS_ENV: str(folder)})
    agents = [a for a in cluster.topology.agents if a.host in hosts]
    address = cluster.plan.host_addresses
    health_urls = {a.key: f"tcp://{address[a.host]}:{a.health_port.number}" for a in agents}
    from aisys_verify.standin.roles.table import HTTP_MAIN_ROLES, role_for

    chosen = next(a for a in agents if role_for(a.name, a.role).role not in HTTP_MAIN_ROLES)
    target = CurveTarget(chosen.key, f"tcp://{address[chosen.host]}:{chosen.port.number}", health_urls[chosen.key],
                         workdir / "logs" / chosen.host / f"{chosen.name}.log")
    try:
        cluster.start(timeout=start_timeout)
        yield CurveStand(load_keys(folder, CLIENT), load_keys(folder, INTRUDER), target, health_urls, folder, workdir)
    finally:
        cluster.stop()
