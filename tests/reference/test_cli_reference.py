"""The command line on the real spec and on unusable input: exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reference_spec import REF, requires_reference

pytestmark = [pytest.mark.integration, requires_reference]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_")}
    return subprocess.run([sys.executable, "-m", "aisys_verify", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, check=False)


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}{'s' if n != 1 else ''}" for label, n in counts.items())


def test_lint_reference_fails_with_default_fail_on(ref, tmp_path, report):
    assert report.counts()["error"] > 0
    result = _cli("lint", str(ref), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert result.stdout.rstrip().endswith(f"8 file(s) checked: {_summary(report.counts())}")


def test_lint_reference_passes_when_only_warnings_are_selected(ref, tmp_path):
    result = _cli("lint", str(ref), "--select", "SEC004", "--fail-on", "error", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 7
    assert all(" warning SEC004 " in line for line in lines[:6])
    assert lines[-1].endswith("0 errors, 6 warnings, 0 notes")


def test_output_writes_the_report_to_a_file(ref, tmp_path, report):
    out = tmp_path / "reports" / "lint.json"
    result = _cli("lint", str(ref), "--format", "json", "--output", str(out), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert out.is_file()
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["counts"] == report.counts()
    assert len(data["findings"]) == len(report.findings)
    assert "wrote json report to" in result.stdout
    assert f"({len(report.findings)} findings)" in result.stdout
    assert "{" not in result.stdout  # the report went to the file, not to stdout


BAD_INPUTS = {
    "yaml-syntax": ("agent_groups:\n  core:\n    A: port: 1\n", 3),
    "undefined-alias": ("agent_groups:\n  core:\n    A: *nope\n", 3),
    "port-expression": ('agent_groups:\n  core:\n    A:\n      script_path: a.py\n'
                        '      port: "${PORT_OFFSET}*2"\n      health_check_port: "${PORT_OFFSET}+8000"\n', 5),
    "agent-groups-list": ("agent_groups:\n  - ServiceRegistry\n  - SystemDigitalTwin\n", (1, 2)),
}


def _assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aisys-verify: error: ")
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_unusable_input_exits_2_with_file_and_line(tmp_path, case):
    text, line = BAD_INPUTS[case]
    host = tmp_path / "mainpc"
    host.mkdir()
    (host / "startup_config.yaml").write_text(text, encoding="utf-8")
    result = _cli("lint", str(host / "startup_config.yaml"), cwd=tmp_path)
    message = _assert_one_line_error(result)
    match = re.search(r"(\S*startup_config\.yaml):(\d+)(?::\d+)?: ", message)
    assert match, message
    assert Path(tmp_path, match.group(1)).resolve() == (host / "startup_config.yaml").resolve()
    assert int(match.group(2)) in (line if isinstance(line, tuple) else (line,)), message
    expected_words = {"yaml-syntax": "malformed YAML", "undefined-alias": "undefined alias",
                      "port-expression": "${PORT_OFFSET}*2", "agent-groups-list": "agent_groups must be a mapping"}
    assert expected_words[case] in message


def test_unusable_input_in_a_spec_folder_is_reported_the_same_way(tmp_path):
    host = tmp_path / "spec" / "mainpc"
    host.mkdir(parents=True)
    (host / "startup_config.yaml").write_text(BAD_INPUTS["undefined-alias"][0], encoding="utf-8")
    message = _assert_one_line_error(_cli("lint", str(tmp_path / "spec"), cwd=tmp_path))
    assert re.search(r"startup_config\.yaml:3(:\d+)?: ", message), message


def test_missing_path_exits_2_naming_the_path(tmp_path):
    message = _assert_one_line_error(_cli("lint", "no-such-spec-folder", cwd=tmp_path))
    assert "no-such-spec-folder" in message
    # a missing path beside a real one is still an input error, not a partial lint
    message = _assert_one_line_error(_cli("lint", str(REF), "no-such-spec-folder", cwd=tmp_path))
    assert "no-such-spec-folder" in message


def test_spec_command_summarises_the_reference(ref, tmp_path):
    result = _cli("spec", str(ref), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["hosts"] == {"mainpc": {"agents": 54, "groups": 11}, "pc2": {"agents": 23, "groups": 7}}
    assert summary["agents"] == 77
    assert summary["edges"] == {"agent": 139, "cross-host": 0, "store": 77, "group": 19}
    assert summary["slos"] == 33
