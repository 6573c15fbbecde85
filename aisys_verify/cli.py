"""The ``aisys-verify`` command line.

Exit codes: 0 clean; 1 findings at or above --fail-on; 2 unusable input or usage
(a one-line message naming file:line, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from aisys_verify import __version__
from aisys_verify.cli_support import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERRUPTED
from aisys_verify.cli_support import config_from_args as _config
from aisys_verify.cli_support import spec_args as _spec_args
from aisys_verify.errors import SpecError, UsageError, VerifyError
from aisys_verify.waiting import wait_until

# EXIT_* stay importable from here (callers use aisys_verify.cli.EXIT_*); the families take them, the spec
# arguments and the config from cli_support, never from this module that loads them


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aisys-verify", description="Make a multi-agent AI deployment spec executable.")
    parser.add_argument("--version", action="version", version=f"aisys-verify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lint = sub.add_parser("lint", help="cross-check a deployment spec", description=(
        "Load startup configs, compose files, SLO configs and host facts under PATH... and report what is "
        "inconsistent. Exit 0 clean, 1 findings at or above --fail-on, 2 unusable input."))
    _spec_args(lint)
    lint.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="output format")
    lint.add_argument("--output", "-o", type=Path, help="write the report to this file instead of stdout")
    lint.add_argument("--fail-on", choices=("error", "warning", "note"), default=None,
                      help="lowest severity that makes the exit code 1 (default: error)")
    lint.add_argument("--select", action="append", default=[], metavar="RULE",
                      help="only these rules (id, name, id prefix or family); repeatable")
    lint.add_argument("--ignore", action="append", default=[], metavar="RULE", help="skip these rules; repeatable")
    lint.add_argument("--quiet", "-q", action="store_true", help="text format: one line per finding")

    spec = sub.add_parser("spec", help="show the topology a spec describes")
    _spec_args(spec)
    spec.add_argument("--format", choices=("text", "json"), default="text")

    sub.add_parser("rules", help="list the lint rules")

    up = sub.add_parser("up", help="stand the spec up in the background (stand-ins, Redis, Toxiproxy)")
    _spec_args(up)
    up.add_argument("--backend", choices=("local", "compose"), default=None, help="default: local")
    up.add_argument("--no-proxies", action="store_true", help="no Toxiproxy: agents dial each other directly")
    up.add_argument("--health-timeout", type=float, default=30.0, help="seconds per start layer")
    sub.add_parser("status", help="list running stacks and the health of their agents")
    probe = sub.add_parser("probe", help="probe health: HTTP and ZeroMQ targets, one JSON line each", description=(
        "Probe http://HOST:PORT/PATH and zmq://HOST:PORT (an agent's health socket): up when the health reply "
        "(either shape) says ok; HTTP is judged by the body too, so 200 with a body saying degraded is degraded. "
        "Exit 0 when every target is up, 1 otherwise: usable as a container HEALTHCHECK."))
    probe.add_argument("targets", nargs="*", metavar="TARGET")
    probe.add_argument("--stack", metavar="ID", help="probe every agent of a running stack (see 'status')")
    probe.add_argument("--timeout", type=float, default=5.0, help="seconds per target (default 5)")
    probe.add_argument("--push", metavar="URL", help="also POST each result here (the hub's /ingest)")
    down = sub.add_parser("down", help="stop this project's stacks (and leftovers of killed runs)", description=(
        "Without ID: stop the stacks this user started from this project folder, and any stack whose owner is "
        "gone; stacks of other users or projects (a parallel job) keep running. --all stops every stack."))
    down.add_argument("stack_id", nargs="?", help="only this stack")
    down.add_argument("--all", action="store_true", help="every stack in the state folder, whoever started it")
    for module in COMMAND_FAMILIES:  # chaos, load, slo, conformance: each module adds its own sub-commands
        import_module(module).add_commands(sub, _spec_args)
    return parser


def cmd_lint(args: argparse.Namespace) -> int:
    from aisys_verify.lint.output import RENDERERS, render_text
    from aisys_verify.lint.runner import lint
    from aisys_verify.spec.loader import load_spec

    config = _config(args)
    report = lint(load_spec(config.spec, config.spec_vars), args.select, args.ignore)
    text = render_text(report, not args.quiet) if args.format == "text" else RENDERERS[args.format](report)
    if args.output:
        _write_report(args.output, text)
        print(f"aisys-verify: wrote {args.format} report to {args.output} ({sum(report.counts().values())} findings)")
    else:
        sys.stdout.write(text)
    return EXIT_FINDINGS if report.at_or_above(config.lint_fail_on) else EXIT_CLEAN


def _write_report(path: Path, text: str) -> None:
    """Write a report file; a path that cannot be written (a folder, no permission) is a usage error."""
    if path.is_dir():
        raise UsageError(f"--output '{path}' is a directory: name a file in it, e.g. '{path / 'lint-report.txt'}'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output '{path}' cannot be written: {exc.strerror or exc}") from exc


def cmd_spec(args: argparse.Namespace) -> int:
    from aisys_verify.plan.edges import declared_calls
    from aisys_verify.spec.loader import load_spec

    config = _config(args)
    topology = load_spec(config.spec, config.spec_vars)
    if args.format == "json":
        print(json.dumps(topology.summary(), indent=2))
        return EXIT_CLEAN
    for host in topology.hosts:
        print(f"host {host.name}: {len(host.agents)} agents, {len(host.groups)} docker groups"
              + (f"  ({host.startup_config})" if host.startup_config else ""))
        for group in host.groups:
            print(f"  {group.name}: {', '.join(r.name for r in group.agents)}")
    summary = topology.summary()
    print(f"edges: {', '.join(f'{n} {k}' for k, n in summary['edges'].items())}")
    # run-time calls the spec declares (calls:) are edges too: what the stand-ins dial, proxy and fault
    declared = declared_calls(topology)
    if declared:
        print(f"declared calls: {len(declared)}")
        for edge in declared:
            print(f"  {edge.caller} -> {edge.callee}{' (critical)' if edge.critical else ''}")
    print(f"compose projects: {', '.join(summary['compose_projects']) or 'none'}; SLOs: {summary['slos']}")
    return EXIT_CLEAN


def cmd_rules(_args: argparse.Namespace) -> int:
    from aisys_verify.lint.registry import RULES
    from aisys_verify.lint.runner import lint  # noqa: F401  (imports every rule family)

    for rule in sorted(RULES.values(), key=lambda r: r.id):
        print(f"{rule.id:<8} {rule.severity.label:<7}  {rule.family:<13} {rule.name}: {rule.summary}")
    return EXIT_CLEAN


def cmd_up(args: argparse.Namespace) -> int:
    import subprocess

    config = _config(args).with_overrides(backend=args.backend)
    cmd = [sys.executable, "-m", "aisys_verify.stack.daemon", *(f"--spec={p}" for p in config.spec),
           *(f"--var={k}={v}" for k, v in config.spec_vars.items()), "--backend", config.backend,
           "--health-timeout", str(args.health_timeout), *(["--no-proxies"] if args.no_proxies else []),
           *(["--tls", ",".join(f"{k}={v}" for k, v in config.tls.items())] if config.tls else [])]
    print(f"aisys-verify: starting {config.backend} stack for {', '.join(map(str, config.spec))} ...", flush=True)
    daemon = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    assert daemon.stdout is not None
    line = daemon.stdout.readline()
    daemon.stdout.close()
    try:
        event = json.loads(line)
    except ValueError:
        print(f"aisys-verify: error: the stack supervisor exited (code {daemon.wait()}) without a report",
              file=sys.stderr)
        return EXIT_INPUT
    for progress in event.get("progress", []):
        print(progress)
    if event.get("event") != "ready":
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(10)  # it has stopped what it started; let it finish exiting before we report
        print(f"aisys-verify: error: {event.get('error')}", file=sys.stderr)
        return EXIT_FINDINGS
    print(f"aisys-verify: stack {event['stack_id']} up ({event['agents']} agents) in {event['seconds']:.2f} s; "
          f"endpoints: {event['workdir']}/endpoints.json; stop it with 'aisys-verify down'")
    if event.get("tls_client"):
        print(f"aisys-verify: mTLS on: clients in another shell present its certificate with "
              f"'export AISYS_TLS_CLIENT={event['tls_client']}'")
    if event.get("inventory"):
        print(f"aisys-verify: inventory: {event['inventory']} (verify it as a running deployment: pytest "
              f"--aisys-backend=external --aisys-inventory={event['inventory']})")
    return EXIT_CLEAN


def cmd_status(_args: argparse.Namespace) -> int:
    from aisys_verify.stack.state import list_stacks

    stacks = list_stacks()
    if not stacks:
        print("aisys-verify: no stacks running")
        return EXIT_CLEAN
    for record, live in stacks:
        roles: dict[str, int] = {}
        for proc in live:
            roles[proc.role] = roles.get(proc.role, 0) + 1
        if record.backend == "compose":
            from aisys_verify.stack.docker import labelled_objects

            objects = labelled_objects(record.stack_id).get(record.stack_id)
            if objects is not None:
                roles["container"] = len(objects.containers)
        summary = ", ".join(f"{n} {role}" for role, n in sorted(roles.items())) or "no live processes (stale)"
        print(f"{record.stack_id}  {record.backend:<8} {' '.join(record.spec)}  owner pid {record.owner_pid}: "
              f"{summary}")
        endpoints = Path(record.workdir) / "endpoints.json"
        if endpoints.is_file() and live:
            print(f"    {_health_line(json.loads(endpoints.read_text()))}")
    return EXIT_CLEAN


def _health_line(endpoints: list[dict[str, object]]) -> str:
    from aisys_verify.health import zmq_health

    counts: dict[str, int] = {}
    for ep in endpoints:  # read by aisys_verify.health: either reply shape, the same words for both
        status = zmq_health(f"tcp://{ep['address']}:{ep['health_port']}", 0.5).word_or_state
        counts[status] = counts.get(status, 0) + 1
    return "agents: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def cmd_probe(args: argparse.Namespace) -> int:
    from aisys_verify.probe import UP, parse_target, probe, push

    targets = list(args.targets)
    if args.stack:
        from aisys_verify.stack.state import list_stacks

        record = next((r for r, _ in list_stacks() if r.stack_id == args.stack), None)
        endpoints = Path(record.workdir) / "endpoints.json" if record else None
        if endpoints is None or not endpoints.is_file():
            raise UsageError(f"no running stack {args.stack!r} with endpoints (see 'aisys-verify status')")
        targets += [f"zmq://{e['address']}:{e['health_port']}" for e in json.loads(endpoints.read_text())]
    if not targets:
        raise UsageError("nothing to probe: give TARGET... or --stack ID")
    for target in targets:
        parse_target(target)  # all usage errors before any probing
    down = 0
    for target in targets:
        result = probe(target, args.timeout)
        print(result.line(), flush=True)
        if args.push and (error := push(result, args.push)):
            print(json.dumps({"target": target, "push_error": error[:256]}), file=sys.stderr)
        down += result.status != UP
    return EXIT_CLEAN if down == 0 else EXIT_FINDINGS


def cmd_down(args: argparse.Namespace) -> int:
    import signal

    from aisys_verify.stack import state

    if args.all and args.stack_id:
        raise UsageError("down: give a stack ID or --all, not both")
    stopped = 0
    spared: list[str] = []
    for record, _live in state.list_stacks():
        if args.stack_id and record.stack_id != args.stack_id:
            continue
        # without an id, another user's or project's live stack (a parallel job) is never touched
        if not args.stack_id and not args.all and not state.mine_or_orphaned(record):
            spared.append(record.stack_id)
            continue
        # ask a live owner (an `up` supervisor or a pytest run) to stop cleanly, then make sure; a dead
        # owner's PID may belong to someone else by now, so it is never signalled
        if state.owner_alive(record) and record.owner_pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.owner_pid, signal.SIGTERM)
            # the owner removes the record while stopping, then still has to exit: wait for both, so that
            # 'down' returning means nothing of the stack runs any more
            wait_until(functools.partial(state.owner_gone, record), 10, 0.05)
        killed = state.kill_recorded(record)
        if record.backend == "compose":
            from aisys_verify.stack.docker import reap_compose

            reap_compose(include_live_owners=True, stack_id=record.stack_id)
        elif record.backend == "kubernetes":
            from aisys_verify.k8s.backend import down_record

            down_record(record)
        record.remove()
        stopped += 1
        print(f"aisys-verify: stopped stack {record.stack_id}"
              + (f" ({len(killed)} process(es) had to be killed)" if killed else ""))
    if not stopped:
        print("aisys-verify: no stacks to stop")
    if spared:
        print(f"aisys-verify: left {len(spared)} running stack(s) of other projects or users: {', '.join(spared)} "
              "('aisys-verify down ID' or 'aisys-verify down --all' stops them)")
    return EXIT_CLEAN


# Modules with ``add_commands(sub, spec_args)``: they add sub-parsers whose defaults set ``handler`` (a function
# of the parsed args returning an exit code). Imported only when the parser is built.
COMMAND_FAMILIES: tuple[str, ...] = ("aisys_verify.faults.cli", "aisys_verify.slo.cli", "aisys_verify.load.cli",
                                      "aisys_verify.conformance.cli", "aisys_verify.stack.inventory_cli",
                                      "aisys_verify.gpu.cli",
                                      "aisys_verify.backup.cli",
                                      "aisys_verify.k8s.cli",
                                      "aisys_verify.scaffold.cli",
                                      "aisys_verify.security.images_cli")

COMMANDS = {"lint": cmd_lint, "spec": cmd_spec, "rules": cmd_rules, "up": cmd_up, "status": cmd_status,
            "probe": cmd_probe, "down": cmd_down}


def _single_line(text: str) -> str:
    """Input and usage errors are one line: control characters from a path or value (a CR, a newline) are
    shown escaped, as repr() would, rather than breaking the line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return int(handler(args))
    except SpecError as exc:
        print(f"aisys-verify: error: {_single_line(exc.one_line())}", file=sys.stderr)
        return EXIT_INPUT
    except UsageError as exc:
        print(f"aisys-verify: error: {_single_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except VerifyError as exc:
        print(f"aisys-verify: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("aisys-verify: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_CLEAN
    except SystemExit as exc:  # argparse's --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
