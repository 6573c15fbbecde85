"""``aisys-verify init`` (aisys_verify.scaffold): what it writes, idempotence, --force, a user's existing
pyproject.toml and pytest.ini, and the usage errors (exit 2, one line, no traceback)."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.cli import main
from aisys_verify.errors import UsageError
from aisys_verify.scaffold import WORKFLOWS, render, scaffold, workflow_files

REPO = Path(__file__).resolve().parents[2]


def test_init_writes_settings_spec_scenarios_suites_and_workflows(tmp_path: Path) -> None:
    result = scaffold(tmp_path / "repo")
    root = tmp_path / "repo"
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    assert settings["aisys-verify"]["spec"] == ["system"]
    assert settings["pytest"]["ini_options"]["aisys_spec"] == ["system"]
    assert settings["pytest"]["ini_options"]["aisys_suites"] == ["suites"]
    for rel in ("system/aisys-spec.yaml", "system/mainpc/startup_config.yaml", "compose/pc2.yml",
                "scenarios/load/spike.yaml", "scenarios/chaos/memory-latency.yaml", "suites/e2e/test_stack.py",
                "suites/chaos/test_faults.py", "allurerc.json", *(f".github/workflows/{w}" for w in WORKFLOWS)):
        assert (root / rel).is_file(), rel
        assert rel in result.created, rel
    # the copy is the default spec, byte for byte
    assert (root / "system" / "aisys-spec.yaml").read_bytes() == (REPO / "system" / "aisys-spec.yaml").read_bytes()
    assert not result.kept and not result.overwritten


def test_a_second_init_changes_nothing_and_a_changed_file_is_kept_unless_forced(tmp_path: Path) -> None:
    scaffold(tmp_path)
    again = scaffold(tmp_path)
    assert not again.created and not again.overwritten and not again.kept and not again.appended
    assert "pyproject.toml" in again.unchanged and "suites/e2e/test_stack.py" in again.unchanged
    mine = tmp_path / "suites" / "e2e" / "test_stack.py"
    mine.write_text("# my own test\n")
    kept = scaffold(tmp_path)
    assert kept.kept == ["suites/e2e/test_stack.py"]
    assert mine.read_text() == "# my own test\n"
    forced = scaffold(tmp_path, force=True)
    assert forced.overwritten == ["suites/e2e/test_stack.py"]
    assert "aisys_stack" in mine.read_text()


def test_an_existing_pyproject_gets_only_the_missing_tables_appended(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n\n[tool.aisys-verify]\nspec = ["deploy"]\n')
    (tmp_path / "deploy").mkdir()
    result = scaffold(tmp_path, spec=["deploy"])
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"\n'), text
    settings = tomllib.loads(text)["tool"]
    assert settings["aisys-verify"]["spec"] == ["deploy"]  # the user's table, untouched (not duplicated)
    assert settings["pytest"]["ini_options"]["aisys_spec"] == ["deploy"]
    assert result.appended == ["pyproject.toml (1 table(s))"]
    assert not (tmp_path / "system").exists(), "a user's spec given: no copy of the default spec"
    assert (tmp_path / "suites" / "e2e" / "test_stack.py").is_file()


def test_a_pytest_ini_is_left_alone_with_a_note_saying_what_to_add(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = scaffold(tmp_path)
    assert (tmp_path / "pytest.ini").read_text() == "[pytest]\n"
    assert not (tmp_path / "pyproject.toml").exists()
    assert any("aisys_spec = system" in note for note in result.notes), result.notes


def test_pytest_settings_without_aisys_spec_get_a_note(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aisys-verify]\nspec = "system"\n\n'
                                             '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    result = scaffold(tmp_path)
    assert result.unchanged[0] == "pyproject.toml"
    assert any("without aisys_spec" in note for note in result.notes), result.notes


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda p: (p / "afile").write_text("x"), ["init", "afile"], "is a file, not a folder"),
    (lambda p: None, ["init", ".", "--spec", "nowhere"], "spec path 'nowhere' does not exist"),
    (lambda p: (p / "pyproject.toml").write_text("[tool\n"), ["init"], "invalid TOML"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], setup: object, args: list[str],
                                              message: str) -> None:
    setup(tmp_path)  # type: ignore[operator]
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_init_through_the_cli_lists_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "created      .github/workflows/pr-e2e.yml" in out and "0 kept" in out
    assert main(["init", str(tmp_path / "r")]) == 0
    assert "0 created, 0 overwritten" in capsys.readouterr().out


def test_rendered_workflows_keep_no_placeholder_and_a_missing_one_is_an_error() -> None:
    for name, text in workflow_files().items():
        assert "@SETUP@" not in text and "@REPORT@" not in text and "@BUILD_IMAGES@" not in text, name
    with pytest.raises(UsageError, match="no steps given for @NOPE@"):
        render("a:\n  @NOPE@\n", {})


# printable ASCII without '@' and line breaks: a plain template line (a fixed alphabet keeps generation fast)
_plain = st.text(st.sampled_from([c for c in string.printable if c not in "@\r\n\x0b\x0c"]), max_size=20)


@given(st.lists(_plain, max_size=8), st.lists(_plain, min_size=1, max_size=4), st.integers(0, 12))
def test_render_replaces_only_the_placeholder_line_at_its_indent(before: list[str], steps: list[str],
                                                                 indent: int) -> None:
    template = "\n".join([*before, " " * indent + "@X@", *before]) + "\n"  # templates are files: end in a newline
    expected = [*before, *(" " * indent + s if s else "" for s in steps), *before]
    assert render(template, {"X": steps}) == "\n".join(expected) + "\n"
