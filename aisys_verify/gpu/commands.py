"""The spec's GPU plan as the exact commands that apply it: nvidia-smi (compute mode, MIG) and MPS control.

``plan_commands`` only computes (a dry run is printing them); ``apply`` runs them, one host at a time, and
only when the caller confirmed the host by name: a confirmation that is missing or names another host is
refused before anything runs. Commands are argv lists run without a shell.

Per plan mode:
* mig: enable MIG (``nvidia-smi -i D -mig 1``) unless the facts say it is on, then create the slices'
  GPU instances with a default compute instance each (``nvidia-smi mig -i D -cgi P1,P2 -C``);
* mps: exclusive-process compute mode, then the MPS control daemon; each group's share and memory limit
  are its client environment (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, CUDA_MPS_PINNED_DEVICE_MEM_LIMIT);
* exclusive: exclusive-process compute mode; time-slicing: default compute mode.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aisys_verify.errors import GpuCommandFailed, UsageError
from aisys_verify.gpu.facts import GpuHostFacts
from aisys_verify.spec.model import GpuPlan, PartitionMode, Topology

MPS_PIPE = "/tmp/nvidia-mps"  # the pipe directory the compose files mount into the MPS clients
MPS_LOG = "/tmp/nvidia-mps-log"


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    why: str
    env: tuple[tuple[str, str], ...] = ()

    def shell(self) -> str:
        """How a person would type it."""
        return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in self.env), *map(shlex.quote, self.argv)])


@dataclass(frozen=True)
class HostPlan:
    host: str
    plan: GpuPlan
    commands: tuple[Command, ...]
    client_env: tuple[tuple[str, str], ...] = ()  # (group, "NAME=VALUE ...") the groups' containers need
    problems: tuple[str, ...] = field(default=())  # what cannot be turned into a command

    def text(self) -> str:
        lines = [f"# host {self.host}: GPU {self.plan.device}, mode {self.plan.mode.value} ({self.plan.loc})"]
        lines += [f"# cannot apply: {p}" for p in self.problems]
        for command in self.commands:
            lines += [f"# {command.why}", command.shell()]
        lines += [f"# group {group}: {env}" for group, env in self.client_env]
        return "\n".join(lines)


def plan_commands(topology: Topology, facts: Mapping[str, GpuHostFacts] | None = None,
                  hosts: Sequence[str] = ()) -> tuple[HostPlan, ...]:
    """The commands of each host's GPU plan (only ``hosts`` when given); facts, where known, skip steps
    already done (MIG already on) and name profiles the GPU cannot make."""
    known = {p.host for p in topology.gpu_plans}
    for host in hosts:
        if host not in known:
            raise UsageError(f"host '{host}' has no gpu_plan in the spec (hosts with one: "
                             f"{', '.join(sorted(known)) or 'none'})")
    return tuple(_host_plan(p, (facts or {}).get(p.host)) for p in topology.gpu_plans if not hosts or p.host in hosts)


def _host_plan(plan: GpuPlan, facts: GpuHostFacts | None) -> HostPlan:
    d = str(plan.device)
    device = facts.devices[plan.device] if facts and plan.device < len(facts.devices) else None
    commands: list[Command] = []
    problems: list[str] = []
    env: list[tuple[str, str]] = []
    if plan.mode is PartitionMode.MIG:
        if device is not None and not device.mig_supported:
            problems.append(f"{device.label} has no MIG (NVML): the plan cannot be applied on this GPU")
        profiles = [s.profile or "" for s in plan.slices]
        bad = [p for p in profiles if not _is_profile(p)]
        if device is not None and device.mig_supported:
            bad += [p for p in profiles if p not in bad and device.profile(p) is None]
        if bad:
            problems.append(f"not MIG profiles nvidia-smi can create: {', '.join(bad)} (e.g. 3g.40gb)")
        if not (device is not None and device.mig_current):
            commands.append(Command(("nvidia-smi", "-i", d, "-mig", "1"), "enable MIG (needs a GPU reset after)"))
        commands.append(Command(("nvidia-smi", "mig", "-i", d, "-cgi", ",".join(profiles), "-C"),
                                "one GPU instance per slice, each with its default compute instance: "
                                + ", ".join(f"{s.group}={s.profile}" for s in plan.slices)))
    elif plan.mode is PartitionMode.MPS:
        commands.append(Command(("nvidia-smi", "-i", d, "-c", "EXCLUSIVE_PROCESS"),
                                "MPS: only the MPS server opens the GPU"))
        commands.append(Command(("nvidia-cuda-mps-control", "-d"), "start the MPS control daemon",
                                (("CUDA_VISIBLE_DEVICES", d), ("CUDA_MPS_PIPE_DIRECTORY", MPS_PIPE),
                                 ("CUDA_MPS_LOG_DIRECTORY", MPS_LOG))))
        for s in plan.slices:
            limits = [f"CUDA_MPS_PIPE_DIRECTORY={MPS_PIPE}"]
            if s.share_pct is not None:
                limits.append(f"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE={s.share_pct:g}")
            if s.vram_gb is not None:
                limits.append(f"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT={d}={s.vram_gb:g}G")
            env.append((s.group, " ".join(limits)))
    else:
        mode = "EXCLUSIVE_PROCESS" if plan.mode is PartitionMode.EXCLUSIVE else "DEFAULT"
        commands.append(Command(("nvidia-smi", "-i", d, "-c", mode), f"compute mode for {plan.mode.value}"))
    return HostPlan(plan.host, plan, tuple(commands), tuple(env), tuple(problems))


def _is_profile(name: str) -> bool:
    """'3g.40gb', '1g.10gb+me': what nvidia-smi mig -cgi takes by name."""
    head, _, rest = name.partition(".")
    return len(head) >= 2 and head[:-1].isdigit() and head[-1] == "g" and rest[:1].isdigit()


Runner = Callable[[Sequence[str], Mapping[str, str]], int]


def _run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    import os

    try:
        return subprocess.run(list(argv), env={**os.environ, **env}, check=False).returncode
    except FileNotFoundError:
        return 127


def check_confirmed(host_plan: HostPlan, confirm: str | None) -> None:
    """Refuse (UsageError) unless ``confirm`` names the host and the plan can be applied at all."""
    if confirm != host_plan.host:
        said = f"--confirm {confirm}" if confirm else "no --confirm"
        raise UsageError(f"refusing to change the GPUs of host {host_plan.host} ({said}): this changes MIG mode, "
                         f"compute mode or starts MPS; re-run with --confirm {host_plan.host} on that host")
    if host_plan.problems:
        raise UsageError(f"refusing to apply the GPU plan of host {host_plan.host}: "
                         f"{'; '.join(host_plan.problems)} ({host_plan.plan.loc})")


def apply(host_plan: HostPlan, confirm: str | None, run: Runner = _run) -> None:
    """Run the host's commands, in order, stopping at the first failure; ``confirm`` must name the host."""
    check_confirmed(host_plan, confirm)
    for command in host_plan.commands:
        code = run(command.argv, dict(command.env))
        if code != 0:
            raise GpuCommandFailed(f"host {host_plan.host}: '{command.shell()}' exited {code}: the GPU plan is applied "
                              "only up to the command before it; fix the cause and re-run")
