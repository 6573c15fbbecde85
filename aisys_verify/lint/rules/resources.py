"""Resource over-commit: compose limits against the host's declared RAM and CPUs, GPU plans against VRAM."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import Topology

GIB = 1024**3

describe("RES001", "memory-overcommit", "resources", Severity.ERROR,
         "Compose memory limits add up to more than the host's RAM.")
describe("RES002", "cpu-overcommit", "resources", Severity.WARNING,
         "Compose CPU limits add up to more than the host's CPUs.")
describe("RES003", "vram-overcommit", "resources", Severity.ERROR,
         "The GPU plan gives out more VRAM (or share) than the GPU has.")
describe("RES004", "no-host-facts", "resources", Severity.NOTE,
         "The host declares no facts, so over-commit cannot be checked.")


@check("resources")
def overcommit(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        services = [s for p in topology.host_projects(host.name) for s in p.services if not s.is_override_only]
        if not services:
            continue
        facts = host.facts
        if facts is None:
            yield Finding("RES004", Severity.NOTE, f"host {host.name} declares no RAM, CPU or GPU facts; "
                          "resource over-commit is not checked", host.loc,
                          "limits that exceed the machine are only found when containers are OOM-killed",
                          "declare the host's facts in aisys-spec.yaml or pass a host-facts file to lint")
            continue
        mem = sorted(((s, s.limits.memory_bytes) for s in services if s.limits.memory_bytes), key=lambda x: -x[1])
        total_mem = sum(m for _, m in mem)
        if facts.ram_gb and total_mem > facts.ram_gb * GIB:
            top = mem[:3]
            # reported at the largest limit (the YAML to change), with the host's RAM and the next largest related
            yield Finding("RES001", Severity.ERROR,
                          f"memory limits on host {host.name} add up to {total_mem / GIB:.1f} GiB, more than its "
                          f"{facts.ram_gb:g} GiB of RAM (largest: "
                          f"{', '.join(f'{s.name} {m / GIB:g}g' for s, m in top)})",
                          top[0][0].limits.memory_loc or top[0][0].loc,
                          "limits are promises the kernel cannot keep: under load the OOM killer picks groups, "
                          "and the host itself needs memory too",
                          "lower the limits so they fit with headroom, or correct the host's RAM",
                          (facts.loc, *(s.limits.memory_loc for s, _ in top[1:] if s.limits.memory_loc)))
        cpu = sorted(((s, s.limits.cpus or 0.0) for s in services if s.limits.cpus), key=lambda x: -x[1])
        total_cpu = sum(c for _, c in cpu)
        if facts.cpus and total_cpu > facts.cpus:
            yield Finding("RES002", Severity.WARNING,
                          f"CPU limits on host {host.name} add up to {total_cpu:g}, more than its {facts.cpus:g} "
                          f"CPUs (largest: {', '.join(f'{s.name} {c:g}' for s, c in cpu[:3])})",
                          cpu[0][0].limits.cpus_loc or cpu[0][0].loc,
                          "each limit is reachable alone, but not all at once: latency SLOs set under the limits "
                          "will not hold when groups are busy together",
                          "size limits to the CPUs, or accept it knowingly and lower the latency expectations",
                          (facts.loc,))
    for plan in topology.gpu_plans:
        plan_host = topology.host(plan.host)
        facts = plan_host.facts if plan_host else None
        gpu = facts.gpus[0] if facts and facts.gpus else None
        shares = sum(s.share_pct or 0 for s in plan.slices)
        if shares > 100:
            yield Finding("RES003", Severity.ERROR, f"GPU plan on host {plan.host} gives out {shares:g}% of "
                          f"GPU {plan.device}", plan.loc, "the shares cannot all be honoured",
                          "make the shares add up to at most 100%")
        vram = sum(s.vram_gb or 0 for s in plan.slices)
        if gpu and gpu.vram_gb and vram > gpu.vram_gb:
            yield Finding("RES003", Severity.ERROR, f"GPU plan on host {plan.host} gives out {vram:g} GB of VRAM; "
                          f"the {gpu.model} has {gpu.vram_gb:g} GB", plan.loc,
                          "model loads fail with CUDA out-of-memory once the groups fill their slices",
                          "shrink the slices to fit the GPU's memory")
