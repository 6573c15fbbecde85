"""A small in-process load driver that records every latency exactly, in phases.

The SLO suite needs load with known phases (baseline, fault, recovery) on specific endpoints
(ZeroMQ actions of named agents, the gateway's HTTP API) within a tight time budget; this driver
gives that with no subprocesses: ``workers`` threads, each with its own ZeroMQ REQ sockets and
HTTP connection, cycle through a weighted schedule of targets. Three models:

* closed (no rate): a thread sends when its previous request ends; service latency only;
* paced (``rate_per_s``): the k-th request is due at k / rate, timed from its actual send, and a
  slot no thread reached before the phase ended is dropped: a stalled hop holds every thread, so
  the stall is under-sampled (coordinated omission);
* open (``rate_per_s`` with ``open_model=True``, what aisys_verify.load's open model and wrk2 do):
  every slot of a phase is sent, late if every thread is busy, and timed from its **intended
  start**, so a stall costs each request the time it would have waited. The threads are the
  driver's capacity (at most ``workers`` in flight): slots sent more than ``LATE_S`` late are
  counted per phase with the largest lag, and ``RunRecord.capacity_note`` says when the driver
  could not keep its schedule (give it more workers: rate x latency in flight).

Its record (``RunRecord``) has the load engine's result interface (data.LoadResultsLike) with
exact latencies, and saves to / loads from one JSON file.
"""

from __future__ import annotations

import itertools
import json
import math
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
from aisys_verify.slo.gauges import GaugeReadings
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
    scheduled: int = 0  # open model: the slots the phase's schedule holds (rate x seconds)
    max_lag_s: float = 0.0  # open model: the largest send time - intended start


@dataclass(frozen=True)
class Sample:
    phase: str
    endpoint: str
    started: float  # epoch seconds: the intended start in the open model, else the send
    latency_s: float  # from ``started``
    ok: bool
    error: str = ""
    lag_s: float = 0.0  # open model: actual send - intended start (the driver's queueing, inside latency_s)


class RunRecord:
    """What a run measured; the load engine's result interface over exact samples."""

    def __init__(self, endpoints: Sequence[EndpointInfo], phases: Sequence[Phase], samples: Sequence[Sample],
                 metrics: Scrape | None = None, runnable_per_core: float | None = None,
                 model: str = "paced") -> None:
        self.model = model  # 'closed', 'paced' or 'open' (see the module's docstring)
        self.gauges: GaugeReadings | None = None  # resource gauges sampled during the run (ResourceSampler)
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

    def capacity_note(self) -> str:
        """Whether the driver kept its schedule, per phase, in one line (for reports and failure messages)."""
        if self.model != "open":
            late = sum(p.late for p in self.phases)
            return f"{self.model} model: {late} request(s) sent over {LATE_S * 1e3:.0f} ms late; latencies " \
                   "count from the actual send"
        behind = [f"{p.name} {p.late} of {p.scheduled} (max lag {p.max_lag_s:.3f} s)" for p in self.phases if p.late]
        if not behind:
            return "open model: every slot sent within " + f"{LATE_S * 1e3:.0f} ms of its intended start"
        return ("open model: the driver could not keep its schedule (every worker busy); slots sent over "
                f"{LATE_S * 1e3:.0f} ms late: {', '.join(behind)}; latencies still count from the intended starts, "
                "but the load arrived bunched: give it more workers (rate x latency in flight)")

    def errors(self, phase: str | None = None, limit: int = 5) -> list[str]:
        return [f"{s.endpoint}: {s.error}" for s in self._pick(phase, None) if not s.ok][:limit]

    def to_json(self) -> dict[str, Any]:
        return {"format": "aisys-verify slo run/1", "runnable_per_core": self.runnable_per_core, "model": self.model,
                "endpoints": [vars(e) for e in self.endpoints], "phases": [vars(p) for p in self.phases],
                "samples": [[s.phase, s.endpoint, round(s.started, 6), round(s.latency_s, 7), s.ok, s.error,
                             round(s.lag_s, 7)] for s in self.samples],
                "metrics": None if self.metrics is None else {
                    "taken_at": self.metrics.taken_at, "failed": list(self.metrics.failed),
                    "samples": [[name, dict(labels), value] for (name, labels), value in self.metrics.samples.items()]},
                "gauges": None if self.gauges is None else {
                    "dropped": dict(self.gauges.dropped),
                    "readings": [[r.taken_at, [[name, dict(labels), value]
                                               for (name, labels), value in r.samples.items()]]
                                 for r in self.gauges.readings]}}

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
            record = cls([EndpointInfo(**e) for e in data["endpoints"]], [Phase(**p) for p in data["phases"]],
                       [Sample(str(a), str(b), float(c), float(d), bool(e), str(f), float(rest[0]) if rest else 0.0)
                        for a, b, c, d, e, f, *rest in data["samples"]], metrics, data.get("runnable_per_core"),
                       str(data.get("model", "paced")))
            if data.get("gauges"):
                g = data["gauges"]
                record.gauges = GaugeReadings(tuple(
                    Scrape(float(t), {(str(n), tuple(sorted(dict(lb).items()))): float(v) for n, lb, v in rows})
                    for t, rows in g["readings"]), {str(k): str(v) for k, v in dict(g["dropped"]).items()})
            return record
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
        rate_per_s: float | None = None, on_phase: Callable[[str], None] | None = None,
        open_model: bool = False) -> RunRecord:
    """Drive ``targets`` (weighted round robin) through each (phase, seconds) in turn.

    With ``rate_per_s`` the k-th request of a phase is due at k / rate (a paced load that does not
    grow with the system's speed; ``workers`` bounds how many are in flight); without, each worker
    sends as soon as its previous request is answered. ``open_model`` (with a rate): every slot is
    sent, however late, and timed from its intended start (see the module's docstring).
    ``on_phase(name)`` runs before a phase starts (apply a fault there); requests count in the phase
    in which they started (were due, in the open model).
    """
    if not targets:
        raise InvalidValue("no targets to drive")
    if open_model and not rate_per_s:
        raise InvalidValue("the open model needs a rate: pass rate_per_s > 0")
    rate = float(rate_per_s or 0.0)
    # each target's turns spread evenly over the cycle, so every phase sees the same mix
    order = [t for _, _, t in sorted(((j + 0.5) / max(1, t.weight), k, t) for k, t in enumerate(targets)
                                     for j in range(max(1, t.weight)))]
    counter = itertools.count()
    samples: list[Sample] = []
    lock = threading.Lock()
    recorded: list[Phase] = []
    pool = [_Worker() for _ in range(workers)]

    def one(worker: _Worker) -> tuple[Target, bool, str]:
        i = next(counter)
        target = order[i % len(order)]
        try:
            ok, error = worker.send(target, i)
        except Exception as exc:  # the driver's own trouble still counts against the request
            ok, error = False, f"{type(exc).__name__}: {exc}"
        return target, ok, error

    with _HostLoad() as host:
        try:
            for name, seconds in phases:
                if on_phase is not None:
                    on_phase(name)
                start = time.time()
                began = time.perf_counter()
                deadline = began + seconds
                due = itertools.count()
                late = [0]
                lags = [0.0]

                def paced(worker: _Worker, phase: str = name, until: float = deadline, t0: float = began,
                          slots: Iterator[int] = due, behind: list[int] = late) -> None:
                    mine: list[Sample] = []
                    while time.perf_counter() < until:
                        if rate_per_s:
                            at = t0 + next(slots) / rate_per_s
                            if at >= until:
                                break
                            wait = at - time.perf_counter()
                            if wait > 0:
                                time.sleep(wait)
                            elif -wait > LATE_S:
                                behind[0] += 1
                        wall = time.time()
                        sent = time.perf_counter()
                        target, ok, error = one(worker)
                        mine.append(Sample(phase, target.name, wall, time.perf_counter() - sent, ok, error))
                    with lock:
                        samples.extend(mine)

                def open_loop(worker: _Worker, phase: str = name, until: float = deadline, t0: float = began,
                              epoch0: float = start, slots: Iterator[int] = due, behind: list[int] = late,
                              worst: list[float] = lags) -> None:
                    mine: list[Sample] = []
                    while (at := t0 + next(slots) / rate) < until:  # every slot, however late
                        wait = at - time.perf_counter()
                        if wait > 0:
                            time.sleep(wait)
                        lag = max(0.0, time.perf_counter() - at)
                        target, ok, error = one(worker)
                        # from the intended start, as wrk2 does: the wait for a free worker is the user's too
                        mine.append(Sample(phase, target.name, epoch0 + (at - t0), time.perf_counter() - at, ok,
                                           error, lag))
                    with lock:
                        samples.extend(mine)
                        behind[0] += sum(1 for s in mine if s.lag_s > LATE_S)
                        worst[0] = max([worst[0], *(s.lag_s for s in mine)])

                threads = [threading.Thread(target=open_loop if open_model else paced, args=(w,), daemon=True,
                                            name=f"aisys-slo-{k}") for k, w in enumerate(pool)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                scheduled = math.ceil(seconds * rate_per_s) if open_model and rate_per_s else 0
                recorded.append(Phase(name, start, time.time(), late[0], scheduled, round(lags[0], 6)))
        finally:
            for worker in pool:
                worker.close()
    endpoints = list({t.name: EndpointInfo(t.name, t.host, t.agent, t.kind) for t in targets}.values())
    model = "open" if open_model else "paced" if rate_per_s else "closed"
    return RunRecord(endpoints, recorded, sorted(samples, key=lambda s: s.started), None, host.per_core(), model)
