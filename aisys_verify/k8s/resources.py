"""What a group asks of its node and what a host's node offers, in Kubernetes resource terms.

Both sides come from the spec layers that already own them, never from a second reading of the files: the
group's CPU and memory limits and GPU device requests from its compose service (the same ``Limits`` and
``DeviceRequest`` the compose backend and the resources lint use), its GPU slice from the host's GPU plan
(``Topology.gpu_plans``, as ``aisys_verify.gpu`` reads it), and the node from the host facts plus the MIG
capability table of the GPU lint (``lint/gpu_table.py``).

GPU resources follow NVIDIA's device plugin: ``nvidia.com/gpu`` for a whole (or MPS/time-sliced shared) GPU,
``nvidia.com/mig-<profile>`` for a MIG slice (the plugin's mixed strategy). A shared plan (MPS, time
slicing) is advertised as one ``nvidia.com/gpu`` replica per slice, as the plugin's ``sharing`` setting
does. GPU memory is the ``nvidia.com/gpu.memory`` node label (MiB) that GPU feature discovery sets; a group
with a VRAM budget asks for it through node affinity, so a group wanting more VRAM than the node's GPU has
stays Pending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aisys_verify.plan.groups import UNGROUPED
from aisys_verify.spec.model import GpuPlan, GpuSlice, PartitionMode, Topology

GPU = "nvidia.com/gpu"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"  # MiB, as NVIDIA GPU feature discovery labels nodes
HOST_LABEL = "aisys-verify/host"
MIG_PROFILE = re.compile(r"^(\d+)g\.(\d+)gb$")
_MI = 1024 * 1024
_GI = 1024 * _MI


def mig_resource(profile: str) -> str:
    return f"nvidia.com/mig-{profile}"


def quantity_bytes(value: int) -> str:
    """Bytes as a Kubernetes quantity, exact: 1Gi, 512Mi, or plain bytes."""
    if value % _GI == 0:
        return f"{value // _GI}Gi"
    if value % _MI == 0:
        return f"{value // _MI}Mi"
    return str(value)


def quantity_cpus(value: float) -> str:
    millis = round(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


@dataclass(frozen=True)
class GroupNeeds:
    """A group's limits (requests default to them: a Guaranteed pod, as compose reserves them) and GPU."""

    cpu: str | None
    memory: str | None
    gpu: dict[str, int]  # resource name -> count
    vram_mib: int | None  # the GPU memory the group's slice needs (node affinity on GPU_MEMORY_LABEL)

    @property
    def limits(self) -> dict[str, str]:
        result = {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}
        return {**result, **{name: str(count) for name, count in sorted(self.gpu.items())}}


def plan_of(topology: Topology, host: str) -> GpuPlan | None:
    return next((p for p in topology.gpu_plans if p.host == host), None)


def slice_of(topology: Topology, host: str, group: str) -> GpuSlice | None:
    plan = plan_of(topology, host)
    return next((s for s in plan.slices if s.group == group), None) if plan else None


def group_needs(topology: Topology, host: str, group: str) -> GroupNeeds:
    service = None
    if group != UNGROUPED:
        docker_group = next((g for g in topology.groups if g.host == host and g.name == group), None)
        service = topology.group_service(docker_group) if docker_group else None
    cpu = memory = None
    if service is not None:
        cpu = quantity_cpus(service.limits.cpus) if service.limits.cpus is not None else None
        memory = quantity_bytes(service.limits.memory_bytes) if service.limits.memory_bytes is not None else None
    plan, piece = plan_of(topology, host), slice_of(topology, host, group)
    gpu: dict[str, int] = {}
    if plan is not None and piece is not None and plan.mode is PartitionMode.MIG and piece.profile \
            and MIG_PROFILE.match(piece.profile):
        gpu[mig_resource(piece.profile)] = 1
    elif piece is not None:
        gpu[GPU] = 1
    elif service is not None:
        for device in service.devices:
            if device.driver in (None, "nvidia") and ("gpu" in device.capabilities or device.driver == "nvidia"):
                count = len(device.device_ids) or (device.count if device.count and device.count > 0 else 1)
                gpu[GPU] = gpu.get(GPU, 0) + count
    vram = round(piece.vram_gb * 1024) if piece is not None and piece.vram_gb else None
    return GroupNeeds(cpu, memory, gpu, vram)


def node_capacity(topology: Topology, host: str) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, labels) of the simulated node of ``host`` from its facts: CPUs, RAM, GPUs as the device
    plugin would advertise them under the host's GPU plan, and the GPU memory label. Facts the spec lacks
    fall back to a node big enough for anything (64 CPUs, 256 GiB), never to a silent zero."""
    from aisys_verify.lint.gpu_table import lookup

    spec_host = topology.host(host)
    facts = spec_host.facts if spec_host else None
    cpus = facts.cpus if facts and facts.cpus else 64.0
    ram_gb = facts.ram_gb if facts and facts.ram_gb else 256.0
    capacity = {"cpu": quantity_cpus(cpus), "memory": quantity_bytes(round(ram_gb * _GI)), "pods": "110"}
    labels = {HOST_LABEL: host}
    gpus = facts.gpus if facts else ()
    count = sum(g.count for g in gpus)
    plan = plan_of(topology, host)
    if count:
        first = gpus[0]
        if first.vram_gb:
            labels[GPU_MEMORY_LABEL] = str(round(first.vram_gb * 1024))
        labels["nvidia.com/gpu.product"] = re.sub(r"[^A-Za-z0-9.-]+", "-", first.model).strip("-")[:63]
        model = lookup(first.model)
        if plan is not None and plan.mode is PartitionMode.MIG and model is not None and model.mig:
            # the GPU can make at most (max instances // compute slices) of a profile
            for profile in sorted({s.profile for s in plan.slices if s.profile and MIG_PROFILE.match(s.profile)}):
                match = MIG_PROFILE.match(profile)
                assert match is not None
                capacity[mig_resource(profile)] = str(model.mig_max_instances // int(match.group(1)))
            count -= 1  # the partitioned device is advertised as its MIG slices
        elif plan is not None and plan.mode in (PartitionMode.MPS, PartitionMode.TIME_SLICING):
            count += max(0, len(plan.slices) - 1)  # one replica per slice (the device plugin's sharing)
        if count > 0:
            capacity[GPU] = str(count)
    return capacity, labels
