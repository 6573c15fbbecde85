"""The spec's GPU plan against live NVML facts: findings in the lint format, at the plan's file:line.

Lint (aisys_verify/lint/rules/gpu.py) checks the plan on paper, against a capability table; these rules
check it against what the GPU itself reports. Each finding's message quotes NVML's answer.

    GPU101 mig-unsupported-live   the plan uses MIG; NVML says this GPU has no MIG (nvmlDeviceGetMigMode)
    GPU102 mig-disabled           the plan uses MIG; the GPU has MIG but it is off (current and pending)
    GPU103 mig-profile-unknown    a slice's MIG profile is not one this GPU can make
    GPU104 mig-instances-differ   the MIG devices that exist are not the ones the plan gives
    GPU105 uuid-unknown           a group is pinned (device_ids, CUDA/NVIDIA_VISIBLE_DEVICES) to a UUID not here
    GPU106 vram-over-partition    VRAM budgets add up to more than the device or MIG instance has
    GPU107 shared-without-mps     several groups share a device and the plan has no MPS (or MIG) for it
    GPU108 mps-not-active         the plan uses MPS; the GPU shows no MPS client and is not exclusive-process
    GPU109 device-missing         the plan's device index is not on the host
    GPU110 model-differs          the spec's host facts name another GPU than NVML reports
    GPU111 mps-limits-differ      a group's MPS client limits (compose environment) are not its slice's
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from aisys_verify.errors import GpuPlanMismatch
from aisys_verify.findings import Finding, Severity
from aisys_verify.gpu.facts import Device, GpuHostFacts
from aisys_verify.spec.model import GpuPlan, PartitionMode, Topology
from aisys_verify.spec.source import Location

RULES: dict[str, tuple[str, Severity]] = {
    "GPU101": ("mig-unsupported-live", Severity.ERROR),
    "GPU102": ("mig-disabled", Severity.ERROR),
    "GPU103": ("mig-profile-unknown", Severity.ERROR),
    "GPU104": ("mig-instances-differ", Severity.WARNING),
    "GPU105": ("uuid-unknown", Severity.ERROR),
    "GPU106": ("vram-over-partition", Severity.ERROR),
    "GPU107": ("shared-without-mps", Severity.WARNING),
    "GPU108": ("mps-not-active", Severity.WARNING),
    "GPU109": ("device-missing", Severity.ERROR),
    "GPU110": ("model-differs", Severity.WARNING),
    "GPU111": ("mps-limits-differ", Severity.WARNING),
}
PIN_VARS = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
_SHARED = (PartitionMode.MPS, PartitionMode.MIG)


def same_model(declared: str, reported: str) -> bool:
    """Whether NVML's name ('NVIDIA A100-SXM4-40GB') is the declared model ('A100 40GB'): every word of the
    declared name, brand words aside, is a word of the reported one, or several adjacent ones ('RTX4090').
    (The capability table's loose lookup is for finding a row, and takes 'A100-SXM4' for the 'A10'.)"""
    words = [w for w in re.findall(r"[a-z0-9]+", declared.lower()) if w not in ("nvidia", "geforce", "tesla")]
    tokens = re.findall(r"[a-z0-9]+", reported.lower())
    runs = {"".join(tokens[i:j]) for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1)}
    return bool(words) and all(w in runs for w in words)


def _finding(rule: str, message: str, loc: Location, why: str, fix: str) -> Finding:
    return Finding(rule, RULES[rule][1], message, loc, why, fix)


@dataclass(frozen=True)
class PlanCheck:
    """Findings of the GPU plans of ``hosts`` against their facts (``aisys_gpu_plan`` in a suite)."""

    findings: tuple[Finding, ...]
    hosts: tuple[str, ...]

    def at_or_above(self, severity: Severity | str) -> tuple[Finding, ...]:
        level = Severity.parse(severity) if isinstance(severity, str) else severity
        return tuple(f for f in self.findings if f.severity >= level)

    def assert_ok(self, fail_on: Severity | str = Severity.ERROR) -> None:
        __tracebackhide__ = True
        bad = self.at_or_above(fail_on)
        if bad:
            raise GpuPlanMismatch(bad, fail_on if isinstance(fail_on, str) else fail_on.label)


def check_plans(topology: Topology, facts: Mapping[str, GpuHostFacts]) -> PlanCheck:
    """Every GPU plan (and GPU pin) of the hosts in ``facts`` against those facts, sorted by file:line."""
    found: list[Finding] = []
    for host, host_facts in facts.items():
        found += _host_findings(topology, host, host_facts)
    return PlanCheck(tuple(sorted(found, key=Finding.sort_key)), tuple(facts))


def _host_findings(topology: Topology, host: str, facts: GpuHostFacts) -> Iterator[Finding]:
    plan = next((p for p in topology.gpu_plans if p.host == host), None)
    spec_host = topology.host(host)
    if spec_host and spec_host.facts:
        for i, declared in enumerate(spec_host.facts.gpus):
            live = facts.devices[i] if i < len(facts.devices) else None
            if live is not None and not same_model(declared.model, live.name):
                yield _finding("GPU110", f"host {host}'s facts say GPU {i} is '{declared.model}'; NVML reports "
                               f"{live.label}", declared.loc, "the plan's MIG, MPS and VRAM numbers were made for "
                               "another GPU", "correct the host facts, or check the plan for this GPU")
    yield from _pins(topology, host, facts)
    yield from _sharing(topology, host, plan, facts)
    if plan is None:
        return
    if plan.device >= len(facts.devices):
        yield _finding("GPU109", f"the GPU plan of host {host} divides GPU {plan.device}; NVML reports "
                       f"{len(facts.devices)} GPU(s)", plan.loc, "nothing can be partitioned there",
                       f"use a device index below {len(facts.devices)}")
        return
    device = facts.devices[plan.device]
    if plan.mode is PartitionMode.MIG:
        yield from _mig(plan, device)
    else:
        yield from _budget(plan, device, device.memory_total_mib, f"{device.label}")
    if plan.mode is PartitionMode.MPS:
        yield from _mps_limits(topology, plan, device)
    if plan.mode is PartitionMode.MPS and not any(p.mps for p in device.processes) \
            and device.compute_mode != "exclusive-process":
        yield _finding("GPU108", f"the GPU plan of host {host} shares {device.label} through MPS; NVML shows no MPS "
                       f"client and compute mode '{device.compute_mode}'", plan.loc,
                       "without the MPS daemon the share and memory limits of the plan are not enforced",
                       "apply the plan ('aisys-verify gpu plan --host ... --apply'), which sets exclusive-process "
                       "mode and starts nvidia-cuda-mps-control")


def _mig(plan: GpuPlan, device: Device) -> Iterator[Finding]:
    labels = ", ".join(s.profile or s.group for s in plan.slices)
    if not device.mig_supported:
        yield _finding("GPU101", f"the GPU plan of host {plan.host} uses MIG ({labels}), but NVML reports that "
                       f"{device.label} has no MIG (nvmlDeviceGetMigMode: Not Supported)", plan.loc,
                       "no MIG instance can be made, so the groups share the whole GPU with no isolation",
                       "plan MPS (share and memory limits per group) or time-slicing for this GPU")
        return
    if not device.mig_current:
        yield _finding("GPU102", f"the GPU plan of host {plan.host} uses MIG, but MIG is disabled on {device.label} "
                       f"(current off, pending {'on' if device.mig_pending else 'off'})", plan.loc,
                       "no MIG instance exists, so the groups get the whole GPU",
                       f"enable it: nvidia-smi -i {device.index} -mig 1 (then reset the GPU)")
    known = {p.name for p in device.mig_profiles}
    for s in plan.slices:
        if s.profile and s.profile not in known:
            yield _finding("GPU103", f"slice {s.group} asks for MIG profile '{s.profile}', which {device.label} "
                           f"cannot make (it can make: {', '.join(sorted(known))})", s.loc,
                           "the instance cannot be created", "use one of the GPU's profiles")
        profile = device.profile(s.profile) if s.profile else None
        if profile and s.vram_gb is not None and s.vram_gb * 1024 > profile.memory_mib:
            yield _finding("GPU106", f"slice {s.group} budgets {s.vram_gb:g} GB of VRAM; a {profile.name} instance "
                           f"has {profile.memory_mib} MiB", s.loc, "the group runs out of memory in its instance",
                           "lower the budget or use a larger profile")
    if device.mig_current:
        wanted = sorted(s.profile for s in plan.slices if s.profile in known)
        have = sorted(m.profile for m in device.mig_devices)
        if wanted != have:
            yield _finding("GPU104", f"the GPU plan of host {plan.host} gives MIG instances {wanted or 'none'}; "
                           f"{device.label} has {have or 'none'}", plan.loc,
                           "groups are not pinned to the partitions the plan gives them",
                           "apply the plan ('aisys-verify gpu plan --host ...' prints the commands)")


def _mem_limit_gb(value: str, device: int) -> float | None:
    """This device's limit in CUDA_MPS_PINNED_DEVICE_MEM_LIMIT ('0=8G,1=512M'); None if it sets none."""
    for part in value.split(","):
        index, _, amount = part.strip().partition("=")
        match = re.fullmatch(r"([0-9.]+)\s*([MG]?)B?", amount.strip().upper())
        if index.strip() == str(device) and match:
            return float(match.group(1)) / (1024 if match.group(2) == "M" else 1)
    return None


def _mps_limits(topology: Topology, plan: GpuPlan, device: Device) -> Iterator[Finding]:
    """Each slice's share and VRAM budget are what its MPS clients are told (compose environment)."""
    services = {s.name: s for p in topology.host_projects(plan.host) for s in p.services}
    for s in plan.slices:
        service = services.get(s.group)
        env = {v.name: v for v in service.environment} if service else {}
        threads, memory = env.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), env.get("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT")
        if s.share_pct is not None and threads is not None and threads.value is not None:
            try:
                same = float(threads.value) == s.share_pct
            except ValueError:
                same = False
            if not same:
                yield _finding("GPU111", f"{s.group}'s MPS clients get CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="
                               f"{threads.value}; its slice gives {s.share_pct:g} %", threads.loc,
                               "the group runs with another share of the SMs than the plan", "make them agree")
        limit = _mem_limit_gb(memory.value, plan.device) if memory is not None and memory.value else None
        if memory is not None and limit is not None:
            if s.vram_gb is not None and limit != s.vram_gb:
                yield _finding("GPU111", f"{s.group}'s MPS clients get CUDA_MPS_PINNED_DEVICE_MEM_LIMIT="
                               f"{memory.value}; its slice budgets {s.vram_gb:g} GB", memory.loc,
                               "the group may hold more (or less) VRAM than the plan gives it", "make them agree")
            if limit * 1024 > device.memory_total_mib:
                yield _finding("GPU106", f"{s.group}'s MPS memory limit {limit:g} GB is more than the "
                               f"{device.memory_total_mib} MiB NVML reports on {device.label}", memory.loc,
                               "the limit does not bound anything", "lower it below the GPU's memory")


def _budget(plan: GpuPlan, device: Device, total_mib: int, label: str) -> Iterator[Finding]:
    budget = sum(s.vram_gb or 0 for s in plan.slices)
    if budget * 1024 > total_mib:
        yield _finding("GPU106", f"the GPU plan of host {plan.host} budgets {budget:g} GB of VRAM; NVML reports "
                       f"{total_mib} MiB on {label}", plan.loc,
                       "the groups cannot all hold their budget at once: one hits CUDA out-of-memory",
                       "lower the slices' vram_gb")


def pinned(topology: Topology, host: str) -> Iterator[tuple[str, str, Location]]:
    """(service, device id, loc) of every GPU pin of the host's compose services."""
    for project in topology.host_projects(host):
        for service in project.services:
            for request in service.devices:
                for dev_id in request.device_ids:
                    yield service.name, dev_id, request.loc
            for var in service.environment:
                if var.name in PIN_VARS and var.value and var.value not in ("all", "none", "void"):
                    for dev_id in var.value.split(","):
                        yield service.name, dev_id.strip(), var.loc


def _pins(topology: Topology, host: str, facts: GpuHostFacts) -> Iterator[Finding]:
    uuids = facts.uuids()
    for service, dev_id, loc in pinned(topology, host):
        if dev_id.upper().startswith(("GPU-", "MIG-")) and dev_id not in uuids:
            yield _finding("GPU105", f"service {service} is pinned to {dev_id}, which is not on host {host} "
                           f"(NVML reports {', '.join(sorted(uuids)) or 'no device'})", loc,
                           "the container fails to start or sees no GPU", "pin a UUID that NVML reports")


def _sharing(topology: Topology, host: str, plan: GpuPlan | None, facts: GpuHostFacts) -> Iterator[Finding]:
    users: dict[int, set[str]] = {}
    loc: dict[int, Location] = {}
    for service, dev_id, where in pinned(topology, host):
        index = next((d.index for d in facts.devices if dev_id in (str(d.index), d.uuid)), None)
        if index is not None:
            users.setdefault(index, set()).add(service)
            loc.setdefault(index, where)
    for index, services in sorted(users.items()):
        if len(services) > 1 and not (plan and plan.device == index and plan.mode in _SHARED):
            yield _finding("GPU107", f"{len(services)} services on host {host} share {facts.devices[index].label} "
                           f"({', '.join(sorted(services))}) and the plan gives it no MPS or MIG",
                           plan.loc if plan else loc[index],
                           "they compete for its memory first-come, first-served: one can make another fail with "
                           "CUDA out-of-memory", "plan MPS with per-group limits, or MIG where the GPU has it")
