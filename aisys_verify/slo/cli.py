"""``aisys-verify slo ...``: the seed's SLO calculator, over a test run instead of days of Prometheus.

    aisys-verify slo report RESULTS [PATH...] [--openslo FILE] [--phase NAME] [--json OUT] [--strict]
    aisys-verify slo list [PATH...] [--openslo FILE]
    aisys-verify slo rules [PATH...] [--openslo FILE] [--only SLO] [--out DIR] [--test] [--dashboards]

RESULTS is a load run folder (aisys_verify.load) or an SLO run record (the SLO driver's JSON, which
may also hold metric scrapes). Exit 0 when no SLO failed, 1 when one did (or, with --strict, when
one is inconclusive), 2 on unusable input. ``slo rules`` writes Prometheus recording and burn-rate
alerting rules (stdout, or DIR/slo-rules.yml with --out), checks them with ``promtool check rules`` and,
with --test, generates and runs ``promtool test rules`` suites; with --dashboards it also writes a Grafana
dashboard per service (DIR/dashboards/). Exit 1 when promtool rejects them (docs/observability.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.errors import PromtoolFailed, UsageError
from aisys_verify.slo.verdict import Status


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    slo = sub.add_parser("slo", help="SLO verdicts, error budgets and burn rates over a run",
                         description="Judge the spec's SLOs (and OpenSLO documents) over a load run.")
    commands = slo.add_subparsers(dest="slo_command", metavar="{report,list,rules}", required=True)
    report = commands.add_parser("report", help="a verdict per SLO over a run: table on stdout, JSON with --json",
                                 description="Pass, fail or inconclusive per SLO, with the confidence interval, "
                                             "the sample count and, when undecided, the samples it would need.")
    report.add_argument("results", metavar="RESULTS", help="a load run folder, or an SLO run record (.json)")
    spec_args(report)
    report.add_argument("--openslo", action="append", default=[], type=Path, metavar="FILE",
                        help="also judge the SLOs of this OpenSLO v1 file (repeatable)")
    report.add_argument("--phase", help="only this phase of the run (baseline, fault, recovery, ...)")
    report.add_argument("--json", type=Path, metavar="OUT", help="write the verdicts as JSON here")
    report.add_argument("--confidence", type=float, default=0.95, help="confidence of each bound (default 0.95)")
    report.add_argument("--strict", action="store_true", help="exit 1 when an SLO is inconclusive, too")
    report.set_defaults(handler=cmd_report)
    listing = commands.add_parser("list", help="the SLOs in the internal model (kind, objective, budget)")
    spec_args(listing)
    listing.add_argument("--openslo", action="append", default=[], type=Path, metavar="FILE")
    listing.set_defaults(handler=cmd_list)
    rules = commands.add_parser("rules", help="Prometheus recording and burn-rate alert rules from the SLOs",
                                description="Recording rules per SLO error ratio and the SRE Workbook's multi-window, "
                                            "multi-burn-rate alerts (14.4x 1h/5m and 6x 6h/30m page, 1x 3d/6h "
                                            "ticket), checked with promtool; --test also unit-tests them.")
    spec_args(rules)
    rules.add_argument("--openslo", action="append", default=[], type=Path, metavar="FILE")
    rules.add_argument("--only", action="append", default=[], metavar="SLO",
                       help="only this SLO (repeatable; default: every SLO of the spec and the OpenSLO files)")
    rules.add_argument("--out", type=Path, metavar="DIR", help="write DIR/slo-rules.yml (else print the rules)")
    rules.add_argument("--test", action="store_true",
                       help="generate promtool unit tests per SLO into DIR/promtool-tests and run them (needs --out)")
    rules.add_argument("--dashboards", action="store_true",
                       help="also write a Grafana dashboard per service into DIR/dashboards (needs --out)")
    rules.set_defaults(handler=cmd_rules)


def _session(args: argparse.Namespace) -> Any:
    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.slo.assertions import SloSession
    from aisys_verify.slo.openslo import load_openslo
    from aisys_verify.spec.loader import load_spec

    if not 0 < args.__dict__.get("confidence", 0.95) < 1:
        raise UsageError(f"--confidence must be in (0, 1), got {args.confidence}")
    config = _config(args)
    session = SloSession(load_spec(config.spec, config.spec_vars), args.__dict__.get("confidence", 0.95))
    for path in args.openslo:
        openslo = load_openslo(path)
        for note in openslo.notes:
            print(f"aisys-verify: note: {note}", file=sys.stderr)
        session.slos = session.slos + openslo.slos
    return session


def read_run(path: str) -> tuple[Any, Any]:
    """(load results, metrics delta or None) from a run folder or an SLO run record."""
    from aisys_verify.slo.driver import RunRecord

    target = Path(path)
    if target.is_dir() and (target / "slo-run.json").is_file():
        target = target / "slo-run.json"
    if target.is_file():
        record = RunRecord.load(target)
        return record, record.metrics
    if not target.exists():
        raise UsageError(f"no run at '{path}': pass a load run folder or an SLO run record (.json)")
    from aisys_verify.load.results import read_results

    return read_results(target), None


def cmd_report(args: argparse.Namespace) -> int:
    from aisys_verify.slo.report import table, write_json

    session = _session(args)
    load, metrics = read_run(args.results)
    evaluation = session.evaluate(load=load, metrics=metrics, phase=args.phase)
    print(table(evaluation))
    if args.json:
        write_json(evaluation, args.json)
        print(f"aisys-verify: wrote {len(evaluation.verdicts)} verdicts to {args.json}")
    failed = evaluation.with_status(Status.FAIL)
    undecided = evaluation.with_status(Status.INCONCLUSIVE)
    return 1 if failed or (args.strict and undecided) else 0


def cmd_list(args: argparse.Namespace) -> int:
    session = _session(args)
    rows = [{"slo": s.name, "service": s.service, "kind": s.kind.value, "objective": s.objective_text(),
             "budget": round(s.budget, 9), "groups": sorted(f"{h}/{g}" for h, g in session.services.targets(s)),
             "defined": s.source, "judged": s.judged, **({"not_judged": s.unjudged} if s.unjudged else {})}
            for s in session.slos]
    for row in rows:
        print(json.dumps(row))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from aisys_verify.slo.alerts import rule_set
    from aisys_verify.slo.promtool import promtool_check, promtool_test, write_rules

    if (args.test or args.dashboards) and args.out is None:
        raise UsageError("--test and --dashboards write files: give --out DIR")
    session = _session(args)
    slos = [session.slo(name) for name in args.only] if args.only else list(session.slos)
    rules = rule_set(slos)
    if args.out is None:
        sys.stdout.write(rules.yaml())
        return 0
    written = write_rules(rules, args.out, tests=args.test)
    for note in written.notes:
        print(f"aisys-verify: note: {note}", file=sys.stderr)
    try:
        print(promtool_check([written.rules]))
    except PromtoolFailed as exc:
        print(f"aisys-verify: {exc}", file=sys.stderr)
        return 1
    print(f"aisys-verify: wrote {len(rules.rules)} rule groups to {written.rules}")
    if args.dashboards:
        from aisys_verify.errors import CapabilityMissing, DashboardInvalid
        from aisys_verify.slo.dashboards import validate_dashboards, write_dashboards

        boards = write_dashboards(slos, args.out / "dashboards")
        print(f"aisys-verify: wrote {len(boards)} dashboards to {args.out / 'dashboards'}")
        try:
            print(validate_dashboards(boards))
        except CapabilityMissing as exc:
            print(f"aisys-verify: note: dashboards not checked against Grafana's schema: {exc}", file=sys.stderr)
        except DashboardInvalid as exc:
            print(f"aisys-verify: {exc}", file=sys.stderr)
            return 1
    if args.test:
        try:
            promtool_test(written.tests)
        except PromtoolFailed as exc:
            print(f"aisys-verify: {exc}", file=sys.stderr)
            return 1
        print(f"aisys-verify: promtool test rules: {len(written.tests)} files, {written.checks} alert checks passed")
    return 0
