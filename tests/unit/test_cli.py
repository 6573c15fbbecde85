"""The aisys-verify command line: exit codes, formats, variables, and usage errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spec_factory import agent, baseline, startup, write_spec

from aisys_verify import __version__
from aisys_verify.cli import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, main
from aisys_verify.lint.registry import RULES


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON"):
        monkeypatch.delenv(name, raising=False)


def _spec(root: Path, **changes: Any) -> str:
    spec = baseline()
    if changes.get("error"):  # PORT001, an error
        startup(spec)["error_bus_port"] = "${PORT_OFFSET}+7200"
    if changes.get("warning"):  # HLTH001, a warning
        agent(spec, "Beta")["health_check_port"] = "${PORT_OFFSET}+8301"
    return str(write_spec(root, spec))


def _message(json_report: str, rule: str) -> str:
    [finding] = [f for f in json.loads(json_report)["findings"] if f["rule"] == rule]
    return str(finding["message"])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_spec_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "lint", _spec(tmp_path))
    assert code == EXIT_CLEAN == 0
    assert out == "4 file(s) checked: no findings\n"
    assert err == ""


def test_error_finding_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", _spec(tmp_path, error=True))
    assert code == EXIT_FINDINGS == 1
    assert "error PORT001 error_bus_port 7200 on host main is already used by Alpha port" in out
    assert "    why: " in out
    assert "    fix: " in out
    assert out.rstrip().endswith("4 file(s) checked: 1 error, 0 warnings, 0 notes")


def test_fail_on_warning_changes_the_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _spec(tmp_path, warning=True)
    assert _run(capsys, "lint", path)[0] == EXIT_CLEAN
    assert _run(capsys, "lint", "--fail-on", "warning", path)[0] == EXIT_FINDINGS
    assert _run(capsys, "lint", "--fail-on", "note", path)[0] == EXIT_FINDINGS
    assert _run(capsys, "lint", "--fail-on", "error", path)[0] == EXIT_CLEAN


def test_quiet_prints_one_line_per_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", "-q", _spec(tmp_path, error=True, warning=True))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert "why:" not in out
    assert {line.split()[2] for line in lines[:2]} == {"PORT001", "HLTH001"}


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", "--format", "json", _spec(tmp_path, error=True, warning=True))
    assert code == 1
    report = json.loads(out)
    assert report["version"] == __version__
    assert report["counts"] == {"error": 1, "warning": 1, "note": 0}
    assert len(report["files"]) == 4
    by_rule = {f["rule"]: f for f in report["findings"]}
    assert set(by_rule) == {"PORT001", "HLTH001"}
    port = by_rule["PORT001"]
    assert port["name"] == "port-clash"
    assert port["severity"] == "error"
    assert Path(port["file"]).name == "startup_config.yaml"
    assert port["line"] > 0
    assert port["column"] > 0
    assert port["related"]
    assert port["related"][0]["line"] > 0


def test_sarif_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", "--format", "sarif", _spec(tmp_path, error=True))
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= set(RULES)
    [result] = run["results"]
    assert result["ruleId"] == "PORT001"
    assert result["level"] == "error"
    assert rules[result["ruleIndex"]]["id"] == "PORT001"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] > 0
    assert result["message"]["text"].startswith("error_bus_port 7200")


def test_clean_sarif_and_json_still_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _spec(tmp_path)
    for fmt in ("json", "sarif"):
        code, out, _ = _run(capsys, "lint", "--format", fmt, path)
        assert code == 0
        assert json.loads(out)


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "report.sarif"
    code, out, _ = _run(capsys, "lint", "--format", "sarif", "-o", str(target), _spec(tmp_path / "s", error=True))
    assert code == 1
    assert "wrote sarif report to" in out
    assert "(1 findings)" in out
    assert json.loads(target.read_text())["version"] == "2.1.0"


def test_var_changes_resolved_ports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _spec(tmp_path, error=True)
    _, out, _ = _run(capsys, "lint", "--format", "json", path)
    assert "error_bus_port 7200 on host main" in _message(out, "PORT001")
    _, out, _ = _run(capsys, "lint", "--format", "json", "--var", "PORT_OFFSET=1000", path)
    assert "error_bus_port 8200 on host main" in _message(out, "PORT001")


def test_var_can_push_a_port_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", "-q", "--select", "PORT005", "--var", "PORT_OFFSET=60000",
                        _spec(tmp_path))
    assert code == 1
    assert "PORT005" in out


@pytest.mark.parametrize("bad", ["oops", "=1", "1X=2", "A B=1"])
def test_bad_var_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = _run(capsys, "lint", "--var", bad, _spec(tmp_path))
    assert code == EXIT_INPUT == 2
    assert err.startswith("aisys-verify: error: --var: expected NAME=VALUE")
    assert "Traceback" not in err
    assert out == ""


def test_var_with_a_non_integer_offset_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "lint", "--var", "PORT_OFFSET=abc", _spec(tmp_path))
    assert code == 2
    assert "startup_config.yaml:" in err
    assert "PORT_OFFSET='abc' is not an integer" in err
    assert err.count("\n") == 1


def test_spec_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _spec(tmp_path)
    code, out, _ = _run(capsys, "spec", path)
    assert code == 0
    assert "host main: 2 agents, 2 docker groups" in out
    assert "  core_group: Alpha" in out
    assert "  edge_group: Beta" in out
    assert "compose projects: main; SLOs: 2" in out
    code, out, _ = _run(capsys, "spec", "--format", "json", "--var", "PORT_OFFSET=1000", path)
    summary = json.loads(out)
    assert code == 0
    assert summary["hosts"] == {"main": {"agents": 2, "groups": 2}}
    assert summary["edges"]["agent"] == 1
    assert summary["gpu_plans"] == ["main:mps"]


def test_rules_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "rules")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == sorted(RULES)
    assert "PORT001  error    ports         port-clash:" in out


@pytest.mark.parametrize("argv", [
    [], ["frobnicate"], ["lint", "--format", "xml", "x"], ["lint", "--fail-on", "fatal", "x"], ["lint", "--nope"],
])
def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("aisys-verify: error: ")
    assert "Traceback" not in err
    assert "--help" in err
    assert out == ""


def test_unknown_select_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "lint", "--select", "NOPE999", _spec(tmp_path))
    assert code == 2
    assert "unknown rule, rule name or family 'NOPE999'" in err


def test_select_and_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _spec(tmp_path, error=True, warning=True)
    code, out, _ = _run(capsys, "lint", "-q", "--select", "health", path)
    assert code == 0
    assert "HLTH001" in out
    assert "PORT001" not in out
    code, out, _ = _run(capsys, "lint", "-q", "--ignore", "PORT", "--ignore", "HLTH001", path)
    assert code == 0
    assert "no findings" in out


def test_missing_path_and_bad_yaml_are_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "lint", str(tmp_path / "absent"))
    assert code == 2
    assert "no such file or directory" in err
    write_spec(tmp_path / "bad", {"h/startup_config.yaml": "agent_groups: [\n"})
    code, _, err = _run(capsys, "lint", str(tmp_path / "bad"))
    assert code == 2
    assert "startup_config.yaml:2:" in err
    assert "malformed YAML" in err
    assert "Traceback" not in err


def test_no_spec_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "lint")
    assert code == 2
    assert "no spec path given" in err


def test_spec_from_pyproject_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _spec(tmp_path / "clean")
    _spec(tmp_path / "broken", error=True)
    (tmp_path / "pyproject.toml").write_text('[tool.aisys-verify]\nspec = "broken"\nlint_fail_on = "error"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found by walking up
    assert _run(capsys, "lint")[0] == 1
    monkeypatch.setenv("AISYS_SPEC", str(tmp_path / "clean"))
    assert _run(capsys, "lint")[0] == 0
    assert _run(capsys, "lint", str(tmp_path / "broken"))[0] == 1  # PATH beats the environment
    monkeypatch.setenv("AISYS_SPEC_VARS", "PORT_OFFSET=1000")
    _, out, _ = _run(capsys, "lint", "--format", "json", str(tmp_path / "broken"))
    assert "error_bus_port 8200" in _message(out, "PORT001")


def test_invalid_pyproject_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.aisys-verify\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "lint", "x")
    assert code == 2
    assert "invalid TOML" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aisys-verify {__version__}"


def test_python_dash_m(tmp_path: Path) -> None:
    path = _spec(tmp_path, error=True)
    result = subprocess.run([sys.executable, "-m", "aisys_verify", "lint", "-q", path],
                            capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "PORT001" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "aisys_verify", "lint", "--var", "oops", path],
                         capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("aisys-verify: error:")
    assert "Traceback" not in bad.stderr
