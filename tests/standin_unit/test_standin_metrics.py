"""Per-agent metrics in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.standin.metrics import BUCKETS, Metrics

# one sample line: name, optional {labels}, value; label values may contain escaped \\ \" \n only
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(rf"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)\}})? "
                    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|\+Inf|-Inf|NaN))$")


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """A strict reader of the exposition format: every line is a comment or a well-formed sample."""
    assert text.endswith("\n")
    samples = []
    for line in text.split("\n")[:-1]:  # the format's only line separator is \n
        if line.startswith("#"):
            assert re.match(r"^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$", line), line
            continue
        match = SAMPLE.fullmatch(line)
        assert match, f"not a valid sample line: {line!r}"
        labels = {}
        for pair in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match["labels"] or ""):
            labels[pair[1]] = pair[2].replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def test_counter_lines() -> None:
    metrics = Metrics("NLUAgent", "mainpc-language-stack")
    metrics.observe("analyze", "2xx", 0.003)
    metrics.observe("analyze", "2xx", 0.004)
    metrics.observe("analyze", "4xx", 0.001)
    text = metrics.render()
    assert "# TYPE ai_request_count counter" in text.splitlines()
    assert ('ai_request_count{agent="NLUAgent",service="mainpc-language-stack",action="analyze",status="2xx"} 2'
            in text.splitlines())
    assert ('ai_request_count{agent="NLUAgent",service="mainpc-language-stack",action="analyze",status="4xx"} 1'
            in text.splitlines())


def test_histogram_buckets_are_cumulative_and_end_with_inf_equal_to_count() -> None:
    metrics = Metrics("A", "svc")
    observations = [0.0005, 0.001, 0.003, 0.02, 0.02, 0.4, 3.0, 11.0, 60.0]
    for seconds in observations:
        metrics.observe("work", "2xx", seconds)
    samples = parse(metrics.render())
    assert "# TYPE ai_request_duration histogram" in metrics.render()
    buckets = [(labels["le"], value) for name, labels, value in samples if name == "ai_request_duration_bucket"]
    assert [le for le, _ in buckets] == [*(repr(b) for b in BUCKETS), "+Inf"]
    values = [v for _, v in buckets]
    assert values == sorted(values), "buckets must be cumulative"
    for (le, value) in buckets[:-1]:  # le is an inclusive upper bound
        assert value == sum(1 for s in observations if s <= float(le)), le
    count = next(v for n, _, v in samples if n == "ai_request_duration_count")
    total = next(v for n, _, v in samples if n == "ai_request_duration_sum")
    assert buckets[-1] == ("+Inf", count) and count == len(observations)
    assert abs(total - sum(observations)) < 1e-5
    for name, labels, _ in samples:
        if name.startswith("ai_request_duration"):
            assert labels.get("action") == "work" and "status" not in labels


def test_histogram_series_per_action() -> None:
    metrics = Metrics("A", "svc")
    metrics.observe("a", "2xx", 0.01)
    metrics.observe("b", "5xx", 0.01)
    metrics.observe("b", "2xx", 0.01)
    counts = {labels["action"]: v for n, labels, v in parse(metrics.render()) if n == "ai_request_duration_count"}
    assert counts == {"a": 1, "b": 2}


def test_business_counters_and_gauges() -> None:
    metrics = Metrics("Coord", "mainpc-coordination")
    metrics.count("ai_conversation_completed_total", status="success")
    metrics.count("ai_conversation_completed_total", status="success")
    metrics.count("ai_conversation_completed_total", status="degraded")
    metrics.gauges["ai_in_flight"] = 3
    samples = parse(metrics.render())
    completed = {labels["status"]: v for n, labels, v in samples if n == "ai_conversation_completed_total"}
    assert completed == {"success": 2, "degraded": 1}
    assert ("ai_in_flight", {"agent": "Coord", "service": "mainpc-coordination"}, 3.0) in samples


def test_empty_metrics_render_valid_text() -> None:
    assert parse(Metrics("A", "s").render()) == []


def test_label_values_escape_quotes_and_backslashes() -> None:
    metrics = Metrics('Agent"Q', "svc\\path")
    metrics.observe('say "hi" \\ bye', "2xx", 0.01)
    text = metrics.render()
    assert 'agent="Agent\\"Q"' in text and 'service="svc\\\\path"' in text
    assert 'action="say \\"hi\\" \\\\ bye"' in text
    samples = parse(text)
    assert {labels["action"] for _, labels, _ in samples if "action" in labels} == {'say "hi" \\ bye'}
    assert {labels["agent"] for _, labels, _ in samples} == {'Agent"Q'}


def test_label_values_escape_newlines() -> None:
    """BUG (metrics._labels): a newline in a label value must be written as \\n (the exposition format
    escapes backslash, double quote and line feed); it is written raw, which splits the sample line in two
    and makes the whole /metrics page unparseable. The action label comes straight from the request."""
    metrics = Metrics("A", "s")
    metrics.observe("evil\naction", "4xx", 0.01)
    text = metrics.render()
    assert 'action="evil\\naction"' in text
    parse(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=20), st.sampled_from(["2xx", "4xx", "5xx"]),
                          st.floats(min_value=0, max_value=100, allow_nan=False)), max_size=10))
def test_render_is_always_valid_exposition(observations: list[tuple[str, str, float]]) -> None:
    metrics = Metrics("A", "s")
    for action, status, seconds in observations:
        metrics.observe(action, status, seconds)
    samples = parse(metrics.render())
    counted = sum(v for n, _, v in samples if n == "ai_request_count")
    assert counted == len(observations)
    assert sum(v for n, _, v in samples if n == "ai_request_duration_count") == len(observations)
    actions = {labels["action"] for n, labels, _ in samples if n == "ai_request_count"}
    assert actions == {a for a, _, _ in observations}
