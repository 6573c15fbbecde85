"""The disaster drill: acknowledged writes with sequence numbers, backups on a schedule, a host destroyed,
restored from its latest backup, and the recovery measured.

* The writer writes as the real MemoryClient does (memclient.py): ``add_memory`` over ZeroMQ to
  MemoryOrchestratorService's main socket, found through the stack (the spec's port, the address the stack or
  the inventory gives its host), at a fixed rate; each write's content carries its sequence number N; a write
  counts as acknowledged when the orchestrator answers success with a memory id. Its clock readings are kept
  (time of acknowledgement, per sequence number). In the stand-ins, only the reference profile answers
  ``add_memory`` (as the real orchestrator does): the drill's own stack runs it (take.own_stack).
* Backups of the host's stores run every ``backup_interval_s`` while the writer runs (take.py).
* The disaster: the writer is stopped (so every acknowledgement is known), then the whole host is destroyed
  (host.py: groups and Redis killed, data folders or volumes emptied).
* Recovery: the latest backup is verified and restored, Redis and the groups start again, and the drill
  waits until every agent of the stack is healthy and the backup's last write (its watermark) reads back
  with ``get_memory``.

RTO: disaster to serving again. RPO: disaster time minus the acknowledgement time of the last acknowledged
write that survived (the highest sequence at or below the watermark), with the count of acknowledged writes
lost (above it). Survival is checked, not assumed: the last survivor must read back, and the first lost
write must be absent (``get_memory``: not found; ``search_memory`` for its text: not among the results).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.backup.compose_host import destroy_compose_host, recover_compose_host
from aisys_verify.backup.host import destroy_host, recover_host
from aisys_verify.backup.memclient import ABSENT, PRESENT, add_memory, read_memory, search_finds
from aisys_verify.backup.take import create_backup, latest_backup, stack_targets
from aisys_verify.backup.volumes import is_compose
from aisys_verify.errors import BackupError

MEMORY_AGENT = "MemoryOrchestratorService"  # where the real MemoryClient writes (TOPOLOGY.md: PC2, port 7140)


@dataclass(frozen=True)
class Ack:
    seq: int
    t: float  # epoch seconds when the acknowledgement arrived
    memory_id: str


class Writer:
    """Writes sequence numbers with ``add_memory`` to the orchestrator at ``url`` (its ZeroMQ main socket) at
    ``rate_hz`` on a thread until ``stop()``.

    Sequence numbers start at the epoch milliseconds (unless ``first_seq`` is given), so they grow across
    runs: a store still holding an earlier run's writes never lifts this run's watermark above its own
    writes (which would count lost writes as survivors). The real orchestrator serves about 10 requests/s
    (PROTOCOL.md §1): keep ``rate_hz`` well below that.
    """

    def __init__(self, url: str, rate_hz: float = 4.0, timeout: float = 5.0, first_seq: int | None = None) -> None:
        self.url = url
        self.first_seq = first_seq if first_seq is not None else int(time.time() * 1000)
        self.period = 1.0 / rate_hz
        self.timeout = timeout
        self.acks: list[Ack] = []
        self.failures: list[tuple[int, float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dr-writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def _run(self) -> None:
        seq = self.first_seq - 1
        next_at = time.monotonic()
        while not self._stop.is_set():
            seq += 1
            try:
                memory_id, why = add_memory(self.url, seq, self.timeout)
            except OSError as exc:
                memory_id, why = None, str(exc)
            if memory_id is not None:
                self.acks.append(Ack(seq, time.time(), memory_id))
            else:
                self.failures.append((seq, time.time(), why))
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass
class DrillReport:
    host: str
    disaster_at: float
    serving_at: float
    healthy_at: float
    backup: str
    watermark: int | None
    acked: int
    lost: int
    last_survivor: Ack | None
    first_lost: Ack | None
    backups: list[dict[str, Any]] = field(default_factory=list)  # {"started", "created", "watermark", "folder"}
    first_write_at: float | None = None
    restore_started_at: float = 0.0
    restored_at: float = 0.0
    write_failures: int = 0
    acks: list[Ack] = field(default_factory=list, repr=False)

    @property
    def rto_s(self) -> float:
        return self.serving_at - self.disaster_at

    @property
    def rpo_s(self) -> float:
        """Seconds of acknowledged writes lost; with no survivor, everything since the first write."""
        since = self.last_survivor.t if self.last_survivor else (self.first_write_at or self.disaster_at)
        return max(0.0, self.disaster_at - since)

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "rpo_s": round(self.rpo_s, 3), "rto_s": round(self.rto_s, 3),
                "acked_writes": self.acked, "acked_writes_lost": self.lost, "watermark": self.watermark,
                "backup": self.backup, "disaster_at": self.disaster_at, "restore_started_at": self.restore_started_at,
                "restored_at": self.restored_at, "healthy_at": self.healthy_at, "serving_at": self.serving_at,
                "first_write_at": self.first_write_at, "write_failures": self.write_failures,
                "last_survivor": vars(self.last_survivor) if self.last_survivor else None,
                "first_lost": vars(self.first_lost) if self.first_lost else None, "backups": self.backups}


def disaster_drill(stack: Any, backups_dir: Path, *, host: str | None = None, memory_agent: str = MEMORY_AGENT,
                   rate_hz: float = 4.0, backup_interval_s: float = 2.0, backups: int = 3,
                   after_last_backup_s: float = 1.0, rto_timeout_s: float = 120.0) -> DrillReport:
    """Run the drill; the report holds the measured RPO and RTO. ``host`` (default: the memory agent's host in
    the spec) is the one destroyed and restored."""
    endpoint = stack.endpoint(memory_agent)
    host = host or endpoint.host
    url = endpoint.main_url
    writer = Writer(url, rate_hz).start()
    taken: list[dict[str, Any]] = []
    try:
        for i in range(backups):
            time.sleep(backup_interval_s)
            folder = backups_dir / f"{i + 1:03d}"
            manifest = create_backup(stack_targets(stack, [host]), folder, stack.stack_id)
            taken.append({"folder": str(folder), "started": manifest.started, "created": manifest.created,
                          "watermark": manifest.watermark})
        time.sleep(after_last_backup_s)
    finally:
        writer.stop()
    if not writer.acks:
        raise BackupError(f"the drill's writer got no add_memory acknowledged by {memory_agent} at {url} "
                          f"({len(writer.failures)} failures, first: {writer.failures[:1]}); the stand-ins answer "
                          "add_memory in the reference profile only (--aisys-standin-profile reference)")
    compose = is_compose(stack)
    disaster_at = time.time()
    killed = destroy_compose_host(stack, host) if compose else destroy_host(stack, host)
    restore_started = time.time()
    backup = latest_backup(backups_dir)
    manifest = (recover_compose_host(stack, host, backup, killed) if compose
                else recover_host(stack, host, backup, killed))
    restored_at = time.time()
    if compose:  # every agent of the stack, not only the host's: the others depend on it
        stack.runner.wait_healthy(list(stack.services), rto_timeout_s)
    else:
        stack.wait_healthy(rto_timeout_s)
    healthy_at = time.time()
    watermark = manifest.watermark
    survivors = [a for a in writer.acks if watermark is not None and a.seq <= watermark]
    lost = [a for a in writer.acks if watermark is None or a.seq > watermark]
    last = max(survivors, key=lambda a: a.seq) if survivors else None
    serving_at = _wait_readable(url, last, rto_timeout_s - (time.time() - disaster_at)) if last else time.time()
    first_lost = min(lost, key=lambda a: a.seq) if lost else None
    if first_lost is not None:
        state, found = read_memory(url, first_lost.memory_id, first_lost.seq), search_finds(
            url, first_lost.memory_id, first_lost.seq)
        if state != ABSENT or found is not False:
            raise BackupError(f"write {first_lost.seq} (memory {first_lost.memory_id}) is above the backup's "
                              f"watermark {watermark} yet get_memory says {state!r} and search_memory "
                              f"{'finds it' if found else 'gave no usable reply' if found is None else 'not'}: "
                              "the restore did not replace the host's store")
    return DrillReport(host, disaster_at, serving_at, healthy_at, str(backup), watermark, len(writer.acks),
                       len(lost), last, first_lost, taken, first_write_at=writer.acks[0].t,
                       restore_started_at=restore_started, restored_at=restored_at,
                       write_failures=len(writer.failures), acks=list(writer.acks))


def _wait_readable(url: str, ack: Ack, timeout: float) -> float:
    """The time the write ``ack`` first read back with ``get_memory`` (its own content)."""
    from aisys_verify.waiting import poll

    waited = poll(lambda: read_memory(url, ack.memory_id, ack.seq), max(timeout, 1.0), 0.05,
                  until=lambda state: state == PRESENT)
    if not waited.met:
        raise BackupError(f"the last backed-up write (seq {ack.seq}, memory {ack.memory_id}) did not read back "
                          f"with get_memory from {url} within {timeout:.0f} s of the disaster (last: {waited.last})")
    return time.time()
