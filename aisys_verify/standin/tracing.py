"""OpenTelemetry spans for every hop, with W3C trace context carried in the request envelope.

Exporters, chosen by a spec string: ``none``; ``console``; ``memory`` (in this process,
for tests that run agents in-process); ``file:DIR`` (one JSON line per span in
DIR/<service>.jsonl, for tests that read a multi-process trace); ``otlp:URL`` (OTLP/HTTP,
needs opentelemetry-exporter-otlp-proto-http).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aisys_verify.errors import UsageError

_PROPAGATOR = TraceContextTextMapPropagator()


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans as JSON lines; safe to read while the process still runs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(s)) for s in spans]
        with self.lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name, "kind": span.kind.name, "service": span.resource.attributes.get("service.name"),
        "start_ns": span.start_time, "end_ns": span.end_time,
        "status": span.status.status_code.name, "error": span.status.description,
        "attributes": dict(span.attributes or {}),
    }


_BASE_RESOURCE: list[Resource] = []


def base_resource() -> Resource:
    """The SDK's detected resource, once per process. ``Resource.create`` runs its detectors in a fresh thread
    pool each time (~7 ms); the launcher calls this before forking, so every group inherits the result."""
    if not _BASE_RESOURCE:
        _BASE_RESOURCE.append(Resource.create({}))
    return _BASE_RESOURCE[0]


def make_tracer(service: str, spec: str) -> tuple[trace.Tracer, InMemorySpanExporter | None]:
    """A tracer for one group process (service = 'host/group'); returns the memory exporter if asked."""
    provider = TracerProvider(resource=base_resource().merge(Resource({"service.name": service})))
    memory = None
    if spec == "none":
        pass
    elif spec == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif spec == "memory":
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
    elif spec.startswith("file:"):
        name = service.replace("/", ".") + f".{os.getpid()}.jsonl"
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(spec[5:]) / name)))
    elif spec.startswith("otlp:"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise UsageError("trace exporter otlp needs opentelemetry-exporter-otlp-proto-http installed") from None
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=spec[5:])))
    else:
        raise UsageError(f"unknown trace exporter {spec!r}: use none, console, memory, file:DIR or otlp:URL")
    return provider.get_tracer("aisys_verify.standin"), memory


@contextmanager
def server_span(tracer: trace.Tracer, agent: str, action: str, traceparent: str | None) -> Iterator[Span]:
    """The span of one request an agent serves, a child of the caller's span when traceparent is given."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()
    with tracer.start_as_current_span(f"{agent} {action}", context=parent, kind=SpanKind.SERVER,
                                      attributes={"agent": agent, "action": action}) as span:
        yield span


@contextmanager
def client_span(tracer: trace.Tracer, caller: str, target: str, action: str) -> Iterator[dict[str, str]]:
    """A span around one outgoing call; yields the carrier (traceparent) to put in the envelope."""
    with tracer.start_as_current_span(f"{caller} -> {target} {action}", kind=SpanKind.CLIENT,
                                      attributes={"agent": caller, "peer": target, "action": action}) as span:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        try:
            yield carrier
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


def mark_error(span: Span, message: str) -> None:
    span.set_status(Status(StatusCode.ERROR, message))


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else ""
