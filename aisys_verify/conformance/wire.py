"""How the checks reach an agent from the outside, and nothing more: raw ZeroMQ frames on a fresh REQ
socket, a TCP connect, an HTTP GET, and the agent's readiness key in its host's Redis.

Everything here is black-box: it works against the real agents (PROTOCOL.md) as well as stand-ins of
either profile, since it only uses the spec's ports, the stack's addresses and the host's Redis.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import VerifyError
from aisys_verify.httpjson import http_direct

if TYPE_CHECKING:
    from aisys_verify.spec.model import Agent
    from aisys_verify.stack.base import AgentEndpoint, Stack

READY_KEY = "agent:ready:{name}"  # PROTOCOL.md §4: what the real BaseAgent writes


@dataclass(frozen=True)
class Target:
    """One agent of the spec, where it is reached, what role it plays, and where its readiness lives."""

    agent: Agent
    endpoint: AgentEndpoint
    role: str  # the stand-in role table's name for it (works for real agents: keyed by agent name)
    group: tuple[str, str]  # (host, docker group) whose process runs it
    redis: tuple[str, int] | None  # its host's Redis, as reached from here

    @property
    def key(self) -> str:
        return self.agent.key

    @property
    def name(self) -> str:
        return self.agent.name


def targets(stack: Stack) -> dict[str, Target]:
    """Every agent of the stack's spec, keyed host/Name, in spec order."""
    from aisys_verify.plan.groups import UNGROUPED
    from aisys_verify.plan.roles import role_for

    topology = stack.topology
    redis = {h.name: redis_address(stack, h.name) for h in topology.hosts}
    result: dict[str, Target] = {}
    for agent in topology.agents:
        groups = topology.group_of.get(agent.key) or ()
        group = groups[0].split("/", 1)[1] if groups else UNGROUPED
        result[agent.key] = Target(agent, stack.endpoint(agent.name, agent.host),
                                   role_for(agent.name, agent.role).role, (agent.host, group), redis[agent.host])
    return result


# (address, port) -> the password its Redis requires, as redis_address found it (the compose backend's canary)
REDIS_PASSWORDS: dict[tuple[str, int], Any] = {}


def redis_address(stack: Stack, host: str) -> tuple[str, int] | None:
    """The host's Redis as this process reaches it: the backend's own answer where it has one (compose
    publishes it on the host's address), the run plan's (local), or an attached stack's plan file."""
    own = getattr(stack, "redis_address", None)
    if callable(own):
        with contextlib.suppress(Exception):
            address, port = own(host)
            password = getattr(stack, "redis_password", None)  # compose: a Redis that requires its secret
            secret = password(host) if callable(password) else None
            if secret is not None:
                REDIS_PASSWORDS[(str(address), int(port))] = secret
            return str(address), int(port)
    plan = getattr(stack, "plan", None)
    if plan is not None and host in getattr(plan, "redis", {}):
        address, port = plan.redis[host]
        return str(address), int(port)
    return _attached_redis(stack, host)


def _attached_redis(stack: Stack, host: str) -> tuple[str, int] | None:
    """A stack from 'aisys-verify up': its state record names its work folder, which holds the plan."""
    from aisys_verify.plan.run import RunPlan
    from aisys_verify.stack.state import list_stacks

    record = next((r for r, _ in list_stacks() if r.stack_id == stack.stack_id), None)
    if record is None or not record.workdir:
        return None
    path = Path(record.workdir) / "plan.json"
    if not path.is_file():
        return None
    try:
        plan = RunPlan.from_file(path)
    except VerifyError:
        return None
    if host not in plan.redis:
        return None
    address, port = plan.redis[host]
    if record.backend == "compose":  # the plan names a service alias; the port is published on the host address
        address = stack.endpoints()[0].address if stack.endpoints() else address
        with contextlib.suppress(Exception):
            address = next(e.address for e in stack.endpoints() if e.host == host)
    return address, port


# --- ZeroMQ ---------------------------------------------------------------------------------------------


def exchange(url: str, frame: bytes, timeout: float) -> bytes | None:
    """One raw frame on a fresh REQ socket (``standin.client.exchange``: the one blocking REQ helper)."""
    from aisys_verify.standin.client import exchange as raw_exchange

    return raw_exchange(url, frame, timeout)


def request(url: str, message: Mapping[str, Any], timeout: float) -> tuple[Any, bytes | None]:
    """A JSON request; (the parsed reply or None, the raw reply or None when there was none)."""
    raw = exchange(url, json.dumps(dict(message)).encode(), timeout)
    return parse(raw), raw


def parse(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def envelope(action: str, **fields: Any) -> dict[str, Any]:
    """The request the real callers send (PROTOCOL.md §1): action, fields, source_agent, a uuid4
    request_id and an ISO-8601 timestamp without zone (``protocol.reference_envelope``)."""
    from aisys_verify.standin.protocol import reference_envelope

    return reference_envelope(action, "aisys-verify-conformance", fields)


def answers_ping(url: str, timeout: float) -> bool:
    """Does the socket still answer a plain ``ping`` (health reply, or the twin's pong)?"""
    return exchange(url, json.dumps(envelope("ping")).encode(), timeout) is not None


# --- TCP, HTTP -------------------------------------------------------------------------------------------


def listening(address: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=timeout):
        return True
    return False


def http_get(address: str, port: int, path: str = "/health", timeout: float = 2.0) -> tuple[int, bytes] | None:
    """(status code, body) of a GET, or None when no HTTP answer came."""
    try:
        reply = http_direct(address, port, path, timeout=timeout)
    except OSError:
        return None
    return reply.status, reply.body


# --- readiness in Redis ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyKey:
    """What ``agent:ready:<Name>`` holds: whether it exists, its remaining TTL (ms; -1 none), its record."""

    exists: bool
    ttl_ms: int | None
    value: str | None

    @property
    def record(self) -> dict[str, Any]:
        parsed = parse(self.value.encode()) if self.value is not None else None
        return parsed if isinstance(parsed, dict) else {}

    @property
    def port(self) -> int | None:
        """The port the real record says the agent bound (PROTOCOL.md §4: BaseAgent writes it)."""
        port = self.record.get("port")
        return port if isinstance(port, int) and not isinstance(port, bool) else None

    @property
    def reads_ready(self) -> bool:
        """Present and not saying otherwise: a record whose status is not 'ready', or '0'/'false', is not ready."""
        if not self.exists:
            return False
        status = self.record.get("status")
        if isinstance(status, str) and status.lower() not in ("ready", "ok"):
            return False
        return (self.value or "").strip().lower() not in ("0", "false", "")


def redis_client(address: tuple[str, int]) -> Any:
    import redis

    secret = REDIS_PASSWORDS.get(address)
    auth: dict[str, Any] = {"username": "default", "password": secret.reveal()} if secret is not None else {}
    return redis.Redis(host=address[0], port=address[1], socket_timeout=1.0, socket_connect_timeout=1.0, **auth)


def read_ready_keys(address: tuple[str, int], names: list[str]) -> dict[str, ReadyKey]:
    """Every named agent's readiness key in one round trip; raises VerifyError when Redis does not answer."""
    import redis

    client = redis_client(address)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.pttl(READY_KEY.format(name=name))
            pipe.get(READY_KEY.format(name=name))
        replies = pipe.execute()
    except redis.RedisError as exc:
        raise VerifyError(f"Redis at {address[0]}:{address[1]} does not answer: {exc}") from exc
    finally:
        client.close()
    result: dict[str, ReadyKey] = {}
    for i, name in enumerate(names):
        ttl, value = replies[2 * i], replies[2 * i + 1]
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        result[name] = ReadyKey(ttl != -2, None if ttl == -2 else int(ttl), text)
    return result


def read_ready_key(target: Target) -> ReadyKey | None:
    """The agent's readiness key, or None when its host's Redis is unknown or does not answer."""
    if target.redis is None:
        return None
    try:
        return read_ready_keys(target.redis, [target.name])[target.name]
    except VerifyError:
        return None
