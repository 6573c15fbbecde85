"""``aisys-verify load``: run a load scenario and show its results.

    aisys-verify load run SCENARIO [PATH...]      stand the spec up, drive the scenario, stop the stack
    aisys-verify load run SCENARIO --url URL      a plain http-get scenario against a URL (no stack)
    aisys-verify load show RUN_DIR                the summary of a run folder

Exit codes: 0 the shape was delivered and the generator kept up; 1 the shape was not delivered or the
generator's CPU saturated (the numbers are suspect); 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    load = sub.add_parser("load", help="drive load shapes through Locust and record exact latencies")
    family = load.add_subparsers(dest="load_command", required=True, parser_class=type(load))
    run = family.add_parser("run", help="run a load scenario (a name in scenarios/load/ or a YAML file)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", metavar="SCENARIO", help="scenario name (scenarios/load/NAME.yaml) or YAML path")
    spec_args(run)
    run.add_argument("--url", help="target URL for an http-get scenario (no stack is stood up)")
    run.add_argument("--workers", type=int, default=None,
                     help="Locust worker processes (0: one process; default: the scenario's 'workers')")
    run.add_argument("--remote-workers", type=int, default=0, metavar="K",
                     help="also wait for K workers started by hand on other machines (docs/load.md)")
    run.add_argument("--master-bind", default="127.0.0.1", metavar="ADDRESS",
                     help="where the master listens for workers (0.0.0.0 for remote workers)")
    run.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under reports/load/)")
    run.add_argument("--csv", action="store_true", help="also keep Locust's own (rounded) CSV stats")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=cmd_load_run)
    show = family.add_parser("show", help="summarise a load run folder (or its results.json)")
    show.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(handler=cmd_load_show)


def _print(results: Any, as_json: bool) -> int:
    from aisys_verify.load.runner import results_summary_line

    summary = results.summary() | {"conformance": results.conformance, "schedule": results.schedule,
                                   "run_dir": str(results.run_dir)}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(results_summary_line(results))
        for name, row in summary["endpoints"].items():
            lat = ", ".join(f"{k.removesuffix('_ms')} {v} ms" for k, v in row.items() if k.endswith("_ms"))
            print(f"  {name}: {row['requests']} requests, {row['failed']} failed, {row['rps']} req/s; {lat}")
        for problem in results.conformance.get("problems", []):
            print(f"  shape: {problem}")
        if results.saturated:
            print(f"  generator CPU saturated in {', '.join(results.generator.get('saturated_processes', []))}: "
                  "add workers (--workers N) or lower the load")
        print(f"  results: {results.run_dir}/results.json, timeseries.csv")
    return 0 if results.conformance.get("ok") and not results.saturated else 1


def cmd_load_run(args: argparse.Namespace) -> int:
    import time

    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.errors import UsageError
    from aisys_verify.load.runner import RunOptions, run_load
    from aisys_verify.load.scenario import load_scenario

    scenario = load_scenario(args.scenario, Path.cwd())
    if (args.workers is not None and args.workers < 0) or args.remote_workers < 0:
        raise UsageError(f"--workers and --remote-workers must be >= 0, got {args.workers}, {args.remote_workers}")
    out = args.out or Path("reports") / "load" / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    options = RunOptions(workers=args.workers, remote_workers=args.remote_workers, master_bind=args.master_bind,
                         csv=args.csv)
    if args.url:
        results = run_load(scenario, args.url, out, options, progress=print)
        return _print(results, args.json)
    from aisys_verify.stack.base import StackOptions, backend_class

    config = _config(args)
    stack = backend_class(config.backend)(config.spec, dict(config.spec_vars),
                                          StackOptions(interpose=config.interpose), progress=print)
    try:
        stack.start()
        results = run_load(scenario, stack, out, options, progress=print)
    finally:
        stack.stop()
    return _print(results, args.json)


def cmd_load_show(args: argparse.Namespace) -> int:
    from aisys_verify.load.results import read_results

    return _print(read_results(args.run_dir), args.json)
