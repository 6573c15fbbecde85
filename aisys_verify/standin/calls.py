"""Dependency calls as the real agents make them, done right: a fresh REQ socket per call
(linger 0), a timeout, bounded retries with backoff, and a circuit breaker per target.

The periodic dependency health probe (``probe``) is the exception: it keeps one connected REQ socket
per target and opens a fresh one only after a probe failed. Same request, same timeout, same verdict;
a fresh socket per probe per second was most of a large stack's steady CPU (socket setup and teardown,
a TCP and ZMTP handshake through Toxiproxy and on the callee).

Targets are addressed through an AddressBook, so the framework can rewrite any edge's
address (e.g. to put a Toxiproxy proxy on it) without the agent knowing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio

from aisys_verify.errors import CallFailed as CallFailed
from aisys_verify.standin import protocol
from aisys_verify.standin.curve import CurveKeys, secure_client


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass
class AddressBook:
    """Where one agent reaches each target: ``main[name]`` and ``health[name]``, per edge."""

    main: dict[str, Endpoint] = field(default_factory=dict)
    health: dict[str, Endpoint] = field(default_factory=dict)
    http: dict[str, Endpoint] = field(default_factory=dict)


@dataclass
class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; half-open after ``reset_after`` s."""

    threshold: int = 5
    reset_after: float = 5.0
    failures: int = 0
    opened_at: float | None = None

    def allow(self, now: float) -> bool:
        """Closed: yes. Open: no, until reset_after has passed; then one trial call (half-open) re-arms it."""
        if self.opened_at is None:
            return True
        if now - self.opened_at >= self.reset_after:
            self.opened_at = now  # concurrent callers wait for the trial's outcome instead of piling in
            return True
        return False

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.failures, self.opened_at = 0, None
        else:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = now

    @property
    def state(self) -> str:
        return "closed" if self.opened_at is None else "open"


@dataclass(frozen=True)
class CallPolicy:
    timeout_s: float = 5.0  # the real BaseAgent's default receive timeout
    retries: int = 1
    backoff_s: float = 0.05


class Caller:
    """Makes calls on behalf of one agent."""

    def __init__(self, agent: str, context: zmq.asyncio.Context, book: AddressBook,
                 policy: CallPolicy | None = None, policies: Mapping[str, CallPolicy] | None = None,
                 reference: bool = False, curve: CurveKeys | None = None) -> None:
        self.agent = agent
        self.curve = curve  # CurveZMQ client keys when the group is secure (SECURE_ZMQ)
        self.reference = reference  # the real agents' envelope (ISO timestamp) instead of the ideal one
        self.context = context
        self.book = book
        self.policy = policy or CallPolicy()
        self.policies = dict(policies or {})
        self.breakers: dict[str, CircuitBreaker] = {}
        self.probe_sockets: dict[str, zmq.asyncio.Socket] = {}  # target -> a REQ whose last probe was answered

    async def call(self, target: str, action: str, *, health: bool = False, policy: CallPolicy | None = None,
                   fields: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
        """Send ``action`` to ``target`` and return its reply; raise CallFailed when no reply comes.

        Payload fields come as ``fields`` (any names) or keywords (not named like the parameters).
        """
        table = self.book.health if health else self.book.main
        endpoint = table.get(target)
        if endpoint is None:
            raise CallFailed(target, "no address (not a known dependency of this agent)")
        pol = policy or self.policies.get(target) or self.policy
        breaker = self.breakers.setdefault(target, CircuitBreaker())
        key_now = time.monotonic()
        if not health and not breaker.allow(key_now):
            raise CallFailed(target, f"circuit open after {breaker.failures} failures")
        build = protocol.reference_envelope if self.reference else protocol.envelope
        message = build(action, self.agent, {**(fields or {}), **more})
        last = "no attempt"
        for attempt in range(pol.retries + 1):
            if attempt:
                await asyncio.sleep(pol.backoff_s * (2 ** (attempt - 1)))
            try:
                reply = await self._once(endpoint, message, pol.timeout_s)
            except CallFailed as exc:
                last = exc.reason
                continue
            if not health:
                breaker.record(True, time.monotonic())
            return reply
        if not health:
            breaker.record(False, time.monotonic())
        raise CallFailed(target, f"{last} after {pol.retries + 1} attempt(s) to {endpoint.url}")

    async def _once(self, endpoint: Endpoint, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        secure_client(sock, self.curve)
        try:
            sock.connect(endpoint.url)
            await sock.send(protocol.encode(message))
            if not await sock.poll(int(timeout_s * 1000)):
                raise CallFailed(endpoint.url, f"no reply within {timeout_s:g} s")
            return protocol.parse_reply(await sock.recv())
        except zmq.ZMQError as exc:
            raise CallFailed(endpoint.url, f"zmq error: {exc}") from None
        finally:
            sock.close(0)

    async def probe(self, target: str, action: str, timeout_s: float) -> dict[str, Any]:
        """One health probe of ``target``'s health socket (no retry, no breaker, as ``call(health=True)``) on
        the socket the last answered probe used; any failure closes it, so the next probe starts afresh."""
        endpoint = self.book.health.get(target)
        if endpoint is None:
            raise CallFailed(target, "no address (not a known dependency of this agent)")
        build = protocol.reference_envelope if self.reference else protocol.envelope
        frame = protocol.encode(build(action, self.agent, {}))
        sock = self.probe_sockets.pop(target, None)
        try:
            if sock is None:
                sock = self.context.socket(zmq.REQ)
                sock.setsockopt(zmq.LINGER, 0)
                secure_client(sock, self.curve)
                sock.connect(endpoint.url)
            await sock.send(frame)
            try:
                async with asyncio.timeout(timeout_s):  # not sock.poll: a poller per probe cost more than the probe
                    raw = await sock.recv()
            except TimeoutError:
                raise CallFailed(target, f"no reply within {timeout_s:g} s after 1 attempt(s) to {endpoint.url}") \
                    from None
            reply = protocol.parse_reply(raw)
        except zmq.ZMQError as exc:
            if sock is not None:
                sock.close(0)
            raise CallFailed(target, f"zmq error: {exc} after 1 attempt(s) to {endpoint.url}") from None
        except BaseException:  # a timeout, or cancelled mid-probe: a REQ without its reply cannot send again
            if sock is not None:
                sock.close(0)
            raise
        self.probe_sockets[target] = sock
        return reply

    def close(self) -> None:
        """Close the kept probe sockets (the agent stops)."""
        for sock in self.probe_sockets.values():
            sock.close(0)
        self.probe_sockets.clear()
