"""Run every group of a spec as stand-in processes on this machine, with a Redis per host.

This is the minimal launcher the stand-in tests and benchmarks need: all groups at once
(agents tolerate dependencies that come up later: their health reads 'degraded' until
then), one loopback address per host, and guaranteed teardown (SIGTERM, then SIGKILL).
The full local backend with Toxiproxy, start order and leftovers reaping builds on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import ClusterError as ClusterError
from aisys_verify.plan.groups import groups_to_run
from aisys_verify.plan.run import RunPlan, default_plan
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack.loopback import claim_network, release_network
from aisys_verify.stack.redis_server import spawn_redis
from aisys_verify.standin.curve import CERTS_ENV, SECURE_ENV
from aisys_verify.standin.environ import ENV_VARS
from aisys_verify.waiting import poll, wait_until


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_port(host: str, port: int, timeout: float) -> bool:
    """Something accepts connections on ``host:port`` within ``timeout`` s."""

    def accepts() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        return False

    return wait_until(accepts, timeout, 0.02) is not None


@dataclass
class LocalCluster:
    spec: Sequence[str]
    workdir: Path
    spec_vars: dict[str, str] = field(default_factory=dict)
    trace: str = "none"
    only_hosts: Sequence[str] | None = None
    network: str | None = None  # 127.x.y for the hosts' addresses; None: a random one, so clusters never clash
    standin_profile: str = "ideal"  # aisys_verify.standin.profile: the protocol the stand-ins speak
    standin_defects: Sequence[str] = ()
    # the real agents' variables (standin/environ.py) for the group processes; those inherited from
    # this process are dropped, so a REDIS_HOST in the caller's shell cannot redirect a test cluster
    environ: dict[str, str] = field(default_factory=dict)
    # more variables for one host's groups (beat ``environ``): a per-host REDIS_URL, say
    host_environ: dict[str, dict[str, str]] = field(default_factory=dict)
    # more redis-server flags per host (stack.redis_server.tls_flags: a TLS-only Redis; its port stays the plan's)
    redis_flags: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[tuple[str, str], Proc] = field(default_factory=dict)
    redis: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.topology: Topology = load_spec(self.spec, self.spec_vars)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.network is None:  # claimed, so clusters and stacks never clash (stack/loopback.py)
            self.network = claim_network()
            self._release = weakref.finalize(self, release_network, self.network)
        self.plan: RunPlan = default_plan(self.topology, data_dir=str(self.workdir / "data"), network=self.network)
        self.plan.log_dir = str(self.workdir / "logs")
        self.plan.trace = self.trace
        self.plan.standin_profile, self.plan.standin_defects = self.standin_profile, [*self.standin_defects]
        self.plan_path = self.workdir / "plan.json"
        self.plan_path.write_text(self.plan.to_json(), encoding="utf-8")

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def hosts(self) -> list[str]:
        return [h.name for h in self.topology.hosts if self.only_hosts is None or h.name in self.only_hosts]

    def start(self, timeout: float = 30.0) -> float:
        """Start Redis per host and every group; return the seconds until every group was bound."""
        started = time.perf_counter()
        for host in self.hosts():
            address, port = self.plan.redis[host]
            path = self.workdir / "redis" / host
            popen = spawn_redis(path, address, port, self.redis_flags.get(host, ()), error=ClusterError)
            self.redis[host] = Proc(f"redis@{host}", popen, path / "redis.log")
        for host in self.hosts():
            address, port = self.plan.redis[host]
            if not wait_port(address, port, 5.0):
                raise ClusterError(f"redis for host {host} did not listen on {address}:{port}\n"
                                   f"{self.redis[host].tail()}")
        for host in self.hosts():
            for group in groups_to_run(self.topology, host):
                self.start_group(host, group)
        self.wait_ready(list(self.groups), timeout)
        return time.perf_counter() - started

    def start_group(self, host: str, group: str) -> Proc:
        log = self.workdir / "logs" / host / f"{group}.process.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "aisys_verify.standin", "run", *(f"--spec={s}" for s in self.spec),
               "--host", host, "--group", group, "--plan", str(self.plan_path),
               *(f"--var={k}={v}" for k, v in self.spec_vars.items())]
        dropped = (*ENV_VARS, SECURE_ENV, CERTS_ENV)  # CurveZMQ too: the caller's shell must not turn it on here
        env = {k: v for k, v in os.environ.items() if k not in dropped} | self.environ | self.host_environ.get(host, {})
        with log.open("ab") as err:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True, env=env)
        proc = Proc(f"{host}/{group}", popen, log)
        self.groups[(host, group)] = proc
        return proc

    def wait_ready(self, keys: list[tuple[str, str]], timeout: float) -> None:
        """Block until each group printed group_ready; fail fast naming the group and its log tail."""
        selector = selectors.DefaultSelector()
        waiting = {}
        for key in keys:
            stream = self.groups[key].popen.stdout
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ, key)
            waiting[key] = b""
        deadline = time.monotonic() + timeout
        try:
            while waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = ", ".join(f"{h}/{g}" for h, g in waiting)
                    raise ClusterError(f"groups not ready after {timeout:g} s: {names}\n"
                                       f"{self.groups[next(iter(waiting))].tail()}")
                for selected, _ in selector.select(min(remaining, 0.5)):
                    key = selected.data
                    chunk = selected.fileobj.read() or b""  # type: ignore[union-attr]
                    if not chunk and self.groups[key].popen.poll() is not None:
                        raise ClusterError(f"group {key[0]}/{key[1]} exited with code "
                                           f"{self.groups[key].popen.returncode} before it was ready:\n"
                                           f"{self.groups[key].tail()}")
                    waiting[key] += chunk
                    if b'"group_ready"' in waiting[key]:
                        selector.unregister(selected.fileobj)
                        del waiting[key]
        finally:
            selector.close()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process, wait up to ``grace`` s, SIGKILL what is left; idempotent. The groups first, Redis
        after them: a group deletes its ready keys as it stops, and a Redis already gone makes it wait out its
        client's retries (seconds over TLS)."""
        deadline = time.monotonic() + grace
        for procs in ([*self.groups.values()], [*self.redis.values()]):
            for proc in procs:
                if proc.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, signal.SIGTERM)
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(max(0.0, deadline - time.monotonic()))
                if proc.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, signal.SIGKILL)
                    proc.popen.wait()
                if proc.popen.stdout:
                    proc.popen.stdout.close()
            deadline = max(deadline, time.monotonic() + 1.0)  # Redis gets its second even after slow groups
        self.groups.clear()
        self.redis.clear()
        if hasattr(self, "_release"):
            self._release()

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        proc = self.groups.pop((host, group))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, sig)
        proc.popen.wait()
        if proc.popen.stdout:
            proc.popen.stdout.close()

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        self.start_group(host, group)
        self.wait_ready([(host, group)], timeout)

    # --- probing -------------------------------------------------------------------------

    def health(self, timeout: float = 1.0) -> dict[str, dict[str, Any]]:
        """Each agent's reply on its ZeroMQ health socket (or {'status': 'down', ...})."""
        from aisys_verify.standin.client import HEALTH_CHECK, request_once

        result: dict[str, dict[str, Any]] = {}
        for agent in (a for a in self.topology.agents if a.host in self.hosts()):
            url = f"tcp://{self.plan.host_addresses[agent.host]}:{agent.health_port.number}"
            try:
                result[agent.key] = request_once(url, HEALTH_CHECK, timeout)
            except TimeoutError:
                result[agent.key] = {"status": "down", "error": "no reply"}
        return result

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """Until every agent's ZeroMQ health says ok; ClusterError naming those that do not."""
        waited = poll(self.health, timeout, 0.25, until=lambda replies: all(v.get("status") == "ok"
                                                                             for v in replies.values()))
        if waited.met:
            return waited.last
        bad = {k: v for k, v in waited.last.items() if v.get("status") != "ok"}
        shown = "; ".join(f"{k}: {v.get('status')} ({v.get('message') or v.get('error')})"
                          for k, v in list(bad.items())[:8])
        raise ClusterError(f"{len(bad)} of {len(waited.last)} agents not healthy after {timeout:g} s: {shown}")

    def pids(self) -> Iterator[tuple[str, int]]:
        for proc in [*self.groups.values(), *self.redis.values()]:
            yield proc.name, proc.popen.pid

    def summary(self) -> dict[str, Any]:
        return {"groups": len(self.groups), "agents": sum(1 for a in self.topology.agents if a.host in self.hosts()),
                "plan": json.loads(self.plan.to_json())["host_addresses"]}
