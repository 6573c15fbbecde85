"""What the backends that stand the stack up themselves (local, compose) share: its id, work folder, state
record and loopback network; the start and stop bracket (reaping leftovers, the atexit hook, the record);
the endpoints; the servers beside the stack. Each backend keeps only what differs.

Start and stop read the same in both backends::

    start():  self._preflight()          # the backend's checks (compose: Docker usable, its leftovers reaped)
              self._begin_start()        # leftover processes reaped, atexit hook, record saved
              self._start_beside()       # servers beside the stack (local: Toxiproxy, each host's Redis)
              self._start_stack()        # the backend's own: proxies, plan, the groups
              (any failure: stop(), then the error)
    stop():   the backend's groups down, self.beside.stop_all() (servers beside, last started first stopped),
              self._end_stop() (record removed, network released, work folder removed)

A server started beside the stack registers how to stop it with ``self.beside.add(name, stop)``; the
external backend, which starts nothing of the deployment, keeps a ``Beside`` too, for servers of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from aisys_verify.plan.run import RunPlan
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack import state
from aisys_verify.stack.base import AgentEndpoint, StackOptions
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.loopback import claim_network, release_network

if TYPE_CHECKING:
    from aisys_verify.spec.model import Agent
    from aisys_verify.stack.tls import StackTls

__all__ = ["Beside", "OwnStack", "write_endpoints"]


class Beside:
    """The servers started beside a stack (Toxiproxy, each host's Redis, ...), each with how to stop it."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], None]]] = []

    def add(self, name: str, stop: Callable[[], None]) -> None:
        """``name`` was started; ``stop`` runs at the stack's stop."""
        self._stops.append((name, stop))

    def names(self) -> list[str]:
        return [name for name, _ in self._stops]

    def stop_all(self) -> None:
        """Stop them, the last started first; one that fails to stop stops no other (idempotent)."""
        while self._stops:
            _, stop = self._stops.pop()
            with contextlib.suppress(Exception):
                stop()


def write_endpoints(endpoints: Sequence[AgentEndpoint], workdir: Path) -> Path:
    """``<workdir>/endpoints.json``: every agent's addresses, for another shell (``aisys-verify up``)."""
    path = workdir / "endpoints.json"
    path.write_text(json.dumps([asdict(e) for e in endpoints], indent=1), encoding="utf-8")
    return path


@dataclass
class OwnStack:
    """The shared part of LocalStack and ComposeStack: their constructor's arguments, and what each backend's
    ``__post_init__`` starts with (``_set_up``)."""

    spec: Sequence[str]
    spec_vars: dict[str, str] = field(default_factory=dict)
    options: StackOptions = field(default_factory=StackOptions)
    progress: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    # made by each backend in its __post_init__, after _set_up (it needs the network)
    plan: RunPlan = field(init=False, repr=False, compare=False)

    def _set_up(self, backend: str) -> None:
        self.topology: Topology = load_spec(self.spec, self.spec_vars)
        self.stack_id = uuid.uuid4().hex[:10]
        self.record = state.StackRecord(self.stack_id, backend, [str(s) for s in self.spec])
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.stack_id}-"))
        self.record.workdir = str(self.workdir)
        self.network = claim_network()  # 127.N.M, free and ours until stop (or this object or process ends)
        self._release = weakref.finalize(self, release_network, self.network)
        self.proxies: list[ProxiedEdge] = []
        self.started_s: float | None = None
        self.layers: list[list[tuple[str, str]]] = []
        self.beside = Beside()
        self.tls: StackTls | None = None  # TLS on the agents' HTTP side (options.tls), made by _start_tls
        self._tls_env: dict[str, str] | None = None  # what _start_tls returned (it runs once)

    # --- the start and stop bracket --------------------------------------------------------------------

    label: ClassVar[str] = "stack"  # in progress lines ("compose stack")

    def start(self) -> float:
        """Bring the stack up; the seconds it took. On any failure everything started is torn down."""
        self._preflight()
        began = self._begin_start()
        try:
            self._start_beside()
            self._start_stack()
        except BaseException:
            self.stop()
            raise
        return self._ready(began)

    def _preflight(self) -> None:
        """What must hold before anything starts (the backend's own checks)."""

    def _start_beside(self) -> None:
        """Start the servers beside the stack (each registers its stop with ``self.beside.add``)."""

    def _start_stack(self) -> None:  # each backend's own: the groups
        raise NotImplementedError

    def stop(self) -> None:  # each backend's own
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _begin_start(self) -> float:
        """Remove what killed runs left, hook the stop to the interpreter's exit, save the record; the start
        time (perf_counter)."""
        for record, procs in state.reap():
            self.progress(f"aisys-verify: removed {len(procs)} leftover process(es) of stack {record.stack_id}")
        began = time.perf_counter()
        atexit.register(self.stop)
        state.LIVE_IN_THIS_PROCESS.add(self.stack_id)
        self.record.save()
        return began

    def _ready(self, began: float) -> float:
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: {self.label} {self.stack_id} ready in {self.started_s:.2f} s")
        return self.started_s

    def _unhook(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _end_stop(self) -> None:
        """After everything is down: the record removed, the network released, the work folder removed (unless
        kept or given)."""
        if self.tls is not None:
            self.tls.close()
        self.record.remove()
        state.LIVE_IN_THIS_PROCESS.discard(self.stack_id)
        self._release()
        if not self.options.keep_workdir and self.options.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- TLS on the agents' HTTP side (stack/tls.py) ------------------------------------------------------

    def _start_tls(self, sans: Callable[[Agent], list[str]],
                   peers: Callable[[Agent], list[tuple[str, int]]]) -> dict[str, str]:
        """When ``options.tls`` selects agents: mint the PKI and write the plan and the client file into
        ``<workdir>/secrets``; the variables the group processes need ({} when TLS is off). ``sans``: the names
        on an agent's certificate (every address a client uses); ``peers``: where clients reach its TLS ports.
        Once per stack: a later call returns the first one's variables."""
        if self._tls_env is not None:
            return self._tls_env
        self._tls_env = {}
        if not self.options.tls:
            return {}
        from aisys_verify.stack.tls import mint_stack_tls

        self.tls = mint_stack_tls(self.workdir / "secrets", self.topology, self.options.tls,
                                  {a.key: sans(a) for a in self.topology.agents},
                                  {a.key: peers(a) for a in self.topology.agents})
        if self.tls is None:
            self.progress(f"aisys-verify: TLS selection {dict(self.options.tls)} picks no agent of the spec")
            return {}
        self.progress(f"aisys-verify: mTLS on the HTTP side of {len(self.tls.served)} agent(s); PKI in "
                      f"{self.tls.pki.folder}, plan {self.tls.plan}")
        self._tls_env = self.tls.environ()
        return self._tls_env

    def http_tls_ports(self, agent: Agent) -> list[int]:
        """The agent's ports that speak HTTP (and so TLS when selected): its HTTP port, and its main port where
        the role serves HTTP there (the reference ObservabilityHub)."""
        from aisys_verify.standin.roles.table import main_is_http

        ports = [self.plan.http_ports[agent.key]]
        if main_is_http(agent.name, agent.role, self.options.standin_profile == "reference"):
            ports.append(agent.port.number)
        return ports

    # --- endpoints ---------------------------------------------------------------------------------------

    def host_address(self, host: str) -> str:
        """Where this process reaches ``host``'s published ports."""
        raise NotImplementedError

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        from aisys_verify.errors import VerifyError

        found = self.topology.find_agent(agent, host)
        if found is None:
            raise VerifyError(f"no agent {agent!r}{' on ' + host if host else ''} in the spec")
        return AgentEndpoint(found.name, found.host, self.host_address(found.host), found.port.number,
                             found.health_port.number, self.plan.http_ports[found.key],
                             "https" if self.tls is not None and self.tls.serves(found.key) else "http")

    def endpoints(self) -> list[AgentEndpoint]:
        return [self.endpoint(a.name, a.host) for a in self.topology.agents]
