"""Reader for host facts (RAM, CPUs, GPUs) and GPU partition plans.

They are declared per host, either in a spec manifest (``kind: aisys-verify/spec``)
or in a separate facts file (``kind: aisys-verify/host-facts``) that can be laid
over a spec which does not declare them, such as the real system's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.spec.model import GpuFacts, GpuPlan, GpuSlice, HostFacts, PartitionMode
from aisys_verify.spec.reader import Notes, expect_list, expect_map, expect_number, expect_str
from aisys_verify.spec.source import Location, YMap

FACTS_KIND = "aisys-verify/host-facts"
FACT_KEYS = ("ram_gb", "cpus", "gpus", "sources", "gpu_plan")
GPU_KEYS = ("model", "count", "vram_gb")
PLAN_KEYS = ("device", "mode", "slices", "source")
SLICE_KEYS = ("profile", "share_pct", "vram_gb")


def is_facts_file(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("kind") == FACTS_KIND


def read_facts(body: YMap, host: str, notes: Notes) -> tuple[HostFacts | None, GpuPlan | None]:
    """Facts and plan from one host's block; keys outside FACT_KEYS are the caller's to check."""
    facts = None
    if any(k in body for k in ("ram_gb", "cpus", "gpus")):
        gpus_node = expect_list(body.get("gpus"), body.loc_of("gpus"), f"host {host} gpus")
        gpus = []
        for i, item in enumerate(gpus_node):
            gpu = expect_map(item, gpus_node.loc_of(i), f"host {host} gpus[{i}]")
            notes.unknown_keys(gpu, GPU_KEYS, f"host {host} gpu")
            model = expect_str(gpu.get("model"), gpu.loc_of("model"), "gpu model")
            if not model:
                raise SpecError(f"host {host} gpus[{i}] has no model", gpus_node.loc_of(i), "add 'model: ...'")
            count = gpu.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise SpecError(f"host {host} gpu count must be a positive integer", gpu.loc_of("count"))
            gpus.append(GpuFacts(model, count, expect_number(gpu.get("vram_gb"), gpu.loc_of("vram_gb"), "vram_gb"),
                                 gpus_node.loc_of(i)))
        sources = expect_list(body.get("sources"), body.loc_of("sources"), "sources")
        facts = HostFacts(expect_number(body.get("ram_gb"), body.loc_of("ram_gb"), f"host {host} ram_gb"),
                          expect_number(body.get("cpus"), body.loc_of("cpus"), f"host {host} cpus"),
                          tuple(gpus), tuple(str(s) for s in sources), body.loc)
    plan = _read_plan(body["gpu_plan"], body.loc_of("gpu_plan"), host, notes) if "gpu_plan" in body else None
    return facts, plan


def _read_plan(node: Any, loc: Location, host: str, notes: Notes) -> GpuPlan:
    body = expect_map(node, loc, f"host {host} gpu_plan")
    notes.unknown_keys(body, PLAN_KEYS, f"host {host} gpu_plan")
    raw_mode = str(body.get("mode", ""))
    try:
        mode = PartitionMode(raw_mode)
    except ValueError:
        raise SpecError(f"host {host} gpu_plan mode '{raw_mode}' is not known", body.loc_of("mode"),
                        f"use one of {', '.join(m.value for m in PartitionMode)}") from None
    device = body.get("device", 0)
    if not isinstance(device, int) or isinstance(device, bool) or not 0 <= device < 64:
        raise SpecError(f"host {host} gpu_plan device must be a GPU index (0, 1, ...), got {device!r}",
                        body.loc_of("device"))
    slices_node = expect_map(body.get("slices"), body.loc_of("slices"), "slices", allow_none=True)
    slices = []
    for group, spec in slices_node.items():
        item = expect_map(spec, slices_node.loc_of(group), f"gpu_plan slice {group}")
        notes.unknown_keys(item, SLICE_KEYS, f"gpu_plan slice {group}")
        slices.append(GpuSlice(str(group), expect_str(item.get("profile"), item.loc_of("profile"), "profile",
                                                      allow_none=True),
                               expect_number(item.get("share_pct"), item.loc_of("share_pct"), "share_pct"),
                               expect_number(item.get("vram_gb"), item.loc_of("vram_gb"), "vram_gb"),
                               slices_node.loc_of(group)))
    return GpuPlan(host, device, mode, tuple(slices), str(body.get("source", "")), loc)
