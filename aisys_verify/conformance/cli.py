"""``aisys-verify conformance``: the conformance checks from the command line, one line per agent and check.

    aisys-verify conformance [PATH...] [--stack ID] [--format text|json]
                             [--standin-profile ideal|reference] [--standin-defects NAME,...|all]
                             [--agent HOST/Name]... [--check NAME]... [--observe-s S] [--crash-bound-s S]
                             [--http-policy status|body]

Stands the spec up for the run (or attaches to a stack from 'aisys-verify up' with --stack; an attached
stack cannot kill and restart groups, so 'ready_after_crash' is reported not checked there). Exit 0 when
every check passed (or was not applicable), 1 when some failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

# one set of exit codes for every family, named here for this family's verbs: 0 ok, 1 failed, 130 interrupted
from aisys_verify.cli_support import EXIT_CLEAN as EXIT_OK
from aisys_verify.cli_support import EXIT_FINDINGS as EXIT_FAILED
from aisys_verify.cli_support import EXIT_INTERRUPTED
from aisys_verify.signals import raise_interrupt


def add_commands(sub: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    from aisys_verify.conformance.model import CHECKS

    run = sub.add_parser("conformance", help="check every agent against the PROTOCOL.md contract", description=(
        "Run the conformance checks (docs/conformance.md) per agent of the spec, stood up for the run or a "
        "running stack (--stack ID). One line per agent and check. Exit 0 all pass, 1 some fail, 2 bad input."))
    spec_args(run)
    run.add_argument("--stack", metavar="ID", help="attach to a stack started by 'aisys-verify up' (see 'status')")
    run.add_argument("--format", choices=("text", "json"), default="text")
    run.add_argument("--standin-profile", choices=("ideal", "reference"), default=None,
                     help="protocol the stand-ins speak when the spec is stood up here (default: ideal)")
    run.add_argument("--standin-defects", default=None, metavar="NAME,...|all",
                     help="real agents' defects the reference stand-ins reproduce (to prove the checks catch them)")
    run.add_argument("--agent", action="append", default=[], metavar="HOST/NAME", help="only this agent; repeatable")
    run.add_argument("--check", action="append", default=[], choices=CHECKS, metavar="CHECK",
                     help=f"only this check ({', '.join(CHECKS)}); repeatable")
    run.add_argument("--observe-s", type=float, default=None, metavar="SECONDS",
                     help="readiness TTL observation window (default: refresh interval + 2.5 s)")
    run.add_argument("--crash-bound-s", type=float, default=30.0, metavar="SECONDS",
                     help="how long a killed agent's readiness key may still read ready (default 30)")
    run.add_argument("--http-policy", choices=("status", "body"), default="status",
                     help="degraded HTTP /health must be non-2xx (status) or may be 2xx with a degraded body (body)")
    run.set_defaults(handler=cmd_conformance)


def cmd_conformance(args: argparse.Namespace) -> int:
    from aisys_verify.conformance import Conformance, ConformanceOptions
    from aisys_verify.errors import UsageError

    try:
        options = ConformanceOptions(observe_s=args.observe_s, crash_bound_s=args.crash_bound_s,
                                     http_policy=args.http_policy)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.stack and (args.paths or args.standin_profile or args.standin_defects):
        raise UsageError("--stack attaches to a running stack: PATH, --standin-profile and --standin-defects "
                         "belong to the command that started it ('aisys-verify up')")
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    stack: Any = None
    try:
        stack = _stack(args)
        checks = tuple(args.check) or _all_checks()
        session = Conformance(stack, options, watch="ready_refreshed" in checks)
        agents = [session.target(a).key for a in args.agent] or None  # a bad name fails before any check
        failed = 0
        results = []
        try:
            for result in session.run(agents, checks):
                failed += result.failed
                if args.format == "text":
                    print(result.line(), flush=True)
                results.append(result)
        finally:
            session.close()
    except KeyboardInterrupt:
        print("aisys-verify: conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if stack is not None and not args.stack:
            stack.stop()
        signal.signal(signal.SIGTERM, previous)
    if args.format == "json":
        print(json.dumps({"results": [r.as_json() for r in results], "failed": failed,
                          "passed": sum(r.outcome == "pass" for r in results),
                          "skipped": sum(r.outcome == "skip" for r in results)}, indent=1))
    else:
        counts = {o: sum(r.outcome == o for r in results) for o in ("pass", "fail", "skip")}
        defects = sorted({d for r in results for d in r.defects})
        print(f"aisys-verify: conformance: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} not "
              f"checked" + (f"; PROTOCOL.md defects found: {', '.join(defects)}" if defects else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _all_checks() -> tuple[str, ...]:
    from aisys_verify.conformance.model import CHECKS

    return CHECKS


def _stack(args: argparse.Namespace) -> Any:
    """The running stack (--stack) or the spec stood up here, with the stand-in profile asked for."""
    if args.stack:
        from aisys_verify.stack.attached import attach

        return attach(args.stack)
    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.errors import UsageError
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.stack.base import StackOptions, backend_class

    config = _config(args).with_overrides(standin_profile=args.standin_profile,
                                          standin_defects=args.standin_defects)
    topology = load_spec(config.spec, config.spec_vars)  # bad input is reported before anything starts
    for name in args.agent:
        host, _, agent = name.rpartition("/")
        if topology.find_agent(agent, host or None) is None:
            raise UsageError(f"--agent {name}: no such agent in the spec (write HOST/Name, e.g. "
                             f"{topology.agents[0].key if topology.agents else 'mainpc/ServiceRegistry'})")
    stack = backend_class(config.backend)(config.spec, dict(config.spec_vars), StackOptions(
        standin_profile=config.standin_profile, standin_defects=tuple(config.standin_defects)),
        progress=lambda line: print(line, file=sys.stderr, flush=True))
    stack.start()
    return stack

