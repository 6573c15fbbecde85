"""A real trace collector: Jaeger's all-in-one (OTLP receiver, in-memory storage, query API), and the span
tree of one trace read back from it into aisys_verify.trace's ``Trace`` (so ``assert_hops`` and ``render``
work the same as on the file exporter's JSON lines).

The binary is built from the Go module proxy by scripts/build-jaeger into build/jaeger/ (or named by
``$AISYS_JAEGER``). Every port is chosen free on 127.0.0.1, so several can run side by side. Stand-ins export
to it with the tracing spec ``otlp:`` + :attr:`JaegerServer.otlp_http_url` (the stand-ins' own exporter,
aisys_verify.standin.tracing; needs the ``observability`` extra).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from aisys_verify.errors import CapabilityMissing, TraceAssertionError
from aisys_verify.httpjson import http_json
from aisys_verify.trace import Span, Trace
from aisys_verify.waiting import poll

__all__ = ["JaegerServer", "jaeger_binary", "jaeger_trace", "wait_for_jaeger_trace"]

_BUILT = Path(__file__).resolve().parents[1] / "build" / "jaeger" / "jaeger-all-in-one"
_PORTS = ("admin.http", "collector.grpc-server", "collector.http-server", "collector.otlp.grpc",
          "collector.otlp.http", "query.grpc-server", "query.http-server")


def jaeger_binary() -> str:
    """``$AISYS_JAEGER``, build/jaeger/jaeger-all-in-one, or jaeger-all-in-one on PATH."""
    found = os.environ.get("AISYS_JAEGER") or (str(_BUILT) if _BUILT.is_file() else None) \
        or shutil.which("jaeger-all-in-one")
    if not found:
        raise CapabilityMissing("Jaeger is not built: run scripts/build-jaeger (Go, from the Go module proxy) "
                                "or set AISYS_JAEGER", "jaeger")
    return found


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:  # held open together: no two of them can be the same port
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


class JaegerServer:
    """Jaeger all-in-one on free loopback ports, stopped on exit; its log goes to ``log``."""

    def __init__(self, log: Path, *, start_timeout: float = 30.0) -> None:
        self.log = log
        self.start_timeout = start_timeout
        self.ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['collector.otlp.http']}/v1/traces"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['query.http-server']}"

    def __enter__(self) -> JaegerServer:
        args = [jaeger_binary(), *(f"--{name}.host-port=127.0.0.1:{port}" for name, port in self.ports.items())]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "SPAN_STORAGE_TYPE": "memory"})
        ready = poll(self._ready, self.start_timeout, 0.2, give_up=lambda: self.process is None or
                     self.process.poll() is not None)
        if not ready.met:
            self.__exit__(None, None, None)
            tail = self.log.read_text(errors="replace")[-2000:]
            raise CapabilityMissing(f"Jaeger did not answer on {self.query_url} within {self.start_timeout:g} s; "
                                    f"log tail:\n{tail}", "jaeger")
        return self

    def _ready(self) -> bool:
        try:
            return http_json("GET", f"{self.query_url}/api/services", timeout=1.0).status == 200
        except OSError:
            return False

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def _tags(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {t["key"]: t.get("value") for t in items or [] if "key" in t}


def jaeger_trace(query_url: str, trace_id: str, timeout: float = 5.0) -> Trace:
    """Every span of ``trace_id`` as Jaeger's query API returns it (empty when it has none yet)."""
    reply = http_json("GET", f"{query_url}/api/traces/{trace_id}", timeout=timeout)
    if reply.status == 404:
        return Trace(trace_id, [])
    if reply.status != 200 or not isinstance(reply.body, dict):
        raise TraceAssertionError(f"Jaeger at {query_url} answered {reply.status} for trace {trace_id}: "
                                  f"{str(reply.body)[:300]}")
    spans: list[Span] = []
    for data in reply.body.get("data") or []:
        processes = data.get("processes") or {}
        for raw in data.get("spans") or []:
            tags = _tags(raw.get("tags"))
            parent = next((r["spanID"] for r in raw.get("references") or []
                           if r.get("refType") == "CHILD_OF" and r.get("traceID") == raw["traceID"]), None)
            status = str(tags.pop("otel.status_code", "UNSET")).upper()
            error = tags.pop("otel.status_description", None)
            kind = str(tags.pop("span.kind", "internal")).upper()
            service = str((processes.get(raw.get("processID")) or {}).get("serviceName") or "")
            start_ns = int(raw["startTime"]) * 1000  # Jaeger keeps microseconds
            spans.append(Span(raw["traceID"].rjust(32, "0"), raw["spanID"].rjust(16, "0"),
                              parent.rjust(16, "0") if parent else None, raw["operationName"], kind, service,
                              start_ns, start_ns + int(raw.get("duration", 0)) * 1000,
                              "ERROR" if status == "ERROR" or tags.get("error") is True else status,
                              str(error) if error is not None else None,
                              {k: v for k, v in tags.items() if not k.startswith("otel.") and k != "error"}))
    return Trace(trace_id, spans)


def wait_for_jaeger_trace(query_url: str, trace_id: str, settle_s: float = 0.5, timeout: float = 10.0,
                          min_spans: int = 1) -> Trace:
    """The spans of ``trace_id`` once Jaeger shows no new ones for ``settle_s`` (exporters batch)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        found = jaeger_trace(query_url, trace_id)
        now = time.monotonic()
        if len(found.spans) != last:
            last, since = len(found.spans), now
        elif last >= min_spans and now - since >= settle_s:
            return found
        if now > deadline:
            if found.spans:
                return found
            raise TraceAssertionError(f"no spans of trace {trace_id} in Jaeger at {query_url} after {timeout:g} s "
                                      "(is the stack exporting to it? trace='otlp:' + its OTLP URL)")
        time.sleep(0.1)
