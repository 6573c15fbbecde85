"""The backend interface every way of standing the spec up implements, and what suites may rely on.

Suites never ask which backend runs; they may ask what it can do (``capabilities``).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aisys_verify.spec.model import Topology
    from aisys_verify.stack.interpose import ProxiedEdge
    from aisys_verify.stack.local import AgentEndpoint
    from aisys_verify.stack.toxiproxy import ToxiproxyClient

BACKENDS = {"local": "aisys_verify.stack.local:LocalStack", "compose": "aisys_verify.stack.compose:ComposeStack"}


@runtime_checkable
class Stack(Protocol):
    topology: Topology
    stack_id: str
    started_s: float | None
    proxies: list[ProxiedEdge]
    # e.g. {"kill", "restart", "pause", "partition", "pressure", "observe-proxies" (proxies reachable from here)}
    capabilities: frozenset[str]
    trace_dir: Path | None  # JSON-lines spans of every agent, when the stack exports them to files

    def start(self) -> float: ...

    def stop(self) -> None: ...

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint: ...

    def endpoints(self) -> list[AgentEndpoint]: ...

    def log_path(self, host: str, group: str) -> Path: ...

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None: ...

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None: ...

    def pause_group(self, host: str, group: str) -> None: ...  # SIGSTOP / docker pause

    def resume_group(self, host: str, group: str) -> None: ...

    def group_paused(self, host: str, group: str) -> bool: ...

    def paused_groups(self) -> list[tuple[str, str]]: ...

    @property
    def toxiproxy_client(self) -> ToxiproxyClient: ...


def backend_class(name: str) -> type[Any]:
    """The backend class for a name, imported lazily (compose pulls in nothing until asked for)."""
    from importlib import import_module

    from aisys_verify.errors import UsageError

    try:
        module, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise UsageError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}") from None
    return getattr(import_module(module), attr)  # type: ignore[no-any-return]


def probe_health(stack: Stack, timeout: float = 1.0) -> dict[str, dict[str, Any]]:
    """Every agent's reply on its ZeroMQ health socket, keyed 'host/Agent' ({'status': 'down'} if none)."""
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    result: dict[str, dict[str, Any]] = {}
    for ep in stack.endpoints():
        try:
            result[f"{ep.host}/{ep.agent}"] = request_once(ep.health_url, HEALTH_CHECK, timeout)
        except TimeoutError as exc:
            result[f"{ep.host}/{ep.agent}"] = {"status": "down", "error": str(exc)}
    return result
