"""A small closed-loop load driver that records every latency exactly, in phases.

The SLO suite needs load with known phases (baseline, fault, recovery) on specific endpoints
(ZeroMQ actions of named agents, the gateway's HTTP API) within a tight time budget; this driver
gives that with no subprocesses: ``workers`` threads, each with its own ZeroMQ REQ sockets and
HTTP connection, cycle through a weighted schedule of targets. It is a closed model: a request
starts when the previous one of its thread ends, so it measures service latency, not the
coordinated-omission-corrected latency of an open-model load generator (aisys_verify.load).

Its record (``RunRecord``) has the load engine's result interface (data.LoadResultsLike) with
exact latencies, and saves to / loads from one JSON file.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import HttpNoReply, InvalidValue
from aisys_verify.errors import RunRecordError as RunRecordError
from aisys_verify.httpjson import JSON_HEADERS, KeepAlive
from aisys_verify.load.results import EndpointInfo
from aisys_verify.load.results import Phase as LoadPhase
from aisys_verify.replies import client_error, error_text, failed
from aisys_verify.slo.data import ExactLatencies
from aisys_verify.slo.prom import Scrape

SOURCE = "aisys-verify-slo"
LATE_S = 0.05
OVERSUBSCRIBED = 2.5  # runnable tasks per CPU; the SLO baseline alone gives about 1.7 on 2 CPUs


class _HostLoad:
    """Samples /proc/stat's procs_running (instantaneous runnable tasks) in a thread."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.samples: list[int] = []
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="aisys-slo-hostload")

    def _run(self) -> None:
        while not self.stop.wait(self.interval_s):
            try:
                with open("/proc/stat", encoding="ascii") as stat:
                    for line in stat:
                        if line.startswith("procs_running"):
                            self.samples.append(int(line.split()[1]) - 1)  # not counting this reader
            except (OSError, ValueError):
                return

    def __enter__(self) -> _HostLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def per_core(self) -> float | None:
        if not self.samples:
            return None
        return sum(self.samples) / len(self.samples) / (os.cpu_count() or 1)


@dataclass(frozen=True)
class Target:
    """One kind of request: a ZeroMQ action on an agent, or an HTTP call on an agent's HTTP port."""

    name: str  # endpoint name in the record, e.g. 'mainpc/MemoryClient get_context'
    host: str
    agent: str
    url: str  # tcp://address:port or http://address:port
    action: str  # the ZeroMQ action, or 'POST /dialogue/process'
    fields: Callable[[int], Mapping[str, Any]] = field(default=lambda i: {})
    weight: int = 1
    timeout_s: float = 5.0

    @property
    def kind(self) -> str:
        return "http" if self.url.startswith("http") else "zmq"


@dataclass(frozen=True)
class Phase(LoadPhase):
    """A phase of the load engine's results, plus what only this driver knows: how late it was."""

    late: int = 0  # paced requests sent more than LATE_S after they were due: the driver fell behind


@dataclass(frozen=True)
class Sample:
    phase: str
    endpoint: str
    started: float  # epoch seconds
    latency_s: float
    ok: bool
    error: str = ""


class RunRecord:
    """What a run measured; the load engine's result interface over exact samples."""

    def __init__(self, endpoints: Sequence[EndpointInfo], phases: Sequence[Phase], samples: Sequence[Sample],
                 metrics: Scrape | None = None, runnable_per_core: float | None = None) -> None:
        self.metrics = metrics  # the agents' counter deltas over the run, when it was scraped
        # mean runnable tasks per CPU during the run (Linux /proc/stat): above 2.5 the machine was
        # oversubscribed and latencies include other processes' contention
        self.runnable_per_core = runnable_per_core
        self.endpoints = tuple(endpoints)
        self.phases = tuple(phases)
        self.samples = tuple(samples)
        self.started_at = min((p.start for p in self.phases), default=0.0)
        self.ended_at = max((p.end for p in self.phases), default=0.0)

    def _pick(self, phase: str | None, endpoint: str | None) -> list[Sample]:
        for name, known in (("phase", [p.name for p in self.phases]), ("endpoint", [e.name for e in self.endpoints])):
            wanted = phase if name == "phase" else endpoint
            if wanted is not None and wanted not in known:
                raise RunRecordError(f"no {name} {wanted!r} in this run; known: {', '.join(known)}")
        return [s for s in self.samples if (phase is None or s.phase == phase)
                and (endpoint is None or s.endpoint == endpoint)]

    def latencies(self, phase: str | None = None, endpoint: str | None = None) -> ExactLatencies:
        return ExactLatencies.of(s.latency_s for s in self._pick(phase, endpoint) if s.ok)

    def counts(self, phase: str | None = None, endpoint: str | None = None) -> tuple[int, int]:
        picked = self._pick(phase, endpoint)
        return len(picked), sum(1 for s in picked if not s.ok)

    def host_note(self) -> str:
        """One line on how busy the machine was, for failure messages."""
        if self.runnable_per_core is None:
            return "host load during the run: not measured (no /proc/stat)"
        busy = " (oversubscribed: latencies include other processes' contention)" \
            if self.runnable_per_core > OVERSUBSCRIBED else ""
        return f"host load during the run: {self.runnable_per_core:.2f} runnable tasks per CPU{busy}"

    @property
    def saturated(self) -> bool:
        """More than 1 % of paced requests went out late: the load was not what was asked for."""
        return sum(p.late for p in self.phases) > 0.01 * max(1, len(self.samples))

    def errors(self, phase: str | None = None, limit: int = 5) -> list[str]:
        return [f"{s.endpoint}: {s.error}" for s in self._pick(phase, None) if not s.ok][:limit]

    def to_json(self) -> dict[str, Any]:
        return {"format": "aisys-verify slo run/1", "runnable_per_core": self.runnable_per_core,
                "endpoints": [vars(e) for e in self.endpoints], "phases": [vars(p) for p in self.phases],
                "samples": [[s.phase, s.endpoint, round(s.started, 6), round(s.latency_s, 7), s.ok, s.error]
                            for s in self.samples],
                "metrics": None if self.metrics is None else {
                    "taken_at": self.metrics.taken_at, "failed": list(self.metrics.failed),
                    "samples": [[name, dict(labels), value] for (name, labels), value in self.metrics.samples.items()]}}

    def save(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_json()))
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunRecord:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunRecordError(f"no run record at '{path}'") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise RunRecordError(f"'{path}' is not a readable JSON run record: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != "aisys-verify slo run/1":
            raise RunRecordError(f"'{path}' is not an aisys-verify SLO run record (no format "
                                 "'aisys-verify slo run/1')")
        try:
            metrics = None
            if data.get("metrics"):
                m = data["metrics"]
                metrics = Scrape(float(m["taken_at"]), {(str(n), tuple(sorted(dict(lb).items()))): float(v)
                                                        for n, lb, v in m["samples"]}, tuple(m["failed"]))
            return cls([EndpointInfo(**e) for e in data["endpoints"]], [Phase(**p) for p in data["phases"]],
                       [Sample(str(a), str(b), float(c), float(d), bool(e), str(f))
                        for a, b, c, d, e, f in data["samples"]], metrics, data.get("runnable_per_core"))
        except (KeyError, TypeError, ValueError) as exc:
            raise RunRecordError(f"'{path}': malformed run record ({type(exc).__name__}: {exc})") from None


class _Worker:
    """One thread's connections: a REQ socket per ZeroMQ url (remade after a timeout), one HTTP connection
    per base url."""

    def __init__(self) -> None:
        import zmq

        self.zmq = zmq
        self.context: Any = zmq.Context.instance()
        self.sockets: dict[str, Any] = {}
        self.http = KeepAlive()

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close(0)
        self.http.close()

    def send(self, target: Target, i: int) -> tuple[bool, str]:
        return self._http(target, i) if target.kind == "http" else self._zmq(target, i)

    def _zmq(self, target: Target, i: int) -> tuple[bool, str]:
        from aisys_verify.standin import protocol

        sock = self.sockets.get(target.url)
        if sock is None:
            from aisys_verify.standin.curve import process_keys, secure_client

            sock = self.context.socket(self.zmq.REQ)
            sock.setsockopt(self.zmq.LINGER, 0)
            secure_client(sock, process_keys())  # CurveZMQ when SECURE_ZMQ=1 (the stack's keys)
            sock.connect(target.url)
            self.sockets[target.url] = sock
        sock.send(protocol.encode(protocol.envelope(target.action, SOURCE, dict(target.fields(i)))))
        if not sock.poll(int(target.timeout_s * 1000)):
            sock.close(0)  # a REQ socket that missed its reply cannot send again
            del self.sockets[target.url]
            return False, f"timeout after {target.timeout_s:g} s"
        try:
            reply = protocol.parse_reply(sock.recv())
        except Exception as exc:  # a garbled reply is the service's failure
            return False, f"bad reply: {exc}"
        if failed(reply) and not client_error(reply):  # either dialect: error code, or the real texts
            return False, f"{reply.get('error_code') or 'error'}: {error_text(reply)[:120]}"
        return True, ""

    def _http(self, target: Target, i: int) -> tuple[bool, str]:
        method, _, path = target.action.partition(" ")
        body = json.dumps(dict(target.fields(i))).encode() if method in ("POST", "PUT") else None
        try:  # a kept-alive connection the server closed is sent again once, by KeepAlive
            status = self.http.request(method, target.url, path, body, timeout=target.timeout_s,
                                       headers=JSON_HEADERS)
        except (BrokenPipeError, ConnectionResetError) as exc:
            return False, f"{type(exc).__name__}"
        except OSError as exc:
            return False, f"{exc.kind if isinstance(exc, HttpNoReply) else type(exc).__name__}: {exc}"
        return (status < 500), ("" if status < 500 else f"HTTP {status}")


def run(targets: Sequence[Target], phases: Sequence[tuple[str, float]], *, workers: int = 8,
        rate_per_s: float | None = None, on_phase: Callable[[str], None] | None = None) -> RunRecord:
    """Drive ``targets`` (weighted round robin) through each (phase, seconds) in turn.

    With ``rate_per_s`` the k-th request of a phase is due at k / rate (a paced load that does not
    grow with the system's speed; ``workers`` bounds how many are in flight); without, each worker
    sends as soon as its previous request is answered. ``on_phase(name)`` runs before a phase
    starts (apply a fault there); requests count in the phase in which they started.
    """
    if not targets:
        raise InvalidValue("no targets to drive")
    # each target's turns spread evenly over the cycle, so every phase sees the same mix
    order = [t for _, _, t in sorted(((j + 0.5) / max(1, t.weight), k, t) for k, t in enumerate(targets)
                                     for j in range(max(1, t.weight)))]
    counter = itertools.count()
    samples: list[Sample] = []
    lock = threading.Lock()
    recorded: list[Phase] = []
    pool = [_Worker() for _ in range(workers)]
    with _HostLoad() as host:
        try:
            for name, seconds in phases:
                if on_phase is not None:
                    on_phase(name)
                start = time.time()
                began = time.monotonic()
                deadline = began + seconds
                due = itertools.count()
                late = [0]

                def loop(worker: _Worker, phase: str = name, until: float = deadline, t0: float = began,
                         slots: Iterator[int] = due, behind: list[int] = late) -> None:
                    mine: list[Sample] = []
                    while time.monotonic() < until:
                        if rate_per_s:
                            at = t0 + next(slots) / rate_per_s
                            if at >= until:
                                break
                            wait = at - time.monotonic()
                            if wait > 0:
                                time.sleep(wait)
                            elif -wait > LATE_S:
                                behind[0] += 1
                        i = next(counter)
                        target = order[i % len(order)]
                        wall = time.time()
                        sent = time.perf_counter()
                        try:
                            ok, error = worker.send(target, i)
                        except Exception as exc:  # the driver's own trouble still counts against the request
                            ok, error = False, f"{type(exc).__name__}: {exc}"
                        mine.append(Sample(phase, target.name, wall, time.perf_counter() - sent, ok, error))
                    with lock:
                        samples.extend(mine)

                threads = [threading.Thread(target=loop, args=(w,), daemon=True, name=f"aisys-slo-{k}")
                           for k, w in enumerate(pool)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                recorded.append(Phase(name, start, time.time(), late[0]))
        finally:
            for worker in pool:
                worker.close()
    endpoints = list({t.name: EndpointInfo(t.name, t.host, t.agent, t.kind) for t in targets}.values())
    return RunRecord(endpoints, recorded, sorted(samples, key=lambda s: s.started), None, host.per_core())
