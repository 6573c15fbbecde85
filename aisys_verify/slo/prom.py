"""Prometheus text from the agents' ``/metrics``: scrape, parse, and subtract (counter deltas).

A run's SLI from counters is (after - before): the stand-ins' counters start at process start,
so only the difference belongs to the run. The latency histogram (``ai_request_duration``) has
fixed buckets (aisys_verify.standin.metrics.BUCKETS: 1 ms ... 10 s); a latency bound that is a
bucket bound (0.1, 0.5, 1, 5 s) is judged exactly, one between bounds (0.3, 1.5, 2, 3 s) only as
far as the neighbouring bounds allow, which can leave a verdict inconclusive.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aisys_verify.errors import ScrapeError as ScrapeError
from aisys_verify.httpjson import http_raw

Labels = tuple[tuple[str, str], ...]

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_text(text: str, where: str = "metrics") -> dict[tuple[str, Labels], float]:
    """Samples of the Prometheus text format: {(name, sorted labels): value}; comments skipped."""
    samples: dict[tuple[str, Labels], float] = {}
    for number, raw in enumerate(text.split("\n"), 1):  # only \n ends a line (not \x1e, \x85, ...)
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ScrapeError(f"{where}:{number}: not a Prometheus sample line: {line[:120]!r}")
        labels: list[tuple[str, str]] = []
        body = (m.group(2) or "{}")[1:-1]
        pos = 0
        while pos < len(body):
            lm = _LABEL.match(body, pos)
            if lm is None:
                raise ScrapeError(f"{where}:{number}: cannot read labels {m.group(2)!r}")
            labels.append((lm.group(1), _unescape(lm.group(2))))
            pos = lm.end()
        try:
            value = float(m.group(3))
        except ValueError:
            raise ScrapeError(f"{where}:{number}: value {m.group(3)!r} is not a number") from None
        samples[(m.group(1), tuple(sorted(labels)))] = value
    return samples


@dataclass(frozen=True)
class Scrape:
    """Every sample of a set of agents at one moment (or the difference of two such moments)."""

    taken_at: float
    samples: Mapping[tuple[str, Labels], float] = field(default_factory=dict)
    failed: tuple[str, ...] = ()  # 'host/Agent: why' for endpoints that did not answer

    def minus(self, before: Scrape) -> Scrape:
        """Counter deltas; a series that went down was reset (restart), so its after-value is the delta."""
        delta: dict[tuple[str, Labels], float] = {}
        for key, value in self.samples.items():
            old = before.samples.get(key, 0.0)
            delta[key] = value - old if value >= old else value
        return Scrape(self.taken_at, delta, tuple(sorted(set(self.failed) | set(before.failed))))

    def series(self, name: str) -> Iterable[tuple[dict[str, str], float]]:
        for (metric, labels), value in self.samples.items():
            if metric == name:
                yield dict(labels), value


def scrape(urls: Mapping[str, str], timeout: float = 2.0, workers: int = 16) -> Scrape:
    """GET every ``{name: http://.../metrics}`` in parallel; unreachable ones are listed, not fatal."""
    def one(item: tuple[str, str]) -> tuple[str, dict[tuple[str, Labels], float] | str]:
        name, url = item
        try:
            reply = http_raw("GET", url, timeout=timeout)
            if (error := reply.status_error()) is not None:
                return name, f"HTTPError: {error}"  # the text urllib's HTTPError gave
            return name, parse_text(reply.body.decode("utf-8", "replace"), url)
        except (OSError, ScrapeError) as exc:
            return name, f"{type(exc).__name__}: {exc}"

    taken = time.time()
    samples: dict[tuple[str, Labels], float] = {}
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls)))) as pool:
        for name, got in pool.map(one, sorted(urls.items())):
            if isinstance(got, str):
                failed.append(f"{name}: {got}")
            else:
                samples.update(got)
    return Scrape(taken, samples, tuple(failed))


def bucket_bounds(le: str) -> float:
    return math.inf if le in ("+Inf", "Inf", "inf") else float(le)
