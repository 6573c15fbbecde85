"""Resource pressure on one group: CPU (a CFS quota plus competing stress-ng workers) and memory
(stress-ng holding memory inside a limit shared with the group), through cgroups.

The group's process and the stress-ng workers share a cgroup created for the fault
(``/sys/fs/cgroup/<controller>/aisys-verify/<stack>.<host>.<group>``), so the pressure lands on
that group only, as Pumba's stress runs inside the target container's cgroup. Reverting stops
the workers, moves the group back to the cgroup it came from and removes ours;
``aisys-verify chaos emergency-stop`` does the same for whatever a killed run left.

cgroup v1 (this machine's layout) is implemented; on a cgroup v2 host these faults raise
ChaosUnsupported naming what is missing, rather than pretending.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.faults.base import ChaosError, ChaosUnsupported, Efficacy, Fault, Recorder
from aisys_verify.stack.state import cmdline
from aisys_verify.waiting import wait_until

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack

CGROUP_ROOT = Path(os.environ.get("AISYS_CGROUP_ROOT", "/sys/fs/cgroup"))
PARENT = "aisys-verify"
PERIOD_US = 100_000


def controller_dir(controller: str) -> Path:
    """The writable v1 hierarchy of ``controller``; ChaosUnsupported when there is none."""
    folder = CGROUP_ROOT / controller
    if not (folder / "cgroup.procs").is_file():
        raise ChaosUnsupported(f"no cgroup v1 '{controller}' hierarchy at {folder} (cgroup v2 hosts are not "
                               "supported yet): resource pressure needs it")
    if not os.access(folder, os.W_OK):
        raise ChaosUnsupported(f"{folder} is not writable: resource pressure needs root (or a delegated cgroup)")
    return folder


def current_cgroup(pid: int, controller: str) -> str:
    """The cgroup path of ``pid`` in the v1 hierarchy of ``controller`` (e.g. '/' or '/docker/abc')."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return "/"


def move(pids: list[int], folder: Path) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, OSError):
            (folder / "cgroup.procs").write_text(str(pid))


def members(folder: Path) -> list[int]:
    try:
        return [int(x) for x in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove_cgroup(folder: Path, home: Path) -> None:
    """Move whatever is left in ``folder`` to ``home`` and remove it (retrying while the kernel lets go)."""
    for _ in range(50):
        move(members(folder), home)
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
    raise ChaosError(f"could not remove cgroup {folder} (still busy)")


def leftover_cgroups() -> list[Path]:
    """Every cgroup this tool created and did not remove (any stack, any run)."""
    found = []
    for controller in ("cpu", "memory"):
        parent = CGROUP_ROOT / controller / PARENT
        if parent.is_dir():
            found += sorted(p for p in parent.iterdir() if p.is_dir())
    return found


def remove_leftovers() -> list[str]:
    """Kill stress workers in our cgroups, move other processes to the root cgroup, remove ours."""
    removed = []
    for folder in leftover_cgroups():
        home = folder.parent.parent
        for pid in members(folder):
            if "stress-ng" in cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChaosError):
            remove_cgroup(folder, home)
            removed.append(str(folder))
    return removed


class PressureFault(Fault):
    controller = ""

    def __init__(self, stack: Stack, host: str, group: str, attributes: dict[str, Any],
                 record: Recorder | None = None, **kwargs: Any) -> None:
        super().__init__(f"{host}/{group}", attributes, record=record, **kwargs)
        self.stack, self.host, self.group = stack, host, group
        if "pressure" not in stack.capabilities:
            raise ChaosUnsupported(f"the {type(stack).__name__} backend cannot put resource pressure on a group "
                                   "(the local backend can)")
        if shutil.which("stress-ng") is None:
            raise ChaosUnsupported("stress-ng is not installed: run scripts/system-deps (apt-get install stress-ng)")
        pid = getattr(stack, "group_pid", lambda h, g: None)(host, group)
        if pid is None:
            raise ChaosError(f"{host}/{group} has no running process to put under pressure")
        self.pid: int = pid
        self.home = controller_dir(self.controller)
        self.origin = self.home / current_cgroup(pid, self.controller).lstrip("/")
        self.folder = self.home / PARENT / f"{getattr(stack, 'stack_id', 'stack')}.{host}.{group}"
        self.stress: subprocess.Popen[bytes] | None = None

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def _start_stress(self, args: list[str]) -> None:
        # the shell joins the cgroup, then becomes stress-ng: its workers are born inside it
        script = f'echo $$ > "{self.folder}/cgroup.procs" && exec stress-ng {" ".join(args)} --timeout 3600'
        self.stress = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        record = getattr(self.stack, "record", None)
        if record is not None:  # so that 'aisys-verify down' and the reaper stop it too
            record.add("stress", self.stress.pid, "stress-ng")

    def _revert(self) -> None:
        if self.stress is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.stress.pid, signal.SIGKILL)
            self.stress.wait()
        if self.folder.is_dir():
            for pid in members(self.folder):
                if pid != self.pid and "stress-ng" in cmdline(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            move([self.pid], self.origin)
            remove_cgroup(self.folder, self.origin)


class CpuPressure(PressureFault):
    """Cap the group and ``workers`` busy stress-ng workers together at ``cpu_percent`` of one CPU."""

    kind = "cpu_pressure"
    controller = "cpu"

    def __init__(self, stack: Stack, host: str, group: str, cpu_percent: int = 20, workers: int = 1,
                 **kwargs: Any) -> None:
        if not 1 <= cpu_percent <= 100 * (os.cpu_count() or 1):
            raise ChaosError(f"cpu_percent must be 1-{100 * (os.cpu_count() or 1)} (percent of one CPU), "
                             f"got {cpu_percent}")
        super().__init__(stack, host, group, {"cpu_percent": cpu_percent, "workers": workers}, **kwargs)
        self.cpu_percent, self.workers = cpu_percent, workers

    def _apply(self) -> None:
        self._create()
        (self.folder / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.folder / "cpu.cfs_quota_us").write_text(str(PERIOD_US * self.cpu_percent // 100))
        move([self.pid], self.folder)
        if self.workers:
            self._start_stress(["--cpu", str(self.workers)])

    def _verify(self) -> Efficacy:
        def throttled() -> int:
            for line in (self.folder / "cpu.stat").read_text().splitlines():
                if line.startswith("nr_throttled"):
                    return int(line.split()[1])
            return 0

        before = throttled()
        time.sleep(0.6)
        after = throttled()
        inside = self.pid in members(self.folder)
        ok = inside and after > before
        return Efficacy(ok, f"{self.target} {'in' if inside else 'NOT in'} a cgroup capped at {self.cpu_percent} % "
                            f"of a CPU; throttled in {after - before} of the last 6 periods",
                        {"throttled_periods": after - before})


class MemoryPressure(PressureFault):
    """stress-ng holds ``megabytes`` inside a memory limit the group shares (its usage + the stressor + 16 MiB):
    the group runs with almost no headroom and its caches are reclaimed."""

    kind = "memory_pressure"
    controller = "memory"

    def __init__(self, stack: Stack, host: str, group: str, megabytes: int = 64, **kwargs: Any) -> None:
        if not 1 <= megabytes <= 4096:
            raise ChaosError(f"megabytes must be 1-4096, got {megabytes}")
        super().__init__(stack, host, group, {"megabytes": megabytes}, **kwargs)
        self.megabytes = megabytes
        self.baseline = 0

    def _usage(self) -> int:
        try:
            return int((self.folder / "memory.usage_in_bytes").read_text())
        except (OSError, ValueError):
            return 0

    def _apply(self) -> None:
        self._create()
        move([self.pid], self.folder)
        time.sleep(0.05)
        self.baseline = self._usage()
        limit = self.baseline + (self.megabytes + 16) * 2**20
        (self.folder / "memory.limit_in_bytes").write_text(str(limit))
        self._start_stress(["--vm", "1", "--vm-bytes", f"{self.megabytes}M", "--vm-keep"])

    def _verify(self) -> Efficacy:
        wait_until(lambda: self._usage() >= self.baseline + 0.8 * self.megabytes * 2**20, 5, 0.05)
        grown = (self._usage() - self.baseline) / 2**20
        alive = self.stress is not None and self.stress.poll() is None
        ok = alive and grown >= 0.8 * self.megabytes
        return Efficacy(ok, f"cgroup usage grew by {grown:.0f} MiB of {self.megabytes} MiB held by stress-ng "
                            f"(stressor {'running' if alive else 'exited'})", {"grown_mib": round(grown, 1)})
