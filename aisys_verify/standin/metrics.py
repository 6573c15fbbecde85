"""Per-agent metrics in Prometheus text format, with the real SLO config's metric names.

``ai_request_count{service,action,status}`` and ``ai_request_duration`` (a histogram) are
what the real ``slo-config.yaml`` queries; stand-ins expose them so the same queries work.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    """Prometheus label escaping: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


class Metrics:
    def __init__(self, agent: str, service: str) -> None:
        self.base = (("agent", agent), ("service", service))
        self.counts: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.buckets: dict[tuple[tuple[str, str], ...], list[int]] = {}
        self.sums: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        self.gauges: dict[str, float] = {}
        self.business: dict[tuple[str, tuple[tuple[str, str], ...]], int] = defaultdict(int)

    def observe(self, action: str, status: str, seconds: float) -> None:
        key = (*self.base, ("action", action), ("status", status))
        self.counts[key] += 1
        hkey = (*self.base, ("action", action))
        counts = self.buckets.setdefault(hkey, [0] * (len(BUCKETS) + 1))
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[hkey] += seconds

    def count(self, name: str, **labels: str) -> None:
        """A business counter such as ai_conversation_completed_total{status="success"}."""
        self.business[(name, (*self.base, *sorted(labels.items())))] += 1

    def render(self) -> str:
        lines = ["# TYPE ai_request_count counter"]
        lines += [f"ai_request_count{_labels(k)} {v}" for k, v in sorted(self.counts.items())]
        lines.append("# TYPE ai_request_duration histogram")
        for key, counts in sorted(self.buckets.items()):
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"ai_request_duration_bucket{_labels((*key, ('le', le)))} {running}")
            lines.append(f"ai_request_duration_sum{_labels(key)} {self.sums[key]:.6f}")
            lines.append(f"ai_request_duration_count{_labels(key)} {running}")
        for (name, labels), count in sorted(self.business.items()):
            lines.append(f"{name}{_labels(labels)} {count}")
        for name, gauge in sorted(self.gauges.items()):
            lines.append(f"{name}{_labels(self.base)} {gauge}")
        return "\n".join(lines) + "\n"
