"""Resource gauges sampled during a load run, under the metric names the SLO config's queries use.

The SLO config's six resource SLOs ask node exporter and nvidia_gpu_exporter questions
(``node_cpu_seconds_total``, ``node_memory_MemAvailable_bytes`` / ``MemTotal_bytes`` per ``instance``,
``nvidia_smi_utilization_gpu_ratio`` per ``gpu_type``). The stand-ins export none of them, so this
module measures them and names them the same way:

* ``NvmlSource``: every GPU NVML reports (the real library, or the fake one under
  AISYS_FAKE_NVML_CONFIG), ``gpu_type`` read from its name ("NVIDIA GeForce RTX 4090" -> rtx-4090);
* ``ProcessSource`` (local backend): each docker group is one process tree (``stack.group_pid``), read
  from /proc through psutil: its CPU seconds and resident memory, per group
  (``container_cpu_usage_seconds_total`` / ``container_memory_working_set_bytes``, cAdvisor's names, with
  ``instance`` and ``group``) and per spec host (``node_*``);
* ``DockerSource`` (compose backend): the same from ``docker stats`` of each group's container.

A stand-in host is not a machine: its ``node_*`` figures are the share of this machine its groups use
(CPU: their CPU seconds over this machine's CPUs; memory: their resident bytes of this machine's
MemTotal). ``ResourceSampler`` reads every source in a thread and keeps the readings (``Scrape``\\ s) in
order; a source that cannot be read (no NVML, no docker) is dropped with the reason, never faked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aisys_verify.errors import ScrapeError
from aisys_verify.slo.prom import Labels, Scrape

if TYPE_CHECKING:
    from aisys_verify.slo.gauges import GaugeReadings

Series = dict[tuple[str, Labels], float]


class GaugeSource(Protocol):
    name: str

    def read(self, now: float) -> Series:
        """One reading taken at epoch ``now`` (the round's time stamp: counters derived from wall time use it,
        so a rate between two readings has one clock); raise when the source cannot be read."""
        ...


def _key(metric: str, **labels: str) -> tuple[str, Labels]:
    return metric, tuple(sorted(labels.items()))


def gpu_type(name: str) -> str:
    """NVML's device name as the SLO config's gpu_type label: 'NVIDIA GeForce RTX 4090' -> 'rtx-4090'."""
    words = re.sub(r"^(nvidia\s+)?(geforce\s+)?", "", name.strip(), flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


class NvmlSource:
    """GPU utilisation and memory of every device NVML reports, as nvidia_gpu_exporter names them."""

    name = "nvml"

    def read(self, now: float) -> Series:
        from aisys_verify.gpu.facts import call, nvml

        out: Series = {}
        with nvml("the SLO gauges"):
            for index in range(int(call("nvmlDeviceGetCount", where="the SLO gauges"))):
                handle = call("nvmlDeviceGetHandleByIndex", index, where=f"GPU {index}")
                name = call("nvmlDeviceGetName", handle, where=f"GPU {index}")
                name = name.decode() if isinstance(name, bytes) else str(name)
                uuid = call("nvmlDeviceGetUUID", handle, where=f"GPU {index}")
                labels = {"gpu_type": gpu_type(name), "name": name, "index": str(index),
                          "uuid": uuid.decode() if isinstance(uuid, bytes) else str(uuid)}
                rates = call("nvmlDeviceGetUtilizationRates", handle, where=f"GPU {index}")
                memory = call("nvmlDeviceGetMemoryInfo", handle, where=f"GPU {index}")
                out[_key("nvidia_smi_utilization_gpu_ratio", **labels)] = int(rates.gpu) / 100
                out[_key("nvidia_smi_utilization_memory_ratio", **labels)] = int(rates.memory) / 100
                out[_key("nvidia_smi_memory_used_bytes", **labels)] = float(memory.used)
                out[_key("nvidia_smi_memory_total_bytes", **labels)] = float(memory.total)
        return out


def machine_memory_bytes() -> float:
    """This machine's MemTotal (/proc/meminfo), or its memory cgroup's limit when that is lower."""
    total = 0.0
    with open("/proc/meminfo", encoding="ascii") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                total = float(line.split()[1]) * 1024
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            value = float(Path(limit).read_text(encoding="ascii").strip())
            if 0 < value < total:
                total = value
    return total


def machine_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _HostCounters:
    """Per-group CPU seconds kept as monotonic counters (a restarted group's process starts again at 0), and
    the per-host node_* series derived from them."""

    def __init__(self, groups: Sequence[tuple[str, str]]) -> None:
        self.groups = list(groups)
        self.cpus = machine_cpus()
        self.memory_total = machine_memory_bytes()
        self.started = time.time()
        self.last: dict[tuple[str, str], tuple[float, float]] = {}  # group -> last raw (user, system)
        self.total: dict[tuple[str, str], list[float]] = {g: [0.0, 0.0] for g in groups}
        self.idle: dict[str, float] = {}  # per host, kept monotonic: a rate reads a counter's drop as a reset

    def add(self, group: tuple[str, str], user: float, system: float) -> None:
        before = self.last.get(group)
        self.last[group] = (user, system)
        if before is None:
            return  # the first reading is the origin: CPU before the run is not the run's
        for i, (now, then) in enumerate(((user, before[0]), (system, before[1]))):
            self.total[group][i] += now - then if now >= then else now

    def series(self, memory: dict[tuple[str, str], float], now: float) -> Series:
        """The series of the groups read at least once; a host's only when one of its groups was read now
        (``memory`` holds the groups read this round): a group never read is no data, never zero."""
        out: Series = {}
        hosts: dict[str, list[float]] = {}
        for (host, group), (user, system) in self.total.items():
            if (host, group) not in self.last:
                continue
            # its CPU seconds so far stay true while it is not read (down, restarting): the counter keeps them
            out[_key("container_cpu_usage_seconds_total", instance=host, group=group)] = user + system
            acc = hosts.setdefault(host, [0.0, 0.0, 0.0, 0.0])
            acc[0] += user
            acc[1] += system
            if (host, group) in memory:
                out[_key("container_memory_working_set_bytes", instance=host, group=group)] = memory[(host, group)]
                acc[2] += memory[(host, group)]
                acc[3] += 1
        elapsed = now - self.started
        for host, (user, system, resident, read) in hosts.items():
            if not read:
                continue
            idle = self.idle[host] = max(self.idle.get(host, 0.0), elapsed - (user + system) / self.cpus)
            # CPU time of a process cannot be attributed to one CPU: each of the machine's CPUs gets the mean
            for cpu in range(self.cpus):
                for mode, value in (("user", user / self.cpus), ("system", system / self.cpus), ("idle", idle)):
                    out[_key("node_cpu_seconds_total", instance=host, cpu=str(cpu), mode=mode)] = value
            out[_key("node_memory_MemTotal_bytes", instance=host)] = self.memory_total
            out[_key("node_memory_MemAvailable_bytes", instance=host)] = max(0.0, self.memory_total - resident)
        return out


class ProcessSource:
    """Local backend: each group's process tree, from /proc (psutil)."""

    name = "processes"

    def __init__(self, stack: Any, groups: Sequence[tuple[str, str]]) -> None:
        self.stack = stack
        self.counters = _HostCounters(groups)

    def read(self, now: float) -> Series:
        import psutil  # type: ignore[import-untyped]

        memory: dict[tuple[str, str], float] = {}
        for group in self.counters.groups:
            pid = self.stack.group_pid(*group)
            if pid is None:
                continue
            user = system = resident = 0.0
            try:
                root = psutil.Process(pid)
                for proc in (root, *root.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        times = proc.cpu_times()
                        user += times.user + times.children_user
                        system += times.system + times.children_system
                        resident += proc.memory_info().rss
            except psutil.Error:
                continue  # the group is down (a fault killed it): no reading, not zero
            self.counters.add(group, user, system)
            memory[group] = resident
        return self.counters.series(memory, now)


_SIZE = re.compile(r"([0-9.]+)\s*([KMGTP]?i?B)", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def docker_size(text: str) -> float:
    """'45.2MiB' -> bytes (docker stats' units)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ScrapeError(f"docker stats: not a size: {text!r} (expected e.g. 45.2MiB)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


class DockerSource:
    """Compose backend: each group's container, from ``docker stats --no-stream`` (CPU % over docker's own
    window, integrated into CPU seconds over the time between readings; memory usage)."""

    name = "docker"
    interval_s = 2.0  # docker stats takes about that per call: back to back it would keep dockerd busy

    def __init__(self, stack: Any, groups: Sequence[tuple[str, str]]) -> None:
        self.containers = {stack.group_container(*g): g for g in groups}
        self.counters = _HostCounters(groups)
        self.seconds: dict[tuple[str, str], float] = dict.fromkeys(groups, 0.0)
        self.at: float | None = None

    def read(self, now: float) -> Series:
        from aisys_verify.stack.docker import run_docker

        done = run_docker("stats", "--no-stream", "--format", "{{json .}}", *self.containers, check=False,
                          timeout=30.0)
        step = 0.0 if self.at is None else now - self.at
        self.at = now
        memory: dict[tuple[str, str], float] = {}
        for line in done.stdout.splitlines():
            row = json.loads(line)
            # 'Container' is the argument as given (the stack's full container id); 'ID' docker's short form
            group = self.containers.get(row.get("Container", "")) or self.containers.get(row.get("Name", "")) or next(
                (g for c, g in self.containers.items() if row.get("ID") and c.startswith(str(row["ID"]))), None)
            if group is None:
                continue
            self.seconds[group] += float(str(row["CPUPerc"]).rstrip("%") or 0) / 100 * step
            self.counters.add(group, self.seconds[group], 0.0)
            memory[group] = docker_size(str(row["MemUsage"]).split("/")[0])
        if not memory:  # not one of the stack's containers answered: no data, never zeros
            raise ScrapeError(f"docker stats gave no row for the stack's {len(self.containers)} container(s)"
                              + (f": {done.stderr.strip()[:200]}" if done.stderr.strip() else ""))
        return self.counters.series(memory, now)


def stack_groups(stack: Any) -> list[tuple[str, str]]:
    return [(h.name, g.name) for h in stack.topology.hosts for g in h.groups]


def default_sources(stack: Any, gpu: bool = True) -> list[GaugeSource]:
    """The gauges a stack can give: its groups' processes or containers, and NVML (when ``gpu``)."""
    sources: list[GaugeSource] = []
    if callable(getattr(stack, "group_pid", None)):
        sources.append(ProcessSource(stack, stack_groups(stack)))
    elif callable(getattr(stack, "group_container", None)):
        sources.append(DockerSource(stack, stack_groups(stack)))
    if gpu:
        sources.append(NvmlSource())
    return sources


class ResourceSampler:
    """Reads every source every ``interval_s`` in a thread, from ``__enter__`` to ``__exit__``.

    ``readings``: one Scrape per round, in order (all sources' series together). ``dropped``: the sources that
    could not be read, with why (no NVML here, docker gone): their SLOs stay inconclusive with that reason.
    """

    def __init__(self, sources: Iterable[GaugeSource], interval_s: float = 0.5) -> None:
        self.sources = list(sources)
        self.interval_s = interval_s
        self.readings: list[Scrape] = []
        self.dropped: dict[str, str] = {}
        self._read_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="aisys-slo-gauges")

    def sample(self) -> None:
        """One round now (also what the thread does)."""
        merged: Series = {}
        now = time.time()
        for source in list(self.sources):
            wait = float(getattr(source, "interval_s", 0.0))  # a slow source is read at its own pace
            if wait and now - self._read_at.get(source.name, -math.inf) < wait:
                continue
            self._read_at[source.name] = now
            try:
                merged.update(source.read(now))
            except Exception as exc:  # any source's trouble: drop it, say why, keep the others
                self.dropped[source.name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                self.sources.remove(source)
        self.readings.append(Scrape(now, merged))

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read_at.clear()
        self.sample()  # the run's end is a reading of every source too: a rate needs both ends

    def result(self) -> GaugeReadings:
        from aisys_verify.slo.gauges import GaugeReadings

        return GaugeReadings(tuple(self.readings), dict(self.dropped))

    def exposition(self) -> str:
        """The last reading in Prometheus's text format (what a scrape of these gauges returns)."""
        from aisys_verify.slo.gauges import exposition

        return exposition(self.readings[-1] if self.readings else Scrape(time.time()))


class GaugeExporter:
    """The sampler's last reading over HTTP (``GET /metrics``, Prometheus's text format), for a Prometheus
    beside the stack to scrape while the run lasts: ``with GaugeExporter(sampler) as exporter: exporter.url``."""

    def __init__(self, sampler: ResourceSampler, host: str = "127.0.0.1", port: int = 0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name for it
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                body = sampler.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # scrapes are not worth a line on stderr each
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="aisys-slo-exporter")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def __enter__(self) -> GaugeExporter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
