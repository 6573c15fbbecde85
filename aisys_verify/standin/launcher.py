"""A fork server for stand-in groups: import and load the spec once, then fork one process per group.

Starting 18 Python processes that each import ZeroMQ, Redis and OpenTelemetry and load the
spec costs seconds of CPU on a 2-core machine; forking a warm process costs milliseconds.
Each group is still its own OS process (kill -9 of one group is still possible), health-gated:
a group is healthy when every agent's HTTP /health says ok. Two start orders (plan/order.py):
``graph`` starts each group as soon as the groups it needs are healthy; ``layered`` starts the
given layers one after the other (parallel within a layer, each waiting for its slowest group).
Both report each layer once all its groups are healthy (in layer order), so progress reads the same.

Protocol: JSON lines on stdout (``group_started``, ``group_healthy`` (graph), ``layer_ready``,
``stack_ready``, ``group_failed``, ``group_exited``, ``launcher_stopped``); commands on stdin
(``start HOST GROUP``, ``stop``). SIGTERM stops every group and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aisys_verify.errors import LaunchError as LaunchError
from aisys_verify.plan.groups import GroupKey
from aisys_verify.plan.order import StartGraph, drive_start, start_graph
from aisys_verify.plan.run import RunPlan
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack.base import GroupWait
from aisys_verify.waiting import wait_until

PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
# the gate's poll interval: each link of the start chain waits half of it on average (a 1,000-agent synthetic
# spec's chain has ~125 links); a poll asks one agent per starting group, so a short one costs little
POLL_S = 0.02


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, "ts": round(time.time(), 4), **fields}) + "\n")
    sys.stdout.flush()


def _prctl(option: int, value: int | bytes) -> None:
    with contextlib.suppress(Exception):  # Linux only; elsewhere the names and death signal are a nicety
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


class Launcher:
    def __init__(self, topology: Topology, plan: RunPlan, log_dir: Path) -> None:
        self.topology = topology
        self.plan = plan
        self.log_dir = log_dir
        self.children: dict[int, tuple[str, str]] = {}
        self.stopping = False
        # once per stand-up: its gate resolves every agent's profile (per layer it grew with agents x layers)
        self.waiter = GroupWait(topology, plan, lambda agent: plan.address_of(agent.key, agent.host))

    def fork_group(self, host: str, group: str) -> int:
        log = self.log_dir / host / f"{group}.process.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        pid = os.fork()
        if pid:
            self.children[pid] = (host, group)
            emit("group_started", host=host, group=group, pid=pid)
            return pid
        # --- child: never returns ---
        code = 0
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the launcher, never orphaned
            _prctl(PR_SET_NAME, f"aisys:{group}"[:15].encode())
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            fd = os.open(str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            import asyncio

            from aisys_verify.plan.groups import spec_device_env
            from aisys_verify.standin.group import serve_group

            # the GPU pins the group's compose service gives it (its environment, its device reservation as
            # the NVIDIA runtime passes it), as its container would get them; none inherited from the shell
            for name, value in spec_device_env(self.topology, host, group).items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

            asyncio.run(serve_group(self.topology, self.plan, host, group))
        except BaseException as exc:  # report into the group's log; the launcher reports the exit
            if not isinstance(exc, SystemExit):
                traceback.print_exc()
                code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def reap(self) -> list[tuple[int, str, str, int]]:
        gone = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            host, group = self.children.pop(pid, ("?", "?"))
            code = os.waitstatus_to_exitcode(status)
            gone.append((pid, host, group, code))
            if not self.stopping:
                emit("group_exited", host=host, group=group, pid=pid, code=code)
        return gone

    def wait_healthy(self, groups: Sequence[tuple[str, str]], timeout: float) -> None:
        """Until every agent of ``groups`` passes the health gate (stack.base.GroupWait: HTTP /health up, read
        by the body as well as the code; agents with start defects skipped); raise naming the laggard."""
        late = self.waiter.wait(groups, timeout, POLL_S, check=lambda waiting: self._exited(groups))
        if late is not None:
            agent, last = self.waiter.laggard(late)
            raise LaunchError(late[0], late[1], agent.name, f"not healthy after {timeout:g} s: {last}")

    def _exited(self, groups: Sequence[GroupKey] | Mapping[GroupKey, float]) -> None:
        """A group of ``groups`` whose process exited ends the wait at once."""
        for pid, host, group, code in self.reap():
            if (host, group) in groups:
                raise LaunchError(host, group, "", f"the group process {pid} exited with code {code}")

    def start_by_graph(self, layers: Sequence[Sequence[GroupKey]], timeout: float,
                       stopping: Callable[[], bool] = lambda: False) -> None:
        """Start every group of ``layers`` as soon as the groups it needs (plan.order.start_graph) are healthy.

        A group healthy unblocks its dependents at once, so stand-up takes the longest chain of groups
        instead of the sum of each layer's slowest. ``timeout`` is per group, from its start. Layers are
        still reported, in order, each when its last group is healthy."""
        nodes = {(h, g) for layer in layers for h, g in layer}
        graph = StartGraph({n: needs & nodes for n, needs in start_graph(self.topology).items() if n in nodes})

        def start(started: list[GroupKey]) -> None:
            for node in started:
                self.fork_group(*node)
                self.waiter.add(node)

        def check(started_at: Mapping[GroupKey, float]) -> None:
            self._exited(started_at)
            late = self.waiter.overdue(started_at, timeout, time.perf_counter())
            if late is not None:
                agent, last = self.waiter.laggard(late)
                raise LaunchError(late[0], late[1], agent.name, f"not healthy after {timeout:g} s: {last}")

        drive_start(graph, layers, start=start, healthy=self.waiter.healthy, check=check, stopping=stopping,
                    idle_s=POLL_S,
                    on_group=lambda node, seconds: emit("group_healthy", host=node[0], group=node[1],
                                                        seconds=round(seconds, 3)),
                    on_layer=lambda index, seconds: emit("layer_ready", layer=index,
                                                         groups=[f"{h}/{g}" for h, g in layers[index]],
                                                         seconds=round(seconds, 3)))

    def stop_all(self, grace: float = 5.0) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

        def all_gone() -> bool:
            self.reap()
            return not self.children

        wait_until(all_gone, grace, 0.02)
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while self.children:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.children.pop(pid, None)


def run_launcher(spec: Sequence[str], spec_vars: dict[str, str], plan_path: str, layers: list[list[list[str]]],
                 health_timeout: float, start: str = "graph") -> int:
    topology = load_spec(spec, spec_vars)
    plan = RunPlan.from_file(plan_path)
    # warm the imports the children need, so each fork starts serving at once
    import redis.asyncio  # noqa: F401
    import zmq.asyncio  # noqa: F401

    import aisys_verify.standin.group  # noqa: F401
    from aisys_verify.plan.edges import edges_by_caller
    from aisys_verify.standin.roles.gpu import nvml_facts
    from aisys_verify.standin.tracing import base_resource

    base_resource()  # OpenTelemetry's resource detection, once here instead of once per group
    nvml_facts()  # NVML's import and init, once here instead of once per GPU agent

    edges_by_caller(topology)  # computed once here, inherited by every fork (per group it was quadratic)
    launcher = Launcher(topology, plan, Path(plan.log_dir or ".aisys/logs"))
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # if whoever started us dies, stop the stack
    stop = {"now": False}

    def on_signal(signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.perf_counter()
    try:
        if start == "graph":
            launcher.start_by_graph([[(h, g) for h, g in layer] for layer in layers], health_timeout,
                                    lambda: stop["now"])
        for index, layer in enumerate(layers if start != "graph" else ()):
            t0 = time.perf_counter()
            pairs = [(h, g) for h, g in layer]
            for host, group in pairs:
                launcher.fork_group(host, group)
            launcher.wait_healthy(pairs, health_timeout)
            emit("layer_ready", layer=index, groups=[f"{h}/{g}" for h, g in pairs],
                 seconds=round(time.perf_counter() - t0, 3))
            if stop["now"]:
                raise KeyboardInterrupt
        emit("stack_ready", seconds=round(time.perf_counter() - started, 3), groups=len(launcher.children))
        while not stop["now"]:
            ready, _, _ = select.select([sys.stdin], [], [], 0.2)
            launcher.reap()
            if ready:
                line = sys.stdin.readline()
                if not line or line.strip() == "stop":
                    break
                parts = line.split()
                if len(parts) == 3 and parts[0] == "start":
                    launcher.fork_group(parts[1], parts[2])
    except LaunchError as exc:
        tail = ""
        with contextlib.suppress(OSError):
            log = Path(plan.log_dir or ".aisys/logs") / exc.host / f"{exc.group}.process.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        emit("group_failed", host=exc.host, group=exc.group, agent=exc.agent, reason=exc.reason, log_tail=tail)
        launcher.stop_all()
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop_all()
        emit("launcher_stopped")
    return 0
