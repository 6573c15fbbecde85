"""What a stack started, on disk, so that whatever a killed run left behind is found and removed.

Each stack writes ``<state dir>/<stack id>.json`` with every process it started and a
marker that must still be in the process's command line (so a reused PID is never killed).
``reap()`` runs before every stand-up and from ``aisys-verify down``.

A record also names who started the stack (user id) and from which project folder, so that
``aisys-verify down`` without an id stops only this user's stacks of this project (and orphans),
never a stack another job on the same machine is using right now (``mine_or_orphaned``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aisys_verify.waiting import wait_until

# stacks started by this very process and not yet stopped: never leftovers, whatever their record says
LIVE_IN_THIS_PROCESS: set[str] = set()


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot): with the PID it names one process for ever."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the comm field may contain spaces
    except (IndexError, ValueError):
        return None


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, T for stopped, Z, ...), None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def project_root(start: Path | None = None) -> Path:
    """The project folder a command runs in: the nearest folder at or above ``start`` (default: the working
    directory) with a pyproject.toml, pytest.ini or .git; ``start`` itself when there is none."""
    try:
        here = (start or Path.cwd()).resolve()
    except OSError:  # the working directory was removed under us
        return Path("/")
    for folder in (here, *here.parents):
        if any((folder / name).exists() for name in ("pyproject.toml", "pytest.ini", ".git")):
            return folder
    return here


def state_dir() -> Path:
    return Path(os.environ.get("AISYS_STATE_DIR") or Path.home() / ".aisys-verify" / "run")


@dataclass
class RecordedProcess:
    role: str  # launcher | redis | toxiproxy | group | stress
    pid: int
    marker: str  # a substring of /proc/<pid>/cmdline


@dataclass
class StackRecord:
    stack_id: str
    backend: str
    spec: list[str]
    created: float = field(default_factory=time.time)
    owner_pid: int = field(default_factory=os.getpid)
    owner_start: int | None = field(default_factory=lambda: process_start_time(os.getpid()))
    processes: list[RecordedProcess] = field(default_factory=list)
    workdir: str = ""
    toxiproxy_api: str = ""  # host:port of the stack's Toxiproxy (chaos emergency-stop resets it)
    # who started it, from where: None in records of older versions (then only an orphan is "ours" to stop)
    uid: int | None = field(default_factory=os.getuid)
    project: str | None = field(default_factory=lambda: str(project_root()))
    # compose: the images its containers run, by ID and registry digests (aisys_verify.security.provenance)
    images: list[dict[str, object]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.stack_id}.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(self.path)  # atomic: a reaper never reads half a record

    def add(self, role: str, pid: int, marker: str) -> None:
        self.processes.append(RecordedProcess(role, pid, marker))
        self.save()

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @classmethod
    def load(cls, path: Path) -> StackRecord | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["processes"] = [RecordedProcess(**p) for p in data.get("processes", [])]
            data.setdefault("uid", None)  # an older record: unknown owner, not this user's by default
            data.setdefault("project", None)
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def cmdline(pid: int) -> str:
    """The command line of ``pid`` as one string ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(process: RecordedProcess) -> bool:
    return process.marker in cmdline(process.pid)


def owner_alive(record: StackRecord) -> bool:
    """Is the process that started this stack still running (the same process, not a reused PID)?"""
    if record.stack_id in LIVE_IN_THIS_PROCESS:
        return True
    if record.owner_pid == os.getpid():
        return False  # our PID but not our stack: a previous process that had this PID
    start = process_start_time(record.owner_pid)
    return start is not None and (record.owner_start is None or start == record.owner_start)


def owner_running(record: StackRecord) -> bool:
    """Is the owner still executing (alive and not a zombie waiting to be reaped)?"""
    return owner_alive(record) and process_state(record.owner_pid) not in (None, "Z", "X")


def mine_or_orphaned(record: StackRecord, project: Path | None = None) -> bool:
    """What ``aisys-verify down`` without an id stops: this user's stacks started from this project folder
    (``project``, default: the working directory's), or a stack whose owner is gone. A live stack of another
    user or project (a parallel CI job on the same machine) is never touched."""
    if not owner_running(record):  # gone, or a zombie nobody reaps (a killed `up` supervisor under a bare init)
        return True
    here = str(project or project_root())
    return record.uid == os.getuid() and record.project == here


def owner_gone(record: StackRecord) -> bool:
    """Has the owner removed the record and exited (what 'down' waits for after asking it to stop)?"""
    return not (record.path.exists() or owner_running(record))


def kill_recorded(record: StackRecord, grace: float = 3.0) -> list[RecordedProcess]:
    """SIGTERM then SIGKILL every recorded process that is still the one we started."""
    targets = [p for p in record.processes if alive(p)]
    for proc in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGTERM)
    wait_until(lambda: not any(alive(p) for p in targets), grace, 0.05)
    for proc in targets:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)
    return targets


def reap(include_live_owners: bool = False) -> list[tuple[StackRecord, list[RecordedProcess]]]:
    """Remove the leftovers of stacks whose owner is gone (or every stack, with include_live_owners)."""
    removed: list[tuple[StackRecord, list[RecordedProcess]]] = []
    folder = state_dir()
    if not folder.is_dir():
        return removed
    for path in sorted(folder.glob("*.json")):
        record = StackRecord.load(path)
        if record is None:
            path.unlink(missing_ok=True)
            continue
        if owner_alive(record) and not include_live_owners:
            continue
        removed.append((record, kill_recorded(record)))
        record.remove()
    return removed


def list_stacks() -> list[tuple[StackRecord, list[RecordedProcess]]]:
    folder = state_dir()
    records = [StackRecord.load(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return [(r, [p for p in r.processes if alive(p)]) for r in records if r is not None]
