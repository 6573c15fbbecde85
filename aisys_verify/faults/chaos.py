"""The chaos engine's API: faults on a running stack that read well in a test and always go away.

    chaos = Chaos(stack)
    with chaos.latency("RequestCoordinator->MemoryClient", ms=200):
        ...                                   # the fault is on, and proved to be on
    with chaos.partition_hosts("mainpc", "pc2"), chaos.pause("pc2/memory_stack"):
        ...
    chaos.reset()                             # whatever is still on (teardown, Ctrl-C, rollbacks)

Every call applies its fault at once, checks that it took effect (``FaultNotEffective``
otherwise) and returns it; leaving the ``with`` block, ``fault.revert()`` or ``chaos.reset()``
removes it. Every step is recorded in ``chaos.events`` (the journal).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aisys_verify.faults import edges
from aisys_verify.faults.base import ChaosError, ChaosUnsupported, Fault
from aisys_verify.faults.network import PartitionFault, ToxicFault, parse_stream
from aisys_verify.faults.process import KillFault, PauseFault, resolve_group
from aisys_verify.faults.toxics import TOXIC_TYPES, Stream, Toxic
from aisys_verify.probe import all_healthy
from aisys_verify.waiting import wait_until

if TYPE_CHECKING:
    from aisys_verify.stack.base import AgentEndpoint, Stack


class Chaos:
    def __init__(self, stack: Stack, *, verify: bool = True, recovery_timeout: float = 30.0) -> None:
        self.stack = stack
        self.verify = verify
        self.recovery_timeout = recovery_timeout
        self.events: list[dict[str, Any]] = []
        self.history: list[Fault] = []
        self._active: list[Fault] = []
        self._lock = threading.Lock()
        self._partition_holds: dict[str, int] = {}  # proxy -> partitions holding it disabled

    # --- network: toxics --------------------------------------------------------------------------

    def latency(self, edge: str, ms: int, jitter_ms: int = 0, stream: str | Stream = "downstream",
                toxicity: float = 1.0) -> Fault:
        """Add ``ms`` (± ``jitter_ms``) to every packet on the edge, in one direction or both."""
        return self.toxic(edge, "latency", {"latency": ms, "jitter": jitter_ms}, stream, toxicity)

    def bandwidth(self, edge: str, kb_per_s: int, stream: str | Stream = "downstream") -> Fault:
        return self.toxic(edge, "bandwidth", {"rate": kb_per_s}, stream)

    def slow_close(self, edge: str, delay_ms: int, stream: str | Stream = "downstream") -> Fault:
        return self.toxic(edge, "slow_close", {"delay": delay_ms}, stream)

    def blackhole(self, edge: str, close_after_ms: int = 0, stream: str | Stream = "downstream") -> Fault:
        """Toxiproxy's ``timeout`` toxic: data stops; the connection closes after ``close_after_ms`` (0: never)."""
        return self.toxic(edge, "timeout", {"timeout": close_after_ms}, stream)

    def reset_peer(self, edge: str, after_ms: int = 0, stream: str | Stream = "downstream") -> Fault:
        return self.toxic(edge, "reset_peer", {"timeout": after_ms}, stream)

    def slicer(self, edge: str, average_size: int, size_variation: int = 0, delay_us: int = 0,
               stream: str | Stream = "downstream") -> Fault:
        return self.toxic(edge, "slicer", {"average_size": average_size, "size_variation": size_variation,
                                           "delay": delay_us}, stream)

    def limit_data(self, edge: str, limit_bytes: int, stream: str | Stream = "downstream") -> Fault:
        return self.toxic(edge, "limit_data", {"bytes": limit_bytes}, stream)

    def toxic(self, edge: str, toxic_type: str, attributes: dict[str, int], stream: str | Stream = "downstream",
              toxicity: float = 1.0) -> Fault:
        """Any toxic type of the installed Toxiproxy on every proxy of the edge's links."""
        if toxic_type not in TOXIC_TYPES:
            Toxic(toxic_type)  # raises ToxicError listing the types
        links = edges.select_links(self.stack.topology, self.stack.proxies, edge)
        return self._start(ToxicFault(self.stack.toxiproxy_client, links, edge, toxic_type, attributes,
                                      parse_stream(stream), toxicity, record=self.events.append,
                                      observable=self._observable))

    # --- network: partitions ------------------------------------------------------------------------

    def partition(self, edge: str) -> Fault:
        """Cut one edge (both sockets): the caller's connections to the callee are refused."""
        links = edges.select_links(self.stack.topology, self.stack.proxies, edge)
        return self._start(PartitionFault(self.stack.toxiproxy_client, links, edge, record=self.events.append,
                                          holds=self._partition_holds,
                                          observable=self._observable))

    def isolate(self, agent: str) -> Fault:
        """Cut every edge into and out of an agent (or a group, or a host's agents)."""
        links = edges.agent_links(self.stack.topology, self.stack.proxies, agent)
        return self._start(PartitionFault(self.stack.toxiproxy_client, links, f"isolate {agent}",
                                          record=self.events.append, holds=self._partition_holds,
                                          observable=self._observable))

    def partition_hosts(self, first: str, second: str) -> Fault:
        """Cut every link between two hosts, both ways."""
        links = edges.host_pair_links(self.stack.topology, self.stack.proxies, first, second)
        return self._start(PartitionFault(self.stack.toxiproxy_client, links, f"{first}<->{second}",
                                          record=self.events.append, holds=self._partition_holds,
                                          observable=self._observable))

    # --- processes ------------------------------------------------------------------------------------

    def kill(self, group: str, host: str | None = None, sig: int = signal.SIGKILL) -> Fault:
        """Kill a group's process or container; reverting restarts it and measures ``recovery_s``."""
        self._require("kill")
        h, g = resolve_group(self.stack.topology, group, host)
        return self._start(KillFault(self.stack, h, g, sig, record=self.events.append,
                                     recovery_timeout=self.recovery_timeout))

    def terminate(self, group: str, host: str | None = None) -> Fault:
        return self.kill(group, host, signal.SIGTERM)

    def pause(self, group: str, host: str | None = None) -> Fault:
        """Freeze a group (SIGSTOP / docker pause); reverting resumes it and measures ``recovery_s``."""
        self._require("pause")
        h, g = resolve_group(self.stack.topology, group, host)
        return self._start(PauseFault(self.stack, h, g, record=self.events.append,
                                      recovery_timeout=self.recovery_timeout))

    def restart(self, group: str, host: str | None = None) -> float:
        """Kill a group and bring it back at once; the seconds until its agents were healthy again."""
        fault = self.kill(group, host)
        fault.revert()
        assert fault.recovery_s is not None
        return fault.recovery_s

    # --- resources -------------------------------------------------------------------------------------

    def cpu_pressure(self, group: str, host: str | None = None, cpu_percent: int = 20, workers: int = 1) -> Fault:
        from aisys_verify.faults.pressure import CpuPressure

        h, g = resolve_group(self.stack.topology, group, host)
        return self._start(CpuPressure(self.stack, h, g, cpu_percent, workers, record=self.events.append))

    def memory_pressure(self, group: str, host: str | None = None, megabytes: int = 64) -> Fault:
        from aisys_verify.faults.pressure import MemoryPressure

        h, g = resolve_group(self.stack.topology, group, host)
        return self._start(MemoryPressure(self.stack, h, g, megabytes, record=self.events.append))

    # --- life cycle -------------------------------------------------------------------------------------

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._active)

    def reset(self) -> list[str]:
        """Revert every active fault, newest first; the errors (revert failures), if any."""
        errors = []
        for fault in reversed(self.active):
            try:
                fault.revert()
            except Exception as exc:  # keep reverting the others; report all
                errors.append(f"{fault.describe()}: {exc}")
        return errors

    def wait_healthy(self, agents: Sequence[AgentEndpoint] | None = None, timeout: float = 30.0) -> float:
        """Seconds until every agent (or the given ones) answers HTTP /health ok; ChaosError naming the laggards."""
        endpoints = list(agents if agents is not None else self.stack.endpoints())
        took = wait_until(lambda: all_healthy(endpoints), timeout, 0.1)
        if took is None:
            from aisys_verify.probe import http_health

            sick = [f"{e.host}/{e.agent}: {http_health(e.address, e.http_port)}" for e in endpoints
                    if http_health(e.address, e.http_port)[0] != "ok"]
            raise ChaosError(f"{len(sick)} agent(s) not healthy {timeout:g} s after the faults: {'; '.join(sick[:5])}")
        return took

    def journal(self) -> dict[str, Any]:
        return {"faults": [{"fault": f.describe(), "applied_at": f.applied_at, "reverted_at": f.reverted_at,
                            "efficacy": None if f.efficacy is None else {
                                "effective": f.efficacy.effective, "evidence": f.efficacy.evidence,
                                "measured": f.efficacy.measured},
                            "recovery_s": f.recovery_s} for f in self.history],
                "events": self.events}

    def _start(self, fault: Fault) -> Fault:
        fault.on_revert = self._forget
        with self._lock:  # tracked before it is applied: an interrupt during apply still reverts it
            self._active.append(fault)
            self.history.append(fault)
        fault.start(self.verify)
        return fault

    def _forget(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._active:
                self._active.remove(fault)

    @property
    def _observable(self) -> bool:
        """Can this process reach the proxies' listen addresses (and so observe a fault's effect)?"""
        return "observe-proxies" in self.stack.capabilities

    def _require(self, capability: str) -> None:
        if capability not in self.stack.capabilities:
            raise ChaosUnsupported(f"the {type(self.stack).__name__} backend cannot {capability} a group (it can: "
                                   f"{', '.join(sorted(self.stack.capabilities)) or 'nothing'})", capability)
