"""Read the stand-ins' spans back and assert on the tree of one request.

Stacks record spans as JSON lines (the ``file:DIR`` exporter) in ``stack.trace_dir``; a
Trace is every span of one trace id, with its parent/child structure, the hops
(client spans: caller -> peer, action) and a readable tree for reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import TraceAssertionError as TraceAssertionError
from aisys_verify.waiting import poll


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str  # SERVER | CLIENT | INTERNAL
    service: str
    start_ns: int
    end_ns: int
    status: str  # UNSET | OK | ERROR
    error: str | None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def agent(self) -> str:
        return str(self.attributes.get("agent", ""))

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class Hop:
    caller: str
    callee: str
    action: str
    ok: bool


def load_spans(folder: Path) -> list[Span]:
    spans = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                raw = json.loads(line)
                spans.append(Span(raw["trace_id"], raw["span_id"], raw.get("parent_id"), raw["name"],
                                  raw.get("kind", ""), raw.get("service") or "", raw["start_ns"], raw["end_ns"],
                                  raw.get("status", "UNSET"), raw.get("error"), raw.get("attributes") or {}))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a concurrent write; the next read sees it whole
    return spans


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]

    @property
    def roots(self) -> list[Span]:
        ids = {s.span_id for s in self.spans}
        return sorted((s for s in self.spans if s.parent_id not in ids), key=lambda s: s.start_ns)

    def children(self, span: Span) -> list[Span]:
        return sorted((s for s in self.spans if s.parent_id == span.span_id), key=lambda s: s.start_ns)

    def hops(self) -> list[Hop]:
        return [Hop(s.agent, str(s.attributes.get("peer", "")), str(s.attributes.get("action", "")),
                    s.status != "ERROR") for s in sorted(self.spans, key=lambda s: s.start_ns) if s.kind == "CLIENT"]

    def errors(self) -> list[Span]:
        return [s for s in self.spans if s.status == "ERROR"]

    def render(self) -> str:
        """The tree as indented text: name, service, duration, error."""
        lines: list[str] = [f"trace {self.trace_id} ({len(self.spans)} spans)"]

        def walk(span: Span, depth: int) -> None:
            mark = f"  ERROR: {span.error}" if span.status == "ERROR" else ""
            lines.append(f"{'  ' * depth}- {span.name} [{span.kind.lower()}, {span.service}] "
                         f"{span.duration_ms:.2f} ms{mark}")
            for child in self.children(span):
                walk(child, depth + 1)

        for root in self.roots:
            walk(root, 1)
        return "\n".join(lines)

    def assert_hops(self, expected: Iterable[tuple[str, str] | tuple[str, str, str]], *, no_errors: bool = True,
                    single_root: bool = True) -> None:
        """Every (caller, callee[, action]) hop is in the trace, each with a server span under its client span."""
        __tracebackhide__ = True
        problems: list[str] = []
        pairs = {(h.caller, h.callee) for h in self.hops()}
        triples = {(h.caller, h.callee, h.action) for h in self.hops()}
        for hop in dict.fromkeys(expected):  # each expected hop reported once
            if (hop not in triples) if len(hop) == 3 else (hop not in pairs):
                problems.append(f"missing hop {' -> '.join(hop[:2])}" + (f" ({hop[2]})" if len(hop) == 3 else ""))
        by_id = {s.span_id: s for s in self.spans}
        for span in self.spans:
            if span.kind == "CLIENT" and not any(c.kind == "SERVER" for c in self.children(span)):
                problems.append(f"client span '{span.name}' has no server span under it (the callee never answered "
                                "in this trace, or dropped the trace context)")
            if span.parent_id and span.parent_id not in by_id and span not in self.roots[:1]:
                problems.append(f"span '{span.name}' points at a parent that is not in the trace")
        if single_root and len(self.roots) != 1:
            problems.append(f"{len(self.roots)} root spans: the trace context was lost on the way")
        if no_errors:
            problems += [f"span '{s.name}' is marked ERROR: {s.error}" for s in self.errors()]
        if problems:
            raise TraceAssertionError("trace check failed:\n  " + "\n  ".join(problems) + "\n" + self.render())


def wait_for_trace(folder: Path, trace_id: str, settle_s: float = 0.3, timeout: float = 5.0,
                   min_spans: int = 1) -> Trace:
    """The spans of ``trace_id`` once no new ones arrived for ``settle_s`` (processes export as they finish)."""
    seen = {"count": -1, "since": time.monotonic()}

    def settled(spans: list[Span]) -> bool:
        now = time.monotonic()
        if len(spans) != seen["count"]:
            seen.update(count=len(spans), since=now)
            return False
        return len(spans) >= min_spans and now - seen["since"] >= settle_s

    waited = poll(lambda: [s for s in load_spans(folder) if s.trace_id == trace_id], timeout, 0.05, until=settled)
    if waited.met or waited.last:
        return Trace(trace_id, waited.last)
    raise TraceAssertionError(f"no spans of trace {trace_id} in {folder} after {timeout:g} s "
                              "(is the stack exporting traces? StackOptions(trace=...))")


def hop_names(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs]


def new_traceparent() -> tuple[str, str]:
    """A fresh W3C traceparent for a request a test starts, and its trace id (to find the spans later)."""
    import secrets

    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id
