"""``python -m aisys_verify.standin [run] --spec PATH --host H --group G`` runs one group;
``python -m aisys_verify.standin healthcheck --spec PATH --host H --group G`` probes its agents'
HTTP /health (exit 0 only when every agent answers status ok), for container HEALTHCHECKs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from aisys_verify.config import parse_vars
from aisys_verify.errors import SpecError, VerifyError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aisys_verify.standin")
    parser.add_argument("command", nargs="?", choices=("run", "healthcheck", "launch"), default="run")
    parser.add_argument("--spec", action="append", required=True, help="spec folder or file (repeatable)")
    parser.add_argument("--host", help="run/healthcheck: the group's host")
    parser.add_argument("--group", help="run/healthcheck: the docker group")
    parser.add_argument("--layers", help="launch: JSON list of layers, each a list of [host, group]")
    parser.add_argument("--start", choices=("graph", "layered"), default="graph",
                        help="launch: start each group once the groups it needs are healthy (graph), or layer by "
                             "layer (layered)")
    parser.add_argument("--health-timeout", type=float, default=30.0,
                        help="launch: seconds per group (graph) or per layer (layered)")
    parser.add_argument("--stack-id", help="launch: marks the processes of one stack (for cleanup)")
    parser.add_argument("--plan", help="run plan JSON written by the stack (addresses, proxies, trace exporter)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--data-dir", help="where stores live (default: the plan's data_dir)")
    parser.add_argument("--timeout", type=float, default=2.0, help="healthcheck: seconds per agent")
    return parser


async def _healthcheck(args: argparse.Namespace, spec_vars: dict[str, str]) -> int:
    from aisys_verify.health import read_http
    from aisys_verify.plan.groups import agents_of_group
    from aisys_verify.stack.base import health_gate
    from aisys_verify.standin.group import load_configured
    from aisys_verify.standin.httpd import fetch
    from aisys_verify.tlsclient import context_for

    # configured as `run` is (spec, plan, the real agents' environment), so it probes where they listen
    topology, plan, _ = load_configured(args.spec, args.host, args.group, args.plan, spec_vars, None)
    gate = health_gate(topology, plan)  # the stack's gate: start defects skipped, answering enough for some
    bad = 0
    for agent in agents_of_group(topology, args.host, args.group):
        if not gate.waits_for(agent.key):
            print(json.dumps({"target": agent.name, "status": "skipped", "defect": gate.skipped[agent.key]}))
            continue
        address = plan.address_of(agent.key, args.host)
        port = plan.http_ports[agent.key]
        try:
            status, body = await fetch(address, port, "GET", "/health", timeout=args.timeout,
                                       tls=context_for(address, port))  # HTTPS where the stack's TLS is on
            reading = read_http(status, body)
            ok = gate.passes(agent.key, reading)
            line = {"target": agent.name, "status": reading.word, "state": reading.state, "http_status": status,
                    "message": reading.message}
        except (OSError, TimeoutError, ValueError) as exc:
            ok, line = False, {"target": agent.name, "status": "down", "error": str(exc) or type(exc).__name__}
        bad += not ok
        print(json.dumps(line))
    return 0 if bad == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec_vars = parse_vars(args.var, "--var")
        if args.command == "launch":
            from aisys_verify.standin.launcher import run_launcher

            if not args.plan or not args.layers:
                raise VerifyError("launch needs --plan and --layers")
            return run_launcher(args.spec, spec_vars, args.plan, json.loads(args.layers), args.health_timeout,
                                args.start)
        if not args.host or not args.group:
            raise VerifyError(f"{args.command} needs --host and --group")
        if args.command == "healthcheck":
            return asyncio.run(_healthcheck(args, spec_vars))
        from aisys_verify.standin.group import main_run

        return main_run(args.spec, args.host, args.group, args.plan, spec_vars, args.data_dir)
    except SpecError as exc:
        print(f"aisys-verify standin: {exc.one_line()}", file=sys.stderr)
        return 2
    except VerifyError as exc:
        print(f"aisys-verify standin: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
