"""The resource gauges against what they measure: real processes (one burning a CPU, one holding 160 MiB),
a real container, and the fake NVML's configured utilisation time series, each checked against an
independent reading (/proc/PID/stat and status, the container's cpuacct cgroup, the device file). The
mutation: a sampler that returns its first reading forever (constants) must fail every check.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.slo import DockerSource, GaugeReadings, NvmlSource, ProcessSource, ResourceSampler, judge_gauge
from aisys_verify.slo.model import SliKind, SloSpec
from aisys_verify.slo.prom import Labels, Scrape

REPO = Path(__file__).resolve().parents[2]
BURN = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"
HOLD = ("import time\nb = bytearray(160 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\n"  # every page touched: resident
        "print('ready', flush=True)\ntime.sleep(60)\n")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class _Group:
    name: str


@dataclass
class _Host:
    name: str
    groups: list[_Group]


class _Topology:
    def __init__(self, groups: dict[tuple[str, str], Any]) -> None:
        hosts: dict[str, _Host] = {}
        for host, group in groups:
            hosts.setdefault(host, _Host(host, [])).groups.append(_Group(group))
        self.hosts = list(hosts.values())


class _Stack:
    """What the sources ask of a stack (its groups, and each group's process or container), over real ones."""

    def __init__(self, groups: dict[tuple[str, str], Any]) -> None:
        self.groups = groups
        self.topology = _Topology(groups)

    def group_pid(self, host: str, group: str) -> int | None:
        return int(self.groups[(host, group)])

    def group_container(self, host: str, group: str) -> str:
        return str(self.groups[(host, group)])


class _Constant:
    """The mutation: a source that returns its first reading forever."""

    def __init__(self, source: Any) -> None:
        self.source, self.name, self.first = source, source.name, None

    def read(self, now: float) -> Any:
        if self.first is None:
            self.first = self.source.read(now)
        return self.first


def _series(readings: GaugeReadings, metric: str, **labels: str) -> list[tuple[float, float]]:
    want = set(labels.items())
    return [(r.taken_at, v) for r in readings.readings for (m, lb), v in r.samples.items()
            if m == metric and want <= set(lb)]


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _proc_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) * 1024
    return 0.0


def _cpu_slo(instance: str) -> SloSpec:
    return SloSpec("cpu", instance, SliKind.GAUGE, 100.0, query=f'100 - (avg(rate(node_cpu_seconds_total'
                                                              f'{{mode="idle",instance="{instance}"}}[5m])) * 100)')


@pytest.fixture(scope="module")
def processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    burn = subprocess.Popen([sys.executable, "-c", BURN])
    hold = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE)
    try:
        assert hold.stdout is not None and hold.stdout.readline().strip() == b"ready"
        yield {"burn": burn, "hold": hold}
    finally:
        for proc in (burn, hold):
            proc.kill()
            proc.wait()


def check_processes(readings: GaugeReadings, truth: dict[str, tuple[float, float]], pids: dict[str, int]) -> None:
    """Each group's CPU seconds over the sampling against /proc's; its memory against VmRSS; the host's
    busy share from the node_cpu idle counters against the groups' CPU."""
    cpu = {g: _series(readings, "container_cpu_usage_seconds_total", group=g) for g in pids}
    for group, (before, after) in truth.items():
        measured = cpu[group][-1][1] - cpu[group][0][1]
        assert abs(measured - (after - before)) <= 0.08 + 0.1 * (after - before), \
            f"{group}: sampled {measured:.3f} CPU s, /proc says {after - before:.3f}"
    assert truth["burn"][1] - truth["burn"][0] > 0.15, "the burner got no CPU: the machine is too busy to tell"
    rss = _series(readings, "container_memory_working_set_bytes", group="hold")
    assert rss and abs(rss[-1][1] - _proc_rss(pids["hold"])) < 0.1 * _proc_rss(pids["hold"]), rss[-1:]
    assert rss[-1][1] > 150 * 2**20
    total = _series(readings, "node_memory_MemTotal_bytes", instance="hostb")[-1][1]
    available = _series(readings, "node_memory_MemAvailable_bytes", instance="hostb")[-1][1]
    assert total - available == pytest.approx(rss[-1][1], rel=1e-9)
    verdict = judge_gauge(_cpu_slo("hosta"), readings)
    span = cpu["burn"][-1][0] - cpu["burn"][0][0]
    share = 100 * (truth["burn"][1] - truth["burn"][0]) / span / (len(os.sched_getaffinity(0)))
    assert verdict.observed is not None and abs(verdict.observed - share) < 10, (verdict.observed, share)


def _sample(sources: list[Any], seconds: float, interval: float) -> GaugeReadings:
    with ResourceSampler(sources, interval) as sampler:
        time.sleep(seconds)
    assert not sampler.dropped, sampler.dropped
    return sampler.result()


@pytest.mark.integration
def test_process_gauges_measure_the_groups(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    pids = {name: proc.pid for name, proc in processes.items()}
    stack = _Stack({("hosta", "burn"): pids["burn"], ("hostb", "hold"): pids["hold"]})
    groups = [("hosta", "burn"), ("hostb", "hold")]
    for mutated in (False, True):
        source: Any = ProcessSource(stack, groups)
        if mutated:
            source = _Constant(source)
        before = {g: _proc_cpu_s(p) for g, p in pids.items()}
        readings = _sample([source], 2.0, 0.25)
        truth = {g: (before[g], _proc_cpu_s(p)) for g, p in pids.items()}
        if not mutated:
            check_processes(readings, truth, pids)
        else:
            with pytest.raises(AssertionError):
                check_processes(readings, truth, pids)


def _fake_nvml(tmp: Path, monkeypatch: pytest.MonkeyPatch, series: list[int], period_ms: int) -> None:
    built = subprocess.run([str(REPO / "scripts" / "build-fake-nvml"), sys.prefix], capture_output=True, text=True,
                           check=False)
    assert built.returncode == 0, built.stderr
    config = json.loads((REPO / "native/fake-nvml/stacks/default-stack.json").read_text())
    config["devices"][1].update(utilization_gpu=series, utilization_memory=[0] * len(series),
                                utilization_period_ms=period_ms)
    (tmp / "gpus.json").write_text(json.dumps(config))
    monkeypatch.setenv("AISYS_FAKE_NVML_CONFIG", str(tmp / "gpus.json"))


def check_follows_series(readings: GaugeReadings, series: list[int], period_s: float) -> None:
    """The 3060's readings walk the configured series in order, each value held for about one period."""
    seen = [round(v * 100) for _, v in _series(readings, "nvidia_smi_utilization_gpu_ratio", gpu_type="rtx-3060")]
    assert len(seen) >= 10 and set(seen) == set(series), f"readings {seen} against the series {series}"
    runs = [seen[0]]
    for value in seen[1:]:
        if value != runs[-1]:
            runs.append(value)
    for a, b in itertools.pairwise(runs):  # each change is the series' next value
        assert series[(series.index(a) + 1) % len(series)] == b, f"{a} -> {b} is not the series' order {series}"
    assert len(runs) >= len(seen) * 0.05 / period_s * 0.5, "the values change less often than the period says"
    other = {round(v * 100) for _, v in _series(readings, "nvidia_smi_utilization_gpu_ratio", gpu_type="rtx-4090")}
    assert other <= {62, 71, 78, 74, 66, 69, 80, 73}, other


@pytest.mark.gpu
def test_nvml_gauges_follow_the_configured_time_series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    series = [20, 90, 55]
    _fake_nvml(tmp_path, monkeypatch, series, 200)
    readings = _sample([NvmlSource()], 2.0, 0.05)
    check_follows_series(readings, series, 0.2)
    verdict = judge_gauge(SloSpec("g", "pc2-gpu", SliKind.GAUGE, 85.0, lower_level=60.0,
                                  query='avg(nvidia_smi_utilization_gpu_ratio{gpu_type="rtx-3060"}) * 100'), readings)
    assert verdict.interval == (20.0, 90.0) and verdict.bad and verdict.bad > 0
    constant = _sample([_Constant(NvmlSource())], 1.0, 0.05)
    with pytest.raises(AssertionError):
        check_follows_series(constant, series, 0.2)


@pytest.mark.integration
def test_docker_gauges_measure_the_container() -> None:
    name = f"aisys-slo-gauges-{uuid.uuid4().hex[:8]}"
    started = subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "aisys-verify/base:bookworm", "python3",
                              "-c", BURN], capture_output=True, text=True, check=False, timeout=60)
    if started.returncode:
        pytest.skip(f"docker cannot run the base image here: {started.stderr.strip()[:200]}")
    cid = started.stdout.strip()
    usage = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
    try:
        stack = _Stack({("hosta", "burn"): cid})  # as the compose backend names it: the full container id
        for mutated in (False, True):
            source: Any = DockerSource(stack, [("hosta", "burn")])
            if mutated:
                source = _Constant(source)
            t0, before = time.time(), int(usage.read_text()) / 1e9 if usage.exists() else None
            readings = _sample([source], 2.5 if mutated else 5.0, 0.5)
            t1, after = time.time(), int(usage.read_text()) / 1e9 if usage.exists() else None
            cpu = _series(readings, "container_cpu_usage_seconds_total", group="burn")
            assert len(cpu) >= 2, cpu
            # in cores: docker stats' CPU % is over its own window, integrated between readings (every 2 s)
            measured = (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0])
            truth = (after - before) / (t1 - t0) if before is not None and after is not None else None
            if truth is None:  # no v1 cpuacct cgroup for the container: the burner's CPU must at least show
                ok = measured > 0.05
            else:
                assert truth > 0.1, f"the container got {truth:.2f} cores: the machine is too busy to tell"
                ok = abs(measured - truth) <= 0.4 * truth + 0.03
            assert ok is not mutated, f"docker stats gave {measured:.2f} cores; the cgroup says {truth}"
            memory = _series(readings, "container_memory_working_set_bytes", group="burn")
            assert memory and memory[-1][1] > 1e6
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False, timeout=60)


def test_exported_names_are_the_slo_configs() -> None:
    """The names the SLO config's six queries select are the ones the sources write (no data otherwise); a
    group never read gives no series at all, and a host none of whose groups was read now no node_* series."""
    from aisys_verify.slo.resources import _HostCounters

    counters = _HostCounters([("mainpc", "g")])
    assert counters.series({}, time.time()) == {}
    counters.add(("mainpc", "g"), 1.0, 1.0)
    assert {name for name, _ in counters.series({}, time.time())} == {"container_cpu_usage_seconds_total"}
    series = counters.series({("mainpc", "g"): 1.0}, time.time())
    names = {name for name, _ in series}
    assert {"node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"} <= names
    labels: set[Labels] = {lb for name, lb in series if name == "node_cpu_seconds_total"}
    assert {dict(lb)["mode"] for lb in labels} == {"user", "system", "idle"}
    assert isinstance(Scrape(0.0, series), Scrape)


@pytest.mark.integration
def test_exporter_serves_the_last_reading_to_a_scrape() -> None:
    """What a Prometheus beside the stack would scrape: the same series, by the names the SLO queries use."""
    from aisys_verify.slo import GaugeExporter
    from aisys_verify.slo.prom import scrape

    stack = _Stack({("mainpc", "self"): os.getpid()})
    with ResourceSampler([ProcessSource(stack, [("mainpc", "self")])], 0.1) as sampler, \
            GaugeExporter(sampler) as exporter:
        time.sleep(0.3)
        got = scrape({"gauges": exporter.url})
        last = sampler.readings[-1]
    assert not got.failed, got.failed
    assert set(got.samples) == set(last.samples)
    assert any(name == "node_memory_MemAvailable_bytes" for name, _ in got.samples)
