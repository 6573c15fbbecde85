"""Allure evidence, through pytester (child pytest processes writing --alluredir into tmp):

* the helpers (``step``, ``attach_json``, ``attach_text``, ``labels``) become steps, attachments and labels
  in the result files, and are no-ops that import nothing when Allure does not record;
* every run with --alluredir gets ``categories.json`` (the failure classes) and ``environment.properties``;
  the classes sort the messages aisys-verify produces the way the docs say, under Allure 2 and 3 matching;
* ``StandUpSteps`` turns both backends' progress lines into one step per phase, and a failing stand-up
  fails its step;
* a failing test with a stack up gets the groups' log tails, and the stand-up shows as a step with a
  sub-step per start layer and the stack summary (a real 4-agent stack);
* ``scripts/report`` refuses an empty results folder, and builds one self-contained HTML file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.report.allure import CATEGORIES
from aisys_verify.spec.synthetic import write_synthetic_spec

REPO = Path(__file__).resolve().parents[2]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A child pytest (allure-pytest keeps global state: a child keeps it out of this run)."""
    return pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args, timeout=180)


def results(folder: Path) -> dict[str, dict[str, Any]]:
    """The test results in an Allure results folder, by test name."""
    found = {}
    for path in folder.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["name"]] = data
    return found


def containers(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*-container.json")]


def label_values(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def attachment(folder: Path, owner: dict[str, Any], name: str) -> str:
    """The text of the attachment called ``name`` (prefix) on a test, step or fixture."""
    matches = [a for a in owner.get("attachments", []) if a["name"].startswith(name)]
    assert len(matches) == 1, f"attachments of {owner.get('name')}: {[a['name'] for a in owner.get('attachments', [])]}"
    return (folder / matches[0]["source"]).read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON", "AISYS_BACKEND", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)


# --- the helpers ----------------------------------------------------------------------------------

HELPERS = """
import pytest

from aisys_verify.report.allure import active, attach_json, attach_text, labels, step


def test_dialogue_turn():
    labels(host="mainpc", group="language_stack", agent="NLUAgent", suite="e2e")
    with step("turn 1: user says hello"):
        attach_json("request", {"text": "hello", "session": "s1"})
        with step("gateway answers"):
            attach_text("response", "hi there")
    assert active() is {recording}


def test_failing_turn():
    with step("turn 1: user asks"):
        assert 1 + 1 == 3, "the system answered 3"
"""


def test_helpers_become_steps_attachments_and_labels(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=HELPERS.replace("{recording}", "True"))
    out = pytester.path / "allure-results"
    result = run(pytester, f"--alluredir={out}")
    result.assert_outcomes(passed=1, failed=1)
    by_name = results(out)

    turn = by_name["test_dialogue_turn"]
    assert turn["status"] == "passed"
    assert label_values(turn, "system host") == ["mainpc"]
    assert "mainpc" not in label_values(turn, "host")  # Allure's host label stays the machine that ran the test
    assert label_values(turn, "group") == ["language_stack"]
    assert label_values(turn, "agent") == ["NLUAgent"]
    assert label_values(turn, "suite") == ["e2e"]
    assert {"host:mainpc", "group:language_stack", "agent:NLUAgent"} <= set(label_values(turn, "tag"))
    [outer] = turn["steps"]
    assert outer["name"] == "turn 1: user says hello" and outer["status"] == "passed"
    assert json.loads(attachment(out, outer, "request")) == {"text": "hello", "session": "s1"}
    assert outer["attachments"][0]["type"] == "application/json"
    [inner] = outer["steps"]
    assert inner["name"] == "gateway answers"
    assert attachment(out, inner, "response") == "hi there"

    failing = by_name["test_failing_turn"]
    assert failing["status"] == "failed"
    assert failing["steps"][0]["status"] == "failed"
    assert "the system answered 3" in failing["statusDetails"]["message"]


WITH_FIXTURES = """
import pytest


@pytest.fixture
def resource():
    yield 1


@pytest.fixture(scope="session")
def shared(request):
    request.addfinalizer(lambda: None)
    return 2


def test_ok(resource, shared):
    pass
"""


def test_every_run_gets_categories_and_environment(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=WITH_FIXTURES)
    out = pytester.path / "allure-results"
    run(pytester, f"--alluredir={out}").assert_outcomes(passed=1)
    # pytest >= 9.1's own finalizers are no "unknown" teardowns (allure-python#918); the fixtures' are kept
    afters = [a for c in containers(out) for a in c.get("afters", [])]
    assert afters and all(a.get("status") == "passed" for a in afters), afters
    assert {a["name"].split("::")[0] for a in afters} == {"resource", "shared"}
    categories = json.loads((out / "categories.json").read_text(encoding="utf-8"))
    names = [c["name"] for c in categories]
    assert names == [c["name"] for c in CATEGORIES]
    for wanted in ("Product defect", "Environment or set-up", "Inconclusive"):
        assert any(n.startswith(wanted) for n in names), names
    environment = dict(line.split("=", 1) for line in
                       (out / "environment.properties").read_text(encoding="utf-8").splitlines())
    assert {"aisys-verify", "python", "pytest", "platform", "machine", "command", "backend", "toxiproxy"} <= set(
        environment)
    assert environment["backend"] == "local"
    assert "stack" not in environment  # no stack was stood up in this run


def test_without_alluredir_the_helpers_do_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=HELPERS.replace("{recording}", "False"))
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert not list(pytester.path.rglob("*-result.json"))
    assert not list(pytester.path.rglob("categories.json"))


def test_the_plugin_imports_no_allure() -> None:
    code = ("import sys, aisys_verify.plugin, aisys_verify.report.allure as a; "
            "a.step('x').__enter__(); a.labels(host='h'); a.attach_text('n', 't'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('allure', 'allure_commons', 'allure_pytest')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


# --- the failure classes --------------------------------------------------------------------------


def classify(status: str, message: str, *, allure2: bool) -> str | None:
    """The first category whose statuses and message regex match (Allure 2: whole message; Allure 3: search)."""
    for category in CATEGORIES:
        if status not in category["matchedStatuses"]:
            continue
        regex = category.get("messageRegex")
        if regex is None:
            return str(category["name"]).split(" (")[0]
        found = re.fullmatch(regex, message) if allure2 else re.search(regex, message)
        if found:
            return str(category["name"]).split(" (")[0]
    return None


@pytest.mark.parametrize(("status", "message", "expected"), [
    ("failed", "Failed: stack failed to start: pc2/web_interface/UnifiedWebAgent: not healthy after 30 s\nlog tail...",
     "Environment or set-up"),
    ("failed", "Failed: redis-server is not installed: run scripts/system-deps (apt-get install redis-server)",
     "Environment or set-up"),
    ("broken", "aisys_verify.stack.toxiproxy.ToxiproxyError: toxiproxy POST /proxies: HTTP 500: boom",
     "Environment or set-up"),
    ("failed", "Failed: no spec configured: set the aisys_spec ini key", "Environment or set-up"),
    ("failed", "AssertionError: the gateway answered 500\nassert 500 == 200", "Product defect"),
    ("failed", "AssertionError: 2 proxies missing: toxiproxy lost them", "Product defect"),
    ("broken", "zmq.error.Again: Resource temporarily unavailable", "Product defect"),
    ("failed", "AssertionError: inconclusive: 3 samples, 30 needed for p95", "Inconclusive"),
    ("skipped", "Skipped: INCONCLUSIVE: the load generator could not reach 10 rps", "Inconclusive"),
    ("broken", "TypeError: 'NoneType' object is not subscriptable", "Test defect"),
    ("broken", "fixture 'aisys_stak' not found", "Test defect"),
    ("passed", "", None),
    ("skipped", "Skipped: no GPU", None),
])
def test_messages_fall_into_the_documented_classes(status: str, message: str, expected: str | None) -> None:
    assert classify(status, message, allure2=False) == expected
    assert classify(status, message, allure2=True) == expected


# --- the stand-up as steps ------------------------------------------------------------------------

STANDUP = """
import pytest

from aisys_verify.report.allure import StandUpSteps

LAYERS = [[("mainpc", "a"), ("pc2", "x")], [("pc2", "b")]]


def test_local_lines():
    steps = StandUpSteps("stand up", layers=lambda: LAYERS)
    with steps:
        steps.line("aisys-verify: removed 3 leftover process(es) of stack 0123456789")
        steps.line("aisys-verify: stack abc on 127.1.2.x: 3 agents in 3 groups, 2 start layers, 4 proxies")
        steps.line("  layer 1/2 healthy in 0.10 s: mainpc/a, pc2/x")
        steps.line("  layer 2/2 healthy in 0.20 s: pc2/b")
        steps.line("aisys-verify: stack abc ready in 1.00 s")
    assert len(steps.lines) == 5


def test_compose_lines():
    steps = StandUpSteps("stand up", layers=lambda: LAYERS)
    with steps:
        steps.line("aisys-verify: compose stack abc (docker compose 2.29) on 127.1.2.x: 3 agents in 3 containers, "
                   "2 start layers, 4 proxies")
        steps.line("  created 7 containers, Redis and Toxiproxy up in 1.00 s")
        steps.line("  layer 1/2 healthy in 0.10 s: mainpc/a, pc2/x")
        steps.line("  layer 2/2 healthy in 0.20 s: pc2/b")
        steps.line("  all 3 agents ok together after 0.01 s")
        steps.line("aisys-verify: compose stack abc ready in 3.00 s")


def test_failed_stand_up():
    steps = StandUpSteps("stand up", layers=lambda: LAYERS)
    with steps:
        steps.line("aisys-verify: stack abc on 127.1.2.x: 3 agents in 3 groups, 2 start layers, 4 proxies")
        steps.line("  layer 1/2 healthy in 0.10 s: mainpc/a, pc2/x")
        pytest.fail("stack failed to start: pc2/b: not healthy after 30 s", pytrace=False)
"""


def test_progress_lines_become_one_step_per_phase(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=STANDUP)
    out = pytester.path / "allure-results"
    run(pytester, f"--alluredir={out}").assert_outcomes(passed=2, failed=1)
    by_name = results(out)

    [local] = by_name["test_local_lines"]["steps"]
    assert local["name"] == "stand up" and local["status"] == "passed"
    assert [s["name"] for s in local["steps"]] == [
        "prepare: leftovers reaped, Toxiproxy and Redis started, proxies created",
        "start layer 1/2: mainpc/a, pc2/x", "start layer 2/2: pc2/b"]
    assert all(s["status"] == "passed" and s["start"] <= s["stop"] for s in local["steps"])
    assert "removed 3 leftover" in attachment(out, local, "stand-up log")

    [compose] = by_name["test_compose_lines"]["steps"]
    assert [s["name"] for s in compose["steps"]] == [
        "prepare: leftovers reaped, Toxiproxy and Redis started, proxies created",
        "create the containers, start Redis and Toxiproxy",
        "start layer 1/2: mainpc/a, pc2/x", "start layer 2/2: pc2/b", "all 3 agents ok together after 0.01 s"]

    failed = by_name["test_failed_stand_up"]
    assert failed["status"] == "failed"
    [outer] = failed["steps"]
    assert outer["status"] == "failed"
    assert [(s["name"], s["status"]) for s in outer["steps"]][1:] == [
        ("start layer 1/2: mainpc/a, pc2/x", "passed"), ("start layer 2/2: pc2/b", "failed")]
    assert "not healthy after 30 s" in outer["steps"][-1]["statusDetails"]["message"]
    assert "layer 1/2 healthy" in attachment(out, outer, "stand-up log")


# --- a real stack ---------------------------------------------------------------------------------

FAILING_WITH_STACK = """
import json
import time

from aisys_verify.report.allure import labels


def test_the_system_says_no(aisys_stack):
    labels(host="pc2", group="group_000", agent="Agent0002")
    # what an agent logs when a call fails (stand-ins log only failures, so one is written here)
    with (aisys_stack.workdir / "logs" / "pc2" / "Agent0002.log").open("a") as log:
        log.write(json.dumps({"ts": time.time(), "level": "warning", "agent": "Agent0002",
                              "event": "call_failed", "reason": "timeout"}) + "\\n")
    assert False, "the system said no"


def test_passes_with_stack(aisys_stack):
    pass
"""


@pytest.mark.integration
def test_a_failing_test_with_a_stack_gets_logs_and_the_stand_up_steps(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AISYS_STATE_DIR", str(tmp_path / "state"))  # never see or reap other runs' stacks
    (pytester.path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(pytester.path / "tmp"))
    write_synthetic_spec(pytester.path / "spec", agents=4)
    pytester.makeini("[pytest]\naisys_spec = spec\n")
    pytester.makepyfile(test_inner=FAILING_WITH_STACK)
    out = pytester.path / "allure-results"
    run(pytester, f"--alluredir={out}").assert_outcomes(passed=1, failed=1)
    by_name = results(out)

    failing = by_name["test_the_system_says_no"]
    agent_logs = attachment(out, failing, "agent logs (since the test started")
    assert agent_logs.startswith("== pc2/Agent0002 ==\n") and '"event": "call_failed"' in agent_logs
    assert '"event": "started"' not in agent_logs  # logged before the test: left out
    group_logs = attachment(out, failing, "group process logs")
    assert "== mainpc/group_000 ==" in group_logs and "== pc2/group_000 ==" in group_logs
    assert "group_ready" in group_logs
    assert not by_name["test_passes_with_stack"].get("attachments")

    # the stand-up: a step of the aisys_stack fixture, shared by both tests (their set-up)
    [container] = [c for c in containers(out) if any(b["name"] == "aisys_stack" for b in c.get("befores", []))]
    assert {failing["uuid"], by_name["test_passes_with_stack"]["uuid"]} <= set(container["children"])
    [before] = container["befores"]
    [stand_up] = before["steps"]
    assert stand_up["name"].startswith("stand up ") and stand_up["name"].endswith(" on the local backend")
    assert [s["name"] for s in stand_up["steps"]] == [
        "prepare: leftovers reaped, Toxiproxy and Redis started, proxies created",
        "start layer 1/1: mainpc/group_000, pc2/group_000"]
    summary = json.loads(attachment(out, stand_up, "stack summary"))
    assert summary["agents"] == 4 and summary["proxies"] == 6 and summary["start_layers"] == 1
    assert summary["agents_per_host"] == {"mainpc": 2, "pc2": 2} and summary["backend"] == "local"
    assert summary["stand_up_s"] > 0 and summary["network"].endswith(".x")
    assert "ready in" in attachment(out, stand_up, "stand-up log")

    environment = (out / "environment.properties").read_text(encoding="utf-8")
    assert f"stack={summary['stack_id']} on {summary['network']}: 4 agents" in environment


# --- scripts/report -------------------------------------------------------------------------------


def test_report_refuses_an_empty_results_folder(tmp_path: Path) -> None:
    proc = subprocess.run([str(REPO / "scripts" / "report"), str(tmp_path / "none"), str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no test results in" in proc.stderr and "--alluredir" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("node") is None, reason="scripts/report needs Node.js (node and npm)")
def test_report_builds_one_offline_html_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=HELPERS.replace("{recording}", "True"))
    out = pytester.path / "allure-results"
    run(pytester, f"--alluredir={out}").assert_outcomes(passed=1, failed=1)
    report = pytester.path / "report"
    proc = subprocess.run([str(REPO / "scripts" / "report"), str(out), str(report)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "npm_config_loglevel": "error"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == f"Allure HTML report: {report / 'index.html'}"
    html = (report / "index.html").read_text(encoding="utf-8")
    assert "googletagmanager" not in html
    assert not re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""", html)  # nothing loaded from outside
