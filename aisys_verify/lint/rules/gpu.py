"""The GPU plan against what the host's GPUs can do (MIG only on data-centre parts)."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.gpu_table import lookup
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import PartitionMode, Topology

describe("GPU001", "mig-unsupported", "gpu", Severity.ERROR, "The GPU plan uses MIG on a GPU that has no MIG.")
describe("GPU002", "gpu-unknown", "gpu", Severity.WARNING, "A GPU model the capability table does not know.")
describe("GPU003", "gpu-shared-unplanned", "gpu", Severity.WARNING,
         "Several groups reserve the same whole GPU with no partition plan.")
describe("GPU004", "gpu-plan-mismatch", "gpu", Severity.WARNING,
         "The GPU plan and the compose GPU reservations disagree.")
describe("GPU005", "gpu-too-many-instances", "gpu", Severity.ERROR,
         "The MIG plan asks for more instances than the GPU supports.")
describe("GPU006", "gpu-model-mismatch", "gpu", Severity.WARNING,
         "The startup config names a different GPU than the host facts.")
describe("GPU007", "gpu-device-missing", "gpu", Severity.ERROR,
         "A service reserves a GPU index the host does not have, or one the GPU plan does not divide.")


@check("gpu")
def gpu_plans(topology: Topology) -> Iterator[Finding]:
    for plan in topology.gpu_plans:
        host = topology.host(plan.host)
        facts = host.facts if host else None
        gpu = facts.gpus[plan.device] if facts and plan.device < len(facts.gpus) else None
        name = gpu.model if gpu else (host.gpu_model_hint.name if host and host.gpu_model_hint else None)
        model = lookup(name) if name else None
        if name and model is None:
            yield Finding("GPU002", Severity.WARNING, f"GPU model '{name}' on host {plan.host} is not in the "
                          "capability table", gpu.loc if gpu else plan.loc,
                          "its MIG and MPS support cannot be checked",
                          "use a model name from aisys_verify/lint/gpu_table.py, or add the model with its source")
        if plan.mode is PartitionMode.MIG and model is not None:
            if not model.mig:
                yield Finding("GPU001", Severity.ERROR,
                              f"the GPU plan on host {plan.host} uses MIG ({', '.join(_labels(plan))}), but the "
                              f"{model.name} has no MIG: it is a data-centre feature (A100, A30, H100, H200, B200)",
                              plan.loc,
                              "MIG instances cannot be created on this GPU, so the groups either fail to start or "
                              "all share the whole GPU with no isolation",
                              "use MPS (with per-client memory limits) or time-slicing, or move to a MIG-capable GPU")
            elif len(plan.slices) > model.mig_max_instances:
                yield Finding("GPU005", Severity.ERROR,
                              f"the MIG plan on host {plan.host} has {len(plan.slices)} instances; the {model.name} "
                              f"supports at most {model.mig_max_instances}", plan.loc,
                              "the extra instances cannot be created", "merge slices or use a larger GPU")
        reserving = {s.name for p in topology.host_projects(plan.host) for s in p.services if s.devices}
        planned = {s.group for s in plan.slices}
        for group in sorted(planned - reserving):
            slice_loc = next(s.loc for s in plan.slices if s.group == group)
            yield Finding("GPU004", Severity.WARNING, f"GPU plan gives a slice to {group}, whose compose service "
                          "reserves no GPU", slice_loc, "the group's container will not see the GPU at all",
                          f"add a device reservation to service {group}, or drop the slice")
        for group in sorted(reserving - planned):
            yield Finding("GPU004", Severity.WARNING, f"service {group} reserves a GPU but the GPU plan on host "
                          f"{plan.host} gives it no slice", plan.loc,
                          "it competes unplanned for the GPU's memory and compute",
                          f"add a slice for {group} to the plan, or remove its reservation")
    planned_hosts = {p.host for p in topology.gpu_plans}
    for host in topology.hosts:
        if host.name in planned_hosts:
            continue
        users: dict[str, list[str]] = {}
        loc = None
        for project in topology.host_projects(host.name):
            for service in project.services:
                for device in service.devices:
                    for dev_id in device.device_ids or ("all",):
                        users.setdefault(dev_id, []).append(service.name)
                        loc = loc or device.loc
        for dev_id, services in users.items():
            if len(services) > 1 and loc is not None:
                yield Finding("GPU003", Severity.WARNING,
                              f"{len(services)} services on host {host.name} reserve the whole of GPU {dev_id} "
                              f"({', '.join(services)}) and no GPU plan divides it", loc,
                              "they share its memory first-come, first-served: one group loading a model can make "
                              "another fail with CUDA out-of-memory",
                              "declare a gpu_plan (MPS shares and memory limits, or MIG where the GPU has it)")


@check("gpu")
def gpu_model_agreement(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        if host.gpu_model_hint and host.facts and host.facts.gpus:
            hinted, declared = lookup(host.gpu_model_hint.name), lookup(host.facts.gpus[0].model)
            if hinted and declared and hinted != declared:
                yield Finding("GPU006", Severity.WARNING,
                              f"the startup config names GPU '{host.gpu_model_hint.name}' but host {host.name}'s "
                              f"facts say '{host.facts.gpus[0].model}'", host.gpu_model_hint.loc,
                              "model placement and VRAM budgets computed for one GPU are wrong on the other",
                              "make them agree")


def _labels(plan: object) -> list[str]:
    return [s.profile or s.group for s in plan.slices]  # type: ignore[attr-defined]


@check("gpu")
def gpu_device_ids(topology: Topology) -> Iterator[Finding]:
    plans = {p.host: p for p in topology.gpu_plans}
    for host in topology.hosts:
        count = sum(g.count for g in host.facts.gpus) if host.facts else None
        plan = plans.get(host.name)
        for project in topology.host_projects(host.name):
            for service in project.services:
                for device in service.devices:
                    for dev_id in device.device_ids:
                        if not dev_id.isdigit():
                            continue  # a UUID or MIG device name: checked on real hardware by the GPU suite
                        if count is not None and int(dev_id) >= count:
                            yield Finding("GPU007", Severity.ERROR,
                                          f"service {service.name} reserves GPU {dev_id}, but host {host.name} has "
                                          f"{count} GPU(s)", device.loc,
                                          "the container fails to start: the device does not exist",
                                          f"reserve a GPU index below {count}")
                        elif plan is not None and int(dev_id) != plan.device and any(
                                s.group == service.name for s in plan.slices):
                            yield Finding("GPU007", Severity.ERROR,
                                          f"service {service.name} reserves GPU {dev_id}, but its slice in the GPU "
                                          f"plan is on GPU {plan.device}", device.loc,
                                          "the plan's shares and memory limits apply to a GPU the service does "
                                          "not use", f"reserve GPU {plan.device}, or move the plan")
