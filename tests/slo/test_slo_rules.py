"""Prometheus rules from SLOs (aisys_verify.slo.alerts), their generated promtool unit tests
(aisys_verify.slo.ruletests) run by the real promtool, mutations of the generator that those tests must catch,
and the ``slo rules`` command.

promtool comes from Debian's prometheus package (scripts/system-deps); without it the promtool tests fail
under --aisys-strict-capabilities' spirit: they are skipped only when it is absent, with the reason.
Running every SLO of the default spec through promtool takes about 75 s of CPU: set AISYS_RULE_TESTS=full.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.cli import main
from aisys_verify.errors import InvalidValue, PromtoolFailed, SloSpecError
from aisys_verify.slo import (
    SRE_WORKBOOK_WINDOWS,
    BurnAlert,
    SliKind,
    SloSpec,
    alert_name,
    from_slo_config,
    promtool_check,
    promtool_test,
    record_name,
    rule_set,
    rule_tests,
    write_rules,
)
from aisys_verify.slo.alerts import promql_duration
from aisys_verify.slo.model import Matcher, Selector
from aisys_verify.slo.ruletests import _notation, synthetic_series
from aisys_verify.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None and not os.environ.get("AISYS_PROMTOOL"),
                                    reason="promtool is not installed (Debian 'prometheus'; scripts/system-deps)")


@pytest.fixture(scope="module")
def slos() -> tuple[SloSpec, ...]:
    topology = load_spec([str(REPO / "system")])
    assert topology.slo_config is not None
    return from_slo_config(topology.slo_config)


def _by_name(slos: tuple[SloSpec, ...], *names: str) -> list[SloSpec]:
    return [s for s in slos if s.name in names]


# --- generation (no promtool) ------------------------------------------------------------------------------

def test_durations_in_promql_form() -> None:
    assert [promql_duration(s) for s in (300, 3600, 21600, 259200, 90, 0.5, 86400 + 60)] == \
        ["5m", "1h", "6h", "3d", "1m30s", "500ms", "1d1m"]
    with pytest.raises(InvalidValue):
        promql_duration(0)
    with pytest.raises(InvalidValue):
        promql_duration(0.0004)


@given(st.integers(min_value=1, max_value=10**10))
def test_duration_reads_back_to_the_same_milliseconds(ms: int) -> None:
    text = promql_duration(ms / 1000)
    units = {"d": 86400000, "h": 3600000, "m": 60000, "s": 1000, "ms": 1}
    assert sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|d|h|m|s)", text)) == ms


def test_system_rules_cover_every_slo_with_a_budget(slos: tuple[SloSpec, ...]) -> None:
    rules = rule_set(slos)
    with_budget = [s for s in slos if s.kind is not SliKind.GAUGE and s.judged]
    assert [r.slo.name for r in rules.rules] == [s.name for s in with_budget]
    gauges = [s.name for s in slos if s.kind is SliKind.GAUGE]
    assert len(gauges) == 6 and all(any(f"SLO {g}: no rules" in n for n in rules.notes) for g in gauges)
    doc = yaml.safe_load(rules.yaml())
    coordination = doc["groups"][0]
    assert coordination["name"] == "slo-coordination_availability"
    records = [r["record"] for r in coordination["rules"] if "record" in r]
    assert records == [record_name(w) for w in (300, 1800, 3600, 21600, 259200)]
    page = next(r for r in coordination["rules"] if r.get("alert") == "CoordinationAvailabilityBudgetBurnPage")
    # 99.9 %: budget 0.001, so 14.4x is an error ratio of 0.0144 and 6x of 0.006
    assert page["expr"] == (
        '(slo:sli_error:ratio_rate1h{slo="coordination_availability"} > 0.0144 and '
        'slo:sli_error:ratio_rate5m{slo="coordination_availability"} > 0.0144) or '
        '(slo:sli_error:ratio_rate6h{slo="coordination_availability"} > 0.006 and '
        'slo:sli_error:ratio_rate30m{slo="coordination_availability"} > 0.006)')
    assert page["labels"] == {"severity": "page"}
    assert "&id" not in rules.yaml()  # no YAML anchors: each rule reads on its own


def test_each_kind_builds_its_error_ratio_from_the_slos_own_selectors(slos: tuple[SloSpec, ...]) -> None:
    rules = {r.slo.name: r for r in rule_set(slos).rules}
    expr = {name: r.group["rules"][0]["expr"] for name, r in rules.items()}
    assert expr["coordination_error_rate"] == (
        '(sum(rate(ai_request_count{service="coordination",status=~"5.."}[5m])) or vector(0)) / '
        'sum(rate(ai_request_count{service="coordination"}[5m]))')
    assert expr["coordination_latency"] == (
        '(sum(rate(ai_request_duration_bucket{service="coordination",le="+Inf"}[5m])) - '
        '(sum(rate(ai_request_duration_bucket{service="coordination",le="0.5"}[5m])) or vector(0))) / '
        'sum(rate(ai_request_duration_bucket{service="coordination",le="+Inf"}[5m]))')
    # 1.0 s is written '1.0' by Python's client and '1' by Go's: both spellings match
    assert 'le=~"1|1.0"' in expr["language_stack_latency"]
    assert 'ai_conversation_completed_total{status="success"}' in expr["conversation_success_rate"]


def test_a_bound_between_buckets_takes_the_bucket_below_and_says_so(slos: tuple[SloSpec, ...]) -> None:
    rules = rule_set(_by_name(slos, "pc2_web_interface_latency"))
    assert 'le="0.25"' in rules.rules[0].group["rules"][0]["expr"]
    assert any("bound 0.3 s is not a bucket bound" in n and "over 0.25 s as bad" in n for n in rules.notes)


def test_an_unreachable_factor_is_a_note(slos: tuple[SloSpec, ...]) -> None:
    ninety = dataclasses.replace(_by_name(slos, "coordination_availability")[0], name="loose", objective=0.9)
    rules = rule_set([ninety])
    assert any("loose: its page alert at 14.4x over 1h can never fire" in n for n in rules.notes)


def test_two_slos_with_one_name_are_refused(slos: tuple[SloSpec, ...]) -> None:
    one = _by_name(slos, "coordination_availability")[0]
    with pytest.raises(SloSpecError, match="defined twice"):
        rule_set([one, one])


def test_a_policy_row_must_make_sense(slos: tuple[SloSpec, ...]) -> None:
    with pytest.raises(InvalidValue):
        rule_set(slos, windows=[BurnAlert("page", 300, 3600, 0.02)])
    with pytest.raises(InvalidValue):
        rule_set(slos, windows=[])


def test_alert_names() -> None:
    assert alert_name("coordination_availability", "page") == "CoordinationAvailabilityBudgetBurnPage"
    assert alert_name("checkout/latency", "ticket") == "CheckoutLatencyBudgetBurnTicket"


def _expand(notation: str) -> list[float | None]:
    out: list[float | None] = []
    for part in notation.split():
        if part.startswith("_x"):
            out += [None] * int(part[2:])
        else:
            start, rest = part.split("+", 1)
            inc, n = rest.rsplit("x", 1)
            out += [float(start) + float(inc) * i for i in range(int(n) + 1)]
    return out


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=1, max_size=60))
def test_series_notation_expands_to_the_samples(steps: list[int | None]) -> None:
    values: list[float | None] = []
    total = 0.0
    for step in steps:
        if step is None:
            values.append(None)
        else:
            total += step * 1.5
            values.append(total)
    assert _expand(_notation(values)) == pytest.approx(values)


def test_synthetic_series_satisfy_the_selectors(slos: tuple[SloSpec, ...]) -> None:
    rules = {r.slo.name: r for r in rule_set(slos).rules}
    availability = synthetic_series(rules["coordination_availability"])
    assert availability is not None and availability.subset
    assert availability.part == 'ai_request_count{service="coordination",status="200"}'
    assert availability.other == 'ai_request_count{service="coordination",status="500"}'
    gpu = synthetic_series(rules["gpu_services_error_rate"])
    assert gpu is not None and gpu.part == 'ai_request_count{service="x-gpu",status="500"}'
    latency = synthetic_series(rules["coordination_latency"])
    assert latency is not None and not latency.subset and 'le="+Inf"' in latency.other
    business = synthetic_series(rules["conversation_success_rate"])
    assert business is not None and business.other == "ai_conversation_started_total{}"


def test_selectors_no_label_value_satisfies_are_a_note(slos: tuple[SloSpec, ...]) -> None:
    one = _by_name(slos, "coordination_error_rate")[0]
    impossible = dataclasses.replace(one, good=Selector("ai_request_count", (Matcher("status", "=", "a"),
                                                                             Matcher("status", "=", "b"))))
    made = rule_tests(rule_set([impossible]))
    assert not [f for f in made.files if f.endswith(".test.yml")]
    assert any("not tested: no synthetic label values" in n for n in made.notes)


# --- promtool ---------------------------------------------------------------------------------------------

@needs_promtool
def test_promtool_accepts_the_whole_system_rule_file(slos: tuple[SloSpec, ...], tmp_path: Path) -> None:
    rules = rule_set(slos)
    written = write_rules(rules, tmp_path)
    # 27 SLOs with a budget: 5 recording rules (one per window) and 2 alerts (page, ticket) each
    assert len(rules.rules) == 27
    assert "SUCCESS: 189 rules found" in promtool_check([written.rules])


@needs_promtool
def test_promtool_rejects_a_broken_rule_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - record: a:b\n    expr: sum(rate(x[5m]\n")
    with pytest.raises(PromtoolFailed, match=r"bad\.yml"):
        promtool_check([bad])


def _suite(rules: object, tmp_path: Path, only: str = "") -> list[Path]:
    made = rule_tests(rules)  # type: ignore[arg-type]
    for name, text in made.files.items():
        (tmp_path / name).write_text(text)
    return sorted(p for p in tmp_path.glob("*.test.yml") if only in p.name)


# one SLO of each way to synthesise its series: a subset of one counter (availability), two buckets of a
# histogram (latency), two metrics (a business ratio whose 5 % budget leaves some checks out)
REPRESENTATIVE = ("coordination_availability", "coordination_latency", "conversation_success_rate")


@needs_promtool
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_generated_promtool_suites_pass(slos: tuple[SloSpec, ...], tmp_path: Path, name: str) -> None:
    rules = rule_set(_by_name(slos, name))
    made = rule_tests(rules)
    files = _suite(rules, tmp_path)
    assert len(files) == 3 and made.checks >= 18
    out = promtool_test(files)
    assert out.count("SUCCESS") == 3


@needs_promtool
@pytest.mark.skipif(os.environ.get("AISYS_RULE_TESTS") != "full",
                    reason="every SLO through promtool takes ~75 s of CPU: set AISYS_RULE_TESTS=full")
def test_every_slo_of_the_default_spec_passes_its_suite(slos: tuple[SloSpec, ...], tmp_path: Path) -> None:
    files = _suite(rule_set(slos), tmp_path)
    assert len(files) == 3 * 27
    promtool_test(files, timeout=1800)


PAGE = SRE_WORKBOOK_WINDOWS[0]
MUTATIONS = {
    "long window 1h -> 2h": BurnAlert("page", 7200, 300, 0.04),  # same factor (14.4), wrong window
    "long window 1h -> 45m": BurnAlert("page", 2700, 300, 0.015),
    "factor 14.4 -> 16.8": BurnAlert("page", 3600, 300, 0.0233333),
    "factor 14.4 -> 12": BurnAlert("page", 3600, 300, 0.0166667),
    "short window 5m -> 15m": BurnAlert("page", 3600, 900, 0.02),
    "short window 5m -> 1m": BurnAlert("page", 3600, 60, 0.02),
}


@needs_promtool
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_generator_with_a_wrong_window_or_threshold_fails_the_suite(
        slos: tuple[SloSpec, ...], tmp_path: Path, mutation: str) -> None:
    """The generator builds its rules from a mutated first row; the suite is generated from the true policy
    (as it would be against a generator that got the row wrong): promtool must fail it."""
    one = _by_name(slos, "coordination_availability")
    wrong = (MUTATIONS[mutation], *SRE_WORKBOOK_WINDOWS[1:])
    mutated = dataclasses.replace(rule_set(one, windows=wrong), windows=SRE_WORKBOOK_WINDOWS)
    files = _suite(mutated, tmp_path, only="page-1h-5m")
    assert len(files) == 1
    with pytest.raises(PromtoolFailed) as failed:
        promtool_test(files)
    assert "CoordinationAvailabilityBudgetBurnPage" in failed.value.output
    # (the true generator passes the very same suite: test_generated_promtool_suites_pass)


# --- the command ------------------------------------------------------------------------------------------

def test_rules_command_prints_the_rule_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "rules", str(REPO / "system"), "--only", "coordination_latency"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert [g["name"] for g in doc["groups"]] == ["slo-coordination_latency"]


def test_rules_command_needs_out_for_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "rules", str(REPO / "system"), "--test"]) == 2
    assert "give --out DIR" in capsys.readouterr().err


def test_rules_command_unknown_slo_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "rules", str(REPO / "system"), "--only", "nope"]) == 2
    assert "no SLO named 'nope'" in capsys.readouterr().err


@needs_promtool
def test_rules_command_writes_checks_and_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["slo", "rules", str(REPO / "system"), "--only", "coordination_error_rate", "--out",
                 str(tmp_path), "--test"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SUCCESS: 7 rules found" in out and "promtool test rules: 3 files" in out
    assert (tmp_path / "slo-rules.yml").is_file()
    assert len(list((tmp_path / "promtool-tests").glob("*.test.yml"))) == 3
