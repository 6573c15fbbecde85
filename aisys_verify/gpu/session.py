"""What the pytest fixtures ``aisys_gpu_facts`` and ``aisys_gpu_plan`` return (the plugin only wires them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.gpu.commands import HostPlan, plan_commands
from aisys_verify.gpu.facts import GpuHostFacts, load_facts, read_facts
from aisys_verify.gpu.plan import PlanCheck, check_plans, pinned
from aisys_verify.spec.model import GpuPlan, GpuSlice, PartitionMode, Topology
from aisys_verify.spec.source import Location

ENV_HOST = "AISYS_GPU_HOST"


def gpu_facts(recorded: str | os.PathLike[str] | None, host: str | None) -> GpuHostFacts:
    """Recorded facts when a file is given, else NVML read now as spec host ``host`` ($AISYS_GPU_HOST)."""
    if recorded:
        return load_facts(Path(recorded))
    return read_facts(host or os.environ.get(ENV_HOST) or None)


@dataclass(frozen=True)
class GpuPlanSession:
    facts: GpuHostFacts
    plan: GpuPlan | None  # None: the spec plans no GPU partitioning for this host
    check: PlanCheck
    commands: HostPlan | None

    @classmethod
    def build(cls, topology: Topology, facts: GpuHostFacts) -> GpuPlanSession:
        plan = next((p for p in topology.gpu_plans if p.host == facts.host), None)
        commands = plan_commands(topology, {facts.host: facts}, [facts.host]) if plan else ()
        return cls(facts, plan, check_plans(topology, {facts.host: facts}), commands[0] if commands else None)

    def misplaced(self, topology: Topology) -> list[str]:
        """Groups with a slice whose compose pins (device_ids, CUDA/NVIDIA_VISIBLE_DEVICES) name another GPU
        than the plan's, or, under MIG, no MIG device of the slice's profile; one line each."""
        if self.plan is None or self.plan.device >= len(self.facts.devices):
            return []
        device = self.facts.devices[self.plan.device]
        fits = {str(device.index), device.uuid}
        wrong = []
        pins: dict[str, list[tuple[str, Location]]] = {}
        for service, dev_id, loc in pinned(topology, self.facts.host):
            pins.setdefault(service, []).append((dev_id, loc))
        for s in self.plan.slices:
            want = ({m.uuid for m in device.mig_devices if m.profile == s.profile}
                    if self.plan.mode is PartitionMode.MIG else fits)
            for dev_id, loc in pins.get(s.group, []):
                if dev_id not in want:
                    wrong.append(f"{loc}: {s.group} is pinned to {dev_id}; its slice ({s.loc}) is on "
                                 f"{device.label}" + (f" as a MIG device of profile {s.profile}" if s.profile else ""))
        return wrong

    @property
    def slices(self) -> dict[str, GpuSlice]:
        return {s.group: s for s in self.plan.slices} if self.plan else {}
