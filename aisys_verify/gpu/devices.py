"""The device each GPU worker was given, asked of the running stand-ins, against what the spec gives its group.

What the spec gives a docker group (its compose service, the service named like the group):

* ``CUDA_VISIBLE_DEVICES`` as its ``environment`` sets it, else unset;
* ``NVIDIA_VISIBLE_DEVICES`` as its ``environment`` sets it, else what the NVIDIA container runtime sets from
  ``deploy.resources.reservations.devices`` (the ``device_ids`` joined with commas, ``count: all`` as
  ``all``), else unset. A reservation of ``count: N`` names no device, so the variable is not compared;
* where the host's GPU plan has a slice for the group and does not use MIG, the plan's GPU: every index the
  group is pinned to must be the plan's device. (MIG devices are UUIDs that only NVML can tell apart:
  ``GpuPlanSession.misplaced`` checks those on a machine with the GPU.)

Both backends hand the stand-ins exactly this (``spec_device_env``): compose through the service's
environment (and, without the NVIDIA runtime, ``NVIDIA_VISIBLE_DEVICES`` in its place), the local backend
in each group's forked process. The stand-ins report it in every reply (``device``, standin/roles/gpu.py);
no NVML is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from aisys_verify.errors import GpuDeviceMismatch
from aisys_verify.plan.groups import PIN_VARS, group_of_agent, group_service, spec_device_env
from aisys_verify.plan.roles import role_for
from aisys_verify.spec.model import PartitionMode, Topology

_REPORTED = {"CUDA_VISIBLE_DEVICES": "cuda_visible_devices", "NVIDIA_VISIBLE_DEVICES": "nvidia_visible_devices"}


@dataclass(frozen=True)
class DeviceAssignment:
    """What the spec (and plan) give one GPU worker: ``expected`` var -> value (None: unset)."""

    agent: str  # host/Agent
    group: str
    expected: Mapping[str, str | None]
    where: str  # the compose service's file:line, or why there is none
    plan_device: int | None = None  # the plan's GPU index for the group's slice (not under MIG)
    plan_where: str = ""

    def compare(self, reported: Mapping[str, Any]) -> list[str]:
        """One line per difference between ``reported`` (a reply's ``device``) and this assignment."""
        wrong = []
        for name, want in self.expected.items():
            got = reported.get(_REPORTED[name])
            if (got or None) != (want or None):
                wrong.append(f"{self.agent} (group {self.group}): expected {name}={want!r} ({self.where}), "
                             f"reported {got!r}")
        if self.plan_device is not None:
            pins = [p.strip() for name in PIN_VARS for p in str(reported.get(_REPORTED[name]) or "").split(",")]
            indexes = sorted({p for p in pins if p.isdigit()})
            if indexes and indexes != [str(self.plan_device)]:
                wrong.append(f"{self.agent} (group {self.group}): expected GPU {self.plan_device} (its GPU plan "
                             f"slice, {self.plan_where}), reported GPU {','.join(indexes)}")
        return wrong


def assignments(topology: Topology) -> dict[str, DeviceAssignment]:
    """Every GPU worker (role ``gpu``) of the spec, by agent key, with what its group is given."""
    groups = group_of_agent(topology)
    result = {}
    for agent in topology.agents:
        if role_for(agent.name, agent.role).role != "gpu" or agent.key not in groups:
            continue
        host, group = groups[agent.key]
        service = group_service(topology, host, group)
        where = str(service.loc) if service else f"no compose service {group} on {host}: nothing pinned"
        plan = next((p for p in topology.gpu_plans if p.host == host), None)
        slice_ = next((s for s in plan.slices if s.group == group), None) if plan else None
        planned = plan is not None and slice_ is not None and plan.mode is not PartitionMode.MIG
        result[agent.key] = DeviceAssignment(agent.key, group, spec_device_env(topology, host, group), where,
                                             plan.device if planned and plan else None,
                                             str(slice_.loc) if planned and slice_ else "")
    return result


class _Endpoint(Protocol):
    agent: str
    host: str

    def request(self, action: str, fields: dict[str, Any] | None = None, *, timeout: float = 5.0,
                traceparent: str | None = None, health: bool = False) -> dict[str, Any]: ...


class _Stack(Protocol):
    topology: Topology

    def endpoints(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class DeviceCheck:
    """The devices the GPU workers reported (agent key -> the reply's ``device``) and the differences."""

    reported: Mapping[str, Any]
    wrong: tuple[str, ...]

    def assert_ok(self) -> None:
        __tracebackhide__ = True
        if self.wrong:
            raise GpuDeviceMismatch(self.wrong)


def check_devices(stack: _Stack, timeout: float = 5.0) -> DeviceCheck:
    """Ask every GPU worker of the running ``stack`` (``model_status``) for its device and compare it with
    what the spec gives its group; a worker that does not answer, or answers without a device, is wrong."""
    wanted = assignments(stack.topology)
    endpoints: list[_Endpoint] = [e for e in stack.endpoints() if f"{e.host}/{e.agent}" in wanted]

    def ask(endpoint: _Endpoint) -> tuple[str, Any]:
        key = f"{endpoint.host}/{endpoint.agent}"
        try:
            reply = endpoint.request("model_status", timeout=timeout)
        except TimeoutError:
            return key, f"no reply to model_status within {timeout:g} s"
        device = reply.get("device")
        return key, device if isinstance(device, dict) else f"a reply without a device: {reply!r:.200}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        reported = dict(pool.map(ask, endpoints))
    wrong: list[str] = []
    for key, got in sorted(reported.items()):  # a stack of some hosts only runs their workers
        assignment = wanted[key]
        wrong += assignment.compare(got) if isinstance(got, dict) else [f"{key} (group {assignment.group}): {got}"]
    return DeviceCheck(reported, tuple(wrong))
