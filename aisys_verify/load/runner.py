"""Run a load scenario: Locust subprocesses (one, or a master and N workers), their CPU watched,
their part files merged into ``results.json``.

    results = run_load(load_scenario("spike"), stack)          # or a URL: run_load(scenario, "http://...")

Locust is never imported here; it runs as ``python -m locust -f aisys_verify/load/locustfile.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aisys_verify.errors import LoadError
from aisys_verify.load.conformance import check_conformance
from aisys_verify.load.histogram import Latencies
from aisys_verify.load.recorder import PART_PREFIX
from aisys_verify.load.results import Cell, EndpointInfo, LoadResults, Phase, read_results, write_results
from aisys_verify.load.scenario import GATEWAY_AGENT, WORKLOAD_ENDPOINTS, LoadScenario
from aisys_verify.waiting import poll

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CPU_SATURATED = 90.0        # % of one core, Locust's own warning threshold
SATURATED_FRACTION = 0.2    # of the samples of one process
START_GRACE_S = 60.0        # Locust start-up and worker connection, beyond the shape's duration


@dataclass(frozen=True)
class RunOptions:
    """How to run: ``workers`` 0 is one process; N is a master and N local workers (``None``: the scenario's).
    ``remote_workers``: more workers the master waits for, started by hand elsewhere (see docs/load.md)."""

    workers: int | None = None
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    csv: bool = False               # also keep Locust's own (rounded) CSV stats, for comparison only
    timeout_s: float | None = None  # default: shape duration + START_GRACE_S
    raw: bool = False               # self-tests: also write every latency (raw-*.json); memory grows with requests


def run_load(scenario: LoadScenario, target: Any, run_dir: str | os.PathLike[str] | None = None,
             options: RunOptions = RunOptions(), progress: Callable[[str], None] | None = None) -> LoadResults:
    """Drive ``scenario`` against ``target`` (a Stack, or a base URL for http-get), return the read-back results."""
    # absolute: the Locust processes run inside the folder (cwd), so a relative plan path would not resolve there
    folder = (Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(
        prefix=f"aisys-load-{scenario.name}-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob(f"{PART_PREFIX}*.json"), *folder.glob("raw-*.json")]:
        stale.unlink()
    plan, endpoints = build_plan(scenario, target, folder)
    plan_path = folder / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    workers = scenario.workers if options.workers is None else options.workers
    say = progress or (lambda line: None)
    say(f"load {scenario.name}: {scenario.shape.kind} ({scenario.model} model) for {scenario.shape.duration:g} s, "
        f"{'1 process' if not workers else f'a master and {workers} workers'}; results in {folder}")
    procs = _start(plan_path, folder, workers, options, _client_tls_files(target))
    samples = _watch(procs, scenario, options, folder, say)
    expected_parts = 1 + workers + options.remote_workers if workers or options.remote_workers else 1
    parts = _read_parts(folder, expected_parts, wait_s=30.0 if options.remote_workers else 2.0)
    return _merge(scenario, folder, endpoints, parts, samples, workers + options.remote_workers)


def build_plan(scenario: LoadScenario, target: Any, folder: Path) -> tuple[dict[str, Any], list[EndpointInfo]]:
    """The plan the locustfile reads (targets resolved to URLs) and the endpoints the run will touch."""
    plan: dict[str, Any] = {"run_dir": str(folder), "scenario": scenario.to_json(), "timeout": scenario.timeout,
                            "agents": {}, "host": None}
    endpoints: list[EndpointInfo] = []
    names = [w.name for w in scenario.workloads]
    if scenario.locustfile:
        return _user_file_plan(scenario, target, plan)
    if isinstance(target, str):
        if any(n != "http-get" for n in names):
            raise LoadError(f"{scenario.source}: workloads {', '.join(n for n in names if n != 'http-get')} need a "
                            "stack; against a plain URL only 'http-get' runs")
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadError(f"target {target!r} is not an http(s):// URL")
        options = dict(scenario.workloads[0].options)
        method, path = options.get("method", "GET").upper(), options.get("path", "/")
        name = f"http:{method} {path}"
        plan["host"] = target.rstrip("/")
        plan["http"] = {"endpoint": name, "method": method, "path": path}
        return plan, [EndpointInfo(name, parts.hostname, "", "http")]
    if "http-get" in names:
        raise LoadError(f"{scenario.source}: 'http-get' needs a URL target, not a stack")
    topology = getattr(target, "topology", None)
    if topology is None or not callable(getattr(target, "endpoint", None)):
        raise LoadError(f"load target {target!r} is neither a stack (aisys_stack, LocalStack) nor an http(s) URL")
    for workload in names:
        for kind, agent, action in WORKLOAD_ENDPOINTS[workload]:
            hosts = [a.host for a in topology.agents if a.name == agent]
            if not hosts:
                raise LoadError(f"{scenario.source}: workload '{workload}' needs agent {agent}, which the spec "
                                "does not declare; drop the workload or add the agent")
            endpoint = target.endpoint(agent, hosts[0])
            if kind == "http":
                plan["host"] = endpoint.http_url
                name = f"gateway:{action}" if agent == GATEWAY_AGENT else f"http:{hosts[0]}/{agent}:{action}"
            else:
                plan["agents"][agent] = {"url": endpoint.main_url, "host": hosts[0]}
                name = f"zmq:{hosts[0]}/{agent}:{action}"
            endpoints.append(EndpointInfo(name, hosts[0], agent, kind))
    return plan, endpoints


def _user_file_plan(scenario: LoadScenario, target: Any,
                    plan: dict[str, Any]) -> tuple[dict[str, Any], list[EndpointInfo]]:
    """A team's own Locust users: their HttpUsers' host is the URL, or the stack's gateway; the endpoints are their
    task names, known once they run (the merge adds each name it sees)."""
    if isinstance(target, str):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadError(f"target {target!r} is not an http(s):// URL")
        plan["host"] = target.rstrip("/")
    elif callable(getattr(target, "endpoint", None)) and getattr(target, "topology", None) is not None:
        hosts = [a.host for a in target.topology.agents if a.name == GATEWAY_AGENT]
        if not hosts:
            raise LoadError(f"{scenario.source}: a locustfile's HttpUsers go to the gateway ({GATEWAY_AGENT}), which "
                            "the spec does not declare; give a URL target instead")
        plan["host"] = target.endpoint(GATEWAY_AGENT, hosts[0]).http_url
    else:
        raise LoadError(f"load target {target!r} is neither a stack nor an http(s) URL")
    return plan, []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_Procs = list[tuple[str, "subprocess.Popen[bytes]"]]  # (name, process)


def _client_tls_files(target: Any) -> str:
    """``AISYS_TLS_CLIENT`` for the Locust processes: this process's, plus the target stack's own client file (a
    stack with TLS on names it there already; an attached or external one may not have): its users present the
    stack's client certificate to its TLS peers (load/locust_tls.py)."""
    from aisys_verify.tlsclient import TLS_CLIENT_ENV

    files = [p for p in os.environ.get(TLS_CLIENT_ENV, "").split(os.pathsep) if p]
    own = getattr(getattr(target, "tls", None), "client_file", None)
    if own is not None and str(own) not in files:
        files.append(str(own))
    return os.pathsep.join(files)


def _start(plan_path: Path, folder: Path, workers: int, options: RunOptions, client_tls: str = "") -> _Procs:
    from aisys_verify.tlsclient import TLS_CLIENT_ENV

    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    env = {**{k: v for k, v in os.environ.items() if k != TLS_CLIENT_ENV}, "AISYS_LOAD_PLAN": str(plan_path),
           "PYTHONUNBUFFERED": "1", "AISYS_LOAD_RAW": "1" if options.raw else "0",
           **({TLS_CLIENT_ENV: client_tls} if client_tls else {})}
    if options.csv:
        base += ["--csv", str(folder / "locust")]
    commands: list[tuple[str, list[str], dict[str, str]]] = []
    if not workers and not options.remote_workers:
        commands.append(("local", base, env | {"AISYS_LOAD_ROLE": "local"}))
    else:
        port = _free_port()
        total = workers + options.remote_workers
        (folder / "master.json").write_text(json.dumps({"bind": options.master_bind, "port": port,
                                                        "workers": total}), encoding="utf-8")
        commands.append(("master", [*base, "--master", "--master-bind-host", options.master_bind,
                                    "--master-bind-port", str(port), "--expect-workers", str(total)],
                         env | {"AISYS_LOAD_ROLE": "master"}))
        for i in range(workers):
            commands.append((f"worker-{i}", [*base[:5], "--worker", "--master-host", "127.0.0.1", "--master-port",
                                             str(port), "--loglevel", "WARNING"],
                             env | {"AISYS_LOAD_ROLE": "worker", "AISYS_LOAD_WORKER": str(i),
                                    "AISYS_LOAD_SHARE": repr(1.0 / total)}))
    procs = []
    try:
        for name, command, proc_env in commands:
            log = (folder / f"locust-{name}.log").open("wb")
            procs.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=proc_env,
                                                 start_new_session=True, cwd=folder)))
            log.close()
    except OSError as exc:
        _stop(procs)
        raise LoadError(f"cannot start Locust ({' '.join(base[:3])}): {exc}") from exc
    return procs


def _stop(procs: _Procs) -> None:
    for _, proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for _, proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _watch(procs: _Procs, scenario: LoadScenario, options: RunOptions,
           folder: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Wait for every process, sampling each one's CPU (% of one core) once a second."""
    import psutil  # type: ignore[import-untyped]

    handles = {}
    for name, proc in procs:
        with contextlib.suppress(psutil.Error):
            handles[name] = psutil.Process(proc.pid)
            handles[name].cpu_percent(None)
    limit = options.timeout_s or scenario.shape.duration + START_GRACE_S
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    next_note = 5.0
    try:
        while any(proc.poll() is None for _, proc in procs):
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            sample: dict[str, Any] = {"t": time.time(), "machine": psutil.cpu_percent(None)}
            for name, handle in handles.items():
                with contextlib.suppress(psutil.Error):
                    sample[name] = handle.cpu_percent(None)
                    sample[f"{name}_rss_mb"] = handle.memory_info().rss / 2**20
            samples.append(sample)
            if elapsed >= next_note:
                next_note += 5.0
                cpu = ", ".join(f"{k} {v:.0f}%" for k, v in sample.items()
                                if k not in ("t", "machine") and not k.endswith("_rss_mb"))
                say(f"  load {scenario.name}: {elapsed:.0f} s of ~{scenario.shape.duration:g} s; generator CPU {cpu}")
            if elapsed > limit:
                raise LoadError(f"load {scenario.name}: Locust still running after {limit:.0f} s "
                                f"(the shape lasts {scenario.shape.duration:g} s); stopped it. "
                                f"Logs: {folder}/locust-*.log")
    finally:
        _stop(procs)
    for name, proc in procs:
        if proc.returncode not in (0, None):
            raise LoadError(f"load {scenario.name}: Locust {name} exited with code {proc.returncode}; its log ends:\n"
                            f"{_tail(folder / f'locust-{name}.log')}")
    return samples


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


def _read_parts(folder: Path, expected: int, wait_s: float) -> list[dict[str, Any]]:
    files = poll(lambda: sorted(folder.glob(f"{PART_PREFIX}*.json")), wait_s, 0.2,
                 until=lambda found: len(found) >= expected).last
    parts = []
    for file in files:
        try:
            parts.append(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise LoadError(f"{file}: unreadable part of the load results: {exc}") from exc
    if not parts:
        raise LoadError(f"{folder}: Locust wrote no results (no {PART_PREFIX}*.json); see locust-*.log there")
    if len(parts) < expected:
        raise LoadError(f"{folder}: {len(parts)} of {expected} Locust processes wrote results; see locust-*.log")
    return parts


def _merge(scenario: LoadScenario, folder: Path, endpoints: list[EndpointInfo], parts: list[dict[str, Any]],
           samples: list[dict[str, Any]], workers: int) -> LoadResults:
    control_part = next(p for p in parts if not str(p["role"]).startswith("worker"))
    t0 = float(control_part["t0"])
    cells: dict[tuple[str, str], Cell] = {}
    seconds: dict[tuple[int, str], list[int]] = {}
    lag, unsent, after_end = Latencies(), 0, 0
    for part in parts:
        for raw in part["cells"]:
            key = (raw["phase"], raw["endpoint"])
            cell = cells.setdefault(key, Cell(*key))
            cell.total += raw["total"]
            cell.failed += raw["failed"]
            cell.latencies = cell.latencies.merge(Latencies.from_json(raw["latencies"]))
        for second, endpoint, requests, failures in part["seconds"]:
            counts = seconds.setdefault((int(second), endpoint), [0, 0])
            counts[0] += requests
            counts[1] += failures
        lag = lag.merge(Latencies.from_json(part["lag"]))
        unsent += int(part["unsent"])
        after_end += int(part.get("after_end", 0))
    known = {e.name for e in endpoints}
    for cell in cells.values():
        if cell.endpoint not in known:  # a name the plan did not foresee: keep it visible, never drop data
            endpoints.append(EndpointInfo(cell.endpoint, "", "", "zmq" if cell.endpoint.startswith("zmq:") else "http"))
            known.add(cell.endpoint)
    control = {int(row[0]): row[1:] for row in control_part["control"]}
    series: list[dict[str, float | str]] = []
    for second in sorted(control):
        users, target_users, target_rate = control[second]
        for info in endpoints:
            requests, failures = seconds.get((second, info.name), [0, 0])
            series.append({"t": float(second), "endpoint": info.name, "requests": requests, "failures": failures,
                           "users": users, "target_users": target_users,
                           "target_rate": math.nan if target_rate is None else float(target_rate)})
    phases = [Phase(span.name, t0 + span.start, t0 + span.end) for span in scenario.shape.phases()]
    generator = _generator(samples, workers) | {"requests_after_end": after_end}
    conformance = check_conformance(scenario, t0, control, seconds, cells, unsent)
    schedule: dict[str, Any] = {}
    if scenario.model == "open":
        schedule = {"unsent": unsent, "lag_count": lag.count}
        if lag.count:
            schedule |= {"lag_p50_s": lag.quantile(0.5), "lag_p99_s": lag.quantile(0.99), "lag_max_s": lag.max}
    ended = max(float(p.get("ended") or t0) for p in parts)
    write_results(folder, scenario=scenario.name, shape=scenario.shape.kind, model=scenario.model, started_at=t0,
                  ended_at=min(ended, t0 + scenario.shape.duration), phases=phases, endpoints=endpoints,
                  cells=sorted(cells.values(), key=lambda c: (c.phase, c.endpoint)), timeseries=series,
                  saturated=generator["saturated"], generator=generator, conformance=conformance,
                  schedule=schedule, extra={"source": scenario.source, "scenario": scenario.to_json()})
    return read_results(folder)


def _generator(samples: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    """Per Locust process: mean and max CPU, and whether it sat at or above CPU_SATURATED."""
    names = sorted({k for s in samples for k in s if k not in ("t", "machine") and not k.endswith("_rss_mb")})
    per: dict[str, Any] = {}
    saturated = []
    for name in names:
        values = [float(s[name]) for s in samples if name in s]
        hot = sum(v >= CPU_SATURATED for v in values)
        rss = [float(s[f"{name}_rss_mb"]) for s in samples if f"{name}_rss_mb" in s]
        per[name] = {"mean_cpu": round(sum(values) / len(values), 1) if values else None,
                     "max_cpu": max(values, default=None), "samples": len(values), "saturated_samples": hot,
                     "rss_mb_first": round(rss[0], 1) if rss else None,
                     "rss_mb_max": round(max(rss), 1) if rss else None}
        if hot >= 2 and hot >= SATURATED_FRACTION * len(values):
            saturated.append(name)
    machine = [float(s["machine"]) for s in samples]
    return {"processes": per, "workers": workers, "saturated": bool(saturated), "saturated_processes": saturated,
            "machine_cpu_mean": round(sum(machine) / len(machine), 1) if machine else None,
            "cpu_count": os.cpu_count(), "threshold_cpu": CPU_SATURATED,
            "samples": [{k: (round(v, 1) if isinstance(v, float) and k != "t" else v) for k, v in s.items()}
                        for s in samples]}


def results_summary_line(results: LoadResults) -> str:
    total, failed = results.counts()
    lat = results.latencies()
    p99 = f", p99 {lat.quantile(0.99) * 1e3:.1f} ms" if lat.count else ""
    flags = " [generator CPU saturated]" if results.saturated else ""
    ok = results.conformance.get("ok")
    return (f"load {results.scenario}: {total} requests ({failed} failed) in {results.duration:.1f} s{p99}; "
            f"shape {'delivered' if ok else 'NOT delivered'}{flags}")

