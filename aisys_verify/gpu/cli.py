"""``aisys-verify gpu ...``: live GPU facts through NVML, the plan against them, the plan as commands.

    aisys-verify gpu facts [--host H] [--format text|json] [--save FILE]
    aisys-verify gpu check [PATH...] (--facts FILE ... | --live HOST) [--format text|json] [--fail-on SEV]
    aisys-verify gpu plan  [PATH...] [--host H] [--facts FILE ...] [--apply --confirm H]

``plan`` is a dry run: it prints the commands. ``--apply`` runs them on this machine for one ``--host``,
only with ``--confirm`` naming that same host. Exit 0 clean, 1 findings at or above --fail-on (check), 2 on
unusable input or a refused apply.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.cli_support import EXIT_CLEAN, EXIT_FINDINGS
from aisys_verify.errors import UsageError

if TYPE_CHECKING:
    from aisys_verify.gpu.facts import GpuHostFacts


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    gpu = sub.add_parser("gpu", help="GPU facts through NVML, the GPU plan against them, the plan as commands",
                         description="Read what the GPUs are (NVML), check the spec's GPU plan against them and "
                                     "print the nvidia-smi / MPS commands that apply it. See docs/gpu.md.")
    commands = gpu.add_subparsers(dest="gpu_command", metavar="{facts,check,plan}", required=True)
    facts = commands.add_parser("facts", help="this machine's GPUs, MIG geometry and processes (read-only)")
    facts.add_argument("--host", help="the spec host these facts are for (default: the hostname)")
    facts.add_argument("--format", choices=("text", "json"), default="text")
    facts.add_argument("--save", type=Path, metavar="FILE", help="also record the facts as JSON here")
    facts.set_defaults(handler=cmd_facts)
    check = commands.add_parser("check", help="the spec's GPU plan against live or recorded facts (findings)")
    spec_args(check)
    check.add_argument("--facts", action="append", default=[], type=Path, metavar="FILE",
                       help="facts recorded with 'gpu facts --save' (repeatable, one per host)")
    check.add_argument("--live", metavar="HOST", help="read this machine's facts now, as spec host HOST")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--fail-on", choices=("error", "warning", "note"), default="error")
    check.set_defaults(handler=cmd_check)
    plan = commands.add_parser("plan", help="the nvidia-smi / MPS commands of the GPU plan (dry run unless --apply)")
    spec_args(plan)
    plan.add_argument("--host", action="append", default=[], metavar="HOST", help="only this host (repeatable)")
    plan.add_argument("--facts", action="append", default=[], type=Path, metavar="FILE",
                      help="recorded facts: skip steps already done, name profiles the GPU lacks")
    plan.add_argument("--apply", action="store_true", help="run the commands on this machine (needs --confirm)")
    plan.add_argument("--confirm", metavar="HOST", help="with --apply: the host name again, to confirm")
    plan.set_defaults(handler=cmd_plan)


def _facts_text(facts: GpuHostFacts) -> str:
    lines = [f"host {facts.host}: driver {facts.driver_version}, CUDA {facts.cuda_version}, "
             f"{len(facts.devices)} GPU(s) [{facts.source}]"]
    for d in facts.devices:
        mig = ("no MIG" if not d.mig_supported else
               f"MIG {'on' if d.mig_current else 'off'} (pending {'on' if d.mig_pending else 'off'})")
        lines.append(f"  {d.label}: {d.memory_used_mib}/{d.memory_total_mib} MiB, compute mode {d.compute_mode}, "
                     f"{mig}" + (f", utilisation {d.utilization_gpu_pct} %" if d.utilization_gpu_pct is not None
                                 else ""))
        if d.mig_profiles:
            lines.append("    profiles: " + ", ".join(f"{p.name} x{p.instances}" for p in d.mig_profiles))
        lines += [f"    {m.uuid}: {m.profile} (GI {m.gpu_instance_id}, CI {m.compute_instance_id}), "
                  f"{m.memory_used_mib}/{m.memory_total_mib} MiB" for m in d.mig_devices]
        lines += [f"    pid {p.pid}: {p.used_mib} MiB{' (MPS client)' if p.mps else ''}" for p in d.processes]
    return "\n".join(lines)


def cmd_facts(args: argparse.Namespace) -> int:
    from aisys_verify.gpu.facts import read_facts, to_json

    facts = read_facts(args.host)
    if args.save:
        try:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(to_json(facts), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--save '{args.save}' cannot be written: {exc.strerror or exc}") from exc
        print(f"aisys-verify: recorded the GPU facts of {facts.host} in {args.save}", file=sys.stderr)
    print(json.dumps(to_json(facts), indent=2) if args.format == "json" else _facts_text(facts))
    return EXIT_CLEAN


def _facts_by_host(files: list[Path], live: str | None) -> dict[str, GpuHostFacts]:
    from aisys_verify.gpu.facts import load_facts, read_facts

    found = {f.host: f for f in map(load_facts, files)}
    if live:
        found[live] = read_facts(live)
    return found


def _topology(args: argparse.Namespace) -> Any:
    from aisys_verify.cli_support import config_from_args
    from aisys_verify.spec.loader import load_spec

    config = config_from_args(args)
    return load_spec(config.spec, config.spec_vars)


def cmd_check(args: argparse.Namespace) -> int:
    from aisys_verify.gpu.plan import check_plans

    if not args.facts and not args.live:
        raise UsageError("gpu check needs facts: --live HOST (read NVML here) or --facts FILE "
                         "(from 'gpu facts --save')")
    facts = _facts_by_host(args.facts, args.live)
    result = check_plans(_topology(args), facts)
    if args.format == "json":
        print(json.dumps([{"rule": f.rule, "severity": f.severity.label, "message": f.message, "location": str(f.loc),
                           "why": f.why, "fix": f.fix} for f in result.findings], indent=2))
    else:
        for f in result.findings:
            print(f.one_line() + (f"\n    why: {f.why}" if f.why else "") + (f"\n    fix: {f.fix}" if f.fix else ""))
        print(f"{len(result.findings)} finding(s) for host(s) {', '.join(result.hosts)}")
    return EXIT_FINDINGS if result.at_or_above(args.fail_on) else EXIT_CLEAN


def cmd_plan(args: argparse.Namespace) -> int:
    from aisys_verify.gpu.commands import apply, check_confirmed, plan_commands

    if args.confirm and not args.apply:
        raise UsageError("--confirm only goes with --apply")
    if args.apply and len(args.host) != 1:
        raise UsageError("--apply changes one machine: name its spec host with exactly one --host (and --confirm it)")
    plans = plan_commands(_topology(args), _facts_by_host(args.facts, None), args.host)
    if not plans:
        print("aisys-verify: the spec has no gpu_plan", file=sys.stderr)
    if args.apply:
        check_confirmed(plans[0], args.confirm)  # before printing anything that looks like it ran
    for host_plan in plans:
        print(host_plan.text())
    if args.apply:
        apply(plans[0], args.confirm)
        print(f"aisys-verify: applied the GPU plan of host {plans[0].host}", file=sys.stderr)
    return EXIT_CLEAN
