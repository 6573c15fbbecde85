"""Traces to a real collector: Jaeger all-in-one (scripts/build-jaeger) receives the stand-ins' spans over
OTLP/HTTP from their own exporter (aisys_verify.standin.tracing, ``otlp:URL``), and the span-tree assertions
read the trace back from Jaeger's query API (aisys_verify.jaeger)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from aisys_verify.errors import TraceAssertionError
from aisys_verify.jaeger import JaegerServer, jaeger_trace, wait_for_jaeger_trace
from aisys_verify.standin.tracing import client_span, current_trace_id, make_tracer, mark_error, server_span

pytestmark = [pytest.mark.integration]  # skipped where Jaeger is missing: conftest.py


def _turn(jaeger: JaegerServer, *, callee_answers: bool = True, fail: bool = False) -> str:
    """One turn across two stand-in groups (two processes' worth of tracers), exported over OTLP."""
    url = "otlp:" + jaeger.otlp_http_url
    coordinator, _ = make_tracer("mainpc/infra_core", url)
    memory, _ = make_tracer("mainpc/memory_stack", url)
    with server_span(coordinator, "RequestCoordinator", "turn", None):
        trace_id = current_trace_id()
        with client_span(coordinator, "RequestCoordinator", "MemoryClient", "get_context") as carrier:
            if callee_answers:
                with server_span(memory, "MemoryClient", "get_context", carrier["traceparent"]) as span:
                    if fail:
                        mark_error(span, "store unavailable")
    _flush_all()
    return trace_id


def _flush_all() -> None:
    """The OTLP exporter batches: send what every tracer provider holds now."""
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, TracerProvider):
            obj.force_flush()


def test_a_trace_exported_over_otlp_reads_back_as_a_tree(jaeger: JaegerServer) -> None:
    trace_id = _turn(jaeger)
    trace = wait_for_jaeger_trace(jaeger.query_url, trace_id, min_spans=3)
    assert len(trace.spans) == 3 and len(trace.roots) == 1
    trace.assert_hops([("RequestCoordinator", "MemoryClient", "get_context")])
    assert {s.service for s in trace.spans} == {"mainpc/infra_core", "mainpc/memory_stack"}
    assert [s.kind for s in sorted(trace.spans, key=lambda s: s.start_ns)] == ["SERVER", "CLIENT", "SERVER"]
    assert "MemoryClient get_context [server, mainpc/memory_stack]" in trace.render()


def test_a_callee_that_never_answered_fails_the_hop_check(jaeger: JaegerServer) -> None:
    trace_id = _turn(jaeger, callee_answers=False)
    trace = wait_for_jaeger_trace(jaeger.query_url, trace_id, min_spans=2)
    with pytest.raises(TraceAssertionError, match="has no server span under it"):
        trace.assert_hops([("RequestCoordinator", "MemoryClient", "get_context")])


def test_an_error_status_survives_the_round_trip(jaeger: JaegerServer) -> None:
    trace_id = _turn(jaeger, fail=True)
    trace = wait_for_jaeger_trace(jaeger.query_url, trace_id, min_spans=3)
    assert [s.error for s in trace.errors()] == ["store unavailable"]
    with pytest.raises(TraceAssertionError, match="marked ERROR: store unavailable"):
        trace.assert_hops([("RequestCoordinator", "MemoryClient")])


def test_an_unknown_trace_is_empty_then_a_clear_failure(jaeger: JaegerServer) -> None:
    assert jaeger_trace(jaeger.query_url, "0" * 31 + "1").spans == []
    with pytest.raises(TraceAssertionError, match="no spans of trace"):
        wait_for_jaeger_trace(jaeger.query_url, "0" * 31 + "1", timeout=0.5)


def test_jaeger_stops_with_its_context(tmp_path: Path) -> None:
    with JaegerServer(tmp_path / "j.log") as server:
        process = server.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None
