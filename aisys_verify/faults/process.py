"""Process faults on a docker group: kill (SIGKILL or SIGTERM), pause and resume, restart.

On the local backend a group is one process (signals); on the compose backend it is one
container (``docker kill``/``pause``). Efficacy: every agent of the group stops answering on
its health socket (and a paused process is in the kernel's stopped state). Reverting brings
the group back and measures the recovery: the seconds until every agent of the group answers
HTTP /health ``ok`` again (``recovery_s``).
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

from aisys_verify.faults.base import ChaosError, Efficacy, Fault, Recorder
from aisys_verify.faults.edges import SelectorError
from aisys_verify.plan.groups import UNGROUPED, agents_of_group
from aisys_verify.probe import all_healthy, still_answering
from aisys_verify.waiting import wait_until

if TYPE_CHECKING:
    from aisys_verify.spec.model import Topology
    from aisys_verify.stack.base import AgentEndpoint, Stack

RECOVERY_TIMEOUT_S = 30.0


def resolve_group(topology: Topology, group: str, host: str | None = None) -> tuple[str, str]:
    """(host, group) for ``memory_stack`` + host, ``pc2/memory_stack``, or a group name on one host only."""
    if "/" in group and host is None:
        host, group = group.split("/", 1)
    hosts = [h for h in topology.hosts if host is None or h.name == host]
    if host is not None and not hosts:
        raise SelectorError(f"no host {host!r}: the spec's hosts are {', '.join(h.name for h in topology.hosts)}")
    found = [(h.name, g.name) for h in hosts for g in h.groups if g.name == group]
    if group == UNGROUPED:
        found = [(h.name, UNGROUPED) for h in hosts]
    if len(found) == 1:
        return found[0]
    if not found:
        names = sorted({f"{h.name}/{g.name}" for h in hosts for g in h.groups})
        raise SelectorError(f"no docker group {group!r}{' on ' + host if host else ''}: groups are {', '.join(names)}")
    raise SelectorError(f"docker group {group!r} is on {' and '.join(h for h, _ in found)}: "
                        f"write HOST/{group}, e.g. {found[0][0]}/{group}")


def group_endpoints(stack: Stack, host: str, group: str) -> list[AgentEndpoint]:
    return [stack.endpoint(a.name, host) for a in agents_of_group(stack.topology, host, group)]


class GroupFault(Fault):
    def __init__(self, stack: Stack, host: str, group: str, attributes: dict[str, Any] | None = None,
                 record: Recorder | None = None, recovery_timeout: float = RECOVERY_TIMEOUT_S,
                 **kwargs: Any) -> None:
        super().__init__(f"{host}/{group}", attributes, record=record, **kwargs)
        self.stack, self.host, self.group = stack, host, group
        self.endpoints = group_endpoints(stack, host, group)
        self.recovery_timeout = recovery_timeout

    def _verify(self) -> Efficacy:
        answering = still_answering(self.endpoints)
        evidence = (f"{len(self.endpoints)} agent(s) of {self.target} silent on their health sockets"
                    if not answering else f"still answering: {', '.join(answering[:5])}")
        return Efficacy(not answering, evidence, {"agents": len(self.endpoints)})

    def _wait_recovered(self, began: float) -> None:
        took = wait_until(lambda: all_healthy(self.endpoints), self.recovery_timeout, 0.05)
        if took is None:
            raise ChaosError(f"{self.target} did not recover within {self.recovery_timeout:g} s after "
                             f"{self.kind} was reverted")
        self.recovery_s = round(time.monotonic() - began, 3)


class KillFault(GroupFault):
    """Kill the group (SIGKILL by default, or SIGTERM for a graceful stop); revert restarts it."""

    kind = "kill"

    def __init__(self, stack: Stack, host: str, group: str, sig: int = signal.SIGKILL, **kwargs: Any) -> None:
        super().__init__(stack, host, group, {"signal": signal.Signals(sig).name}, **kwargs)
        self.sig = sig
        if sig == signal.SIGTERM:
            self.kind = "terminate"

    def _apply(self) -> None:
        self.stack.kill_group(self.host, self.group, self.sig)

    def _verify(self) -> Efficacy:
        # a graceful stop may take a moment: wait for silence before judging
        wait_until(lambda: not still_answering(self.endpoints, 0.2), 10.0, 0.1)
        return super()._verify()

    def _revert(self) -> None:
        began = time.monotonic()
        self.stack.restart_group(self.host, self.group, self.recovery_timeout)
        self._wait_recovered(began)


class PauseFault(GroupFault):
    """Freeze the group (SIGSTOP / docker pause); revert resumes it."""

    kind = "pause"

    def _apply(self) -> None:
        self.stack.pause_group(self.host, self.group)

    def _verify(self) -> Efficacy:
        # a signal is delivered asynchronously: give the kernel a moment to stop every thread
        if wait_until(lambda: self.stack.group_paused(self.host, self.group), 2.0, 0.02) is None:
            return Efficacy(False, f"{self.target} is not in the stopped state after the pause")
        efficacy = super()._verify()
        return Efficacy(efficacy.effective, f"process stopped; {efficacy.evidence}", efficacy.measured)

    def _revert(self) -> None:
        began = time.monotonic()
        self.stack.resume_group(self.host, self.group)
        self._wait_recovered(began)
