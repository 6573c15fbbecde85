"""``aisys-verify chaos``: run a scenario, list the fault matrix, stop every fault (emergency-stop).

    aisys-verify chaos run SCENARIO [PATH...] [--stack ID] [--journal FILE]
        Stand the spec up (or attach to a stack from 'aisys-verify up'), run the scenario, roll it
        back, write the journal. Exit 0 completed; 1 deviated, aborted or failed; 2 bad input;
        130 interrupted (rolled back first).
        SCENARIO may also be a Chaos Toolkit experiment (JSON or YAML; run by chaoslib, extra 'ctk').
    aisys-verify chaos export SCENARIO [-o FILE] [--format json|yaml]
        The scenario as a Chaos Toolkit experiment ('chaos validate' / 'chaos run' it; docs/ctk.md).
    aisys-verify chaos matrix [PATH...] [--select EXPR] [--format text|json]
    aisys-verify chaos emergency-stop
        From any shell: every running stack's toxics removed, proxies enabled, paused groups
        resumed, pressure cgroups and stress workers removed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# one set of exit codes for every family, named here for this family's verbs: 0 ok, 1 failed, 130 interrupted
from aisys_verify.cli_support import EXIT_CLEAN as EXIT_OK
from aisys_verify.cli_support import EXIT_FINDINGS as EXIT_FAILED
from aisys_verify.cli_support import EXIT_INTERRUPTED
from aisys_verify.signals import raise_interrupt


def add_commands(sub: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    chaos = sub.add_parser("chaos", help="chaos scenarios, the fault matrix, emergency stop")
    chaos_sub = chaos.add_subparsers(dest="chaos_command", required=True, parser_class=type(chaos))
    run = chaos_sub.add_parser("run", help="run a chaos scenario or a Chaos Toolkit experiment; write its journal",
                              description=(
        "Run SCENARIO (ours, or a Chaos Toolkit experiment, run by chaoslib: docs/ctk.md) against the spec "
        "(stood up for the run) or against a running stack (--stack ID). Exit 0 completed, 1 deviated/aborted/"
        "failed, 2 bad input, 130 interrupted (rolled back first)."))
    run.add_argument("scenario", type=Path, metavar="SCENARIO")
    spec_args(run)
    run.add_argument("--stack", metavar="ID", help="attach to a stack started by 'aisys-verify up' (see 'status')")
    run.add_argument("--journal", type=Path, metavar="FILE",
                     help="where to write the journal (default: reports/chaos/<scenario>-<time>.json)")
    run.set_defaults(handler=cmd_run)
    export = chaos_sub.add_parser("export", help="write a scenario as a Chaos Toolkit experiment", description=(
        "Write SCENARIO as a Chaos Toolkit experiment whose python providers point at aisys_verify.ctk; run it "
        "with 'AISYS_STACK=<id> chaos run FILE' against a stack from 'aisys-verify up'."))
    export.add_argument("scenario", type=Path, metavar="SCENARIO")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    export.add_argument("--format", choices=("json", "yaml"), default="json")
    export.set_defaults(handler=cmd_export)
    matrix = chaos_sub.add_parser("matrix", help="list the fault matrix of a spec (stable ids)")
    spec_args(matrix)
    matrix.add_argument("--select", default="", metavar="EXPR",
                        help="e.g. 'kind=partition host=pc2 group=memory_stack edge=A->B max-blast=10 limit=8'")
    matrix.add_argument("--format", choices=("text", "json"), default="text")
    matrix.set_defaults(handler=cmd_matrix)
    stop = chaos_sub.add_parser("emergency-stop", help="remove every fault of every running stack, from any shell")
    stop.set_defaults(handler=cmd_emergency_stop)


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.faults.experiment import run_experiment
    from aisys_verify.faults.scenario import load_scenario

    ctk = _ctk_experiment(args.scenario)
    if ctk:
        from aisys_verify.faults.ctkrun import load_ctk_experiment

        load_ctk_experiment(args.scenario)  # bad input fails before anything starts
    scenario = None if ctk else load_scenario(args.scenario)
    journal = args.journal or Path("reports") / "chaos" / f"{args.scenario.stem}-{time.strftime('%Y%m%dT%H%M%S')}.json"

    def progress(line: str) -> None:
        print(line, flush=True)

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    stack: Any
    try:
        if args.stack:
            from aisys_verify.stack.attached import attach

            stack = attach(args.stack)
        else:
            from aisys_verify.stack.base import StackOptions, backend_class

            config = _config(args)
            stack = backend_class(config.backend)(config.spec, dict(config.spec_vars), StackOptions(),
                                                  progress=progress)
            stack.start()
        try:
            if ctk:
                from aisys_verify.faults.ctkrun import run_ctk_experiment

                result = run_ctk_experiment(args.scenario, stack, journal_path=journal)
                if result["status"] == "interrupted":
                    raise KeyboardInterrupt
            else:
                assert scenario is not None
                result = run_experiment(stack, scenario, journal_path=journal, progress=progress)
        except KeyboardInterrupt:
            print(f"aisys-verify: chaos: interrupted; rolled back; journal: {journal}", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            if not args.stack:
                stack.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"journal: {journal}")
    if result["status"] != "completed" or result.get("deviated") or result.get("abort_reason"):
        title = result["experiment"].get("title", args.scenario)
        reason = result.get("abort_reason") or ""
        print(f"aisys-verify: chaos: {title}: {result['status']}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _ctk_experiment(path: Path) -> bool:
    """Whether ``path`` holds a Chaos Toolkit experiment rather than one of our scenarios."""
    from aisys_verify.errors import ScenarioError
    from aisys_verify.faults.ctkrun import is_ctk_experiment
    from aisys_verify.yamlfile import read_yaml

    return is_ctk_experiment(read_yaml(path, ScenarioError, "experiment"))  # JSON is YAML too


def cmd_export(args: argparse.Namespace) -> int:
    from aisys_verify.faults.journal import export_experiment
    from aisys_verify.faults.scenario import load_scenario

    experiment = export_experiment(load_scenario(args.scenario))
    if args.format == "yaml":
        import yaml

        text = yaml.safe_dump(experiment, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(experiment, indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"aisys-verify: wrote {args.output} (Chaos Toolkit experiment; AISYS_STACK=<id> chaos run {args.output})")
    else:
        sys.stdout.write(text)
    return EXIT_OK



def cmd_matrix(args: argparse.Namespace) -> int:
    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.faults.matrix import Selection, fault_matrix
    from aisys_verify.spec.loader import load_spec

    config = _config(args)
    cases = fault_matrix(load_spec(config.spec, config.spec_vars), Selection.parse(args.select))
    if args.format == "json":
        print(json.dumps([{"id": c.id, "kind": c.kind, "caller": c.caller, "callee": c.callee, "purpose": c.purpose,
                           "critical": c.critical, "blast_radius": list(c.blast_radius)} for c in cases], indent=1))
    else:
        for case in cases:
            print(f"{case.id:<90} {case.purpose:<10} {'critical' if case.critical else 'optional':<8} "
                  f"blast radius {len(case.blast_radius)}")
        print(f"{len(cases)} case(s)")
    return EXIT_OK


def cmd_emergency_stop(_args: argparse.Namespace) -> int:
    from aisys_verify.faults.hygiene import emergency_stop

    done = emergency_stop()
    for line in done:
        print(f"aisys-verify: {line}")
    if not done:
        print("aisys-verify: no running stacks and no pressure cgroups: nothing to stop")
    return EXIT_OK
