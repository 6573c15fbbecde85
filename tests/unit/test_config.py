"""Settings precedence: defaults < [tool.aisys-verify] < AISYS_* environment < explicit overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aisys_verify import Severity, UsageError
from aisys_verify.config import VerifyConfig, from_pyproject, parse_severity, parse_vars


def _pyproject(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(body, encoding="utf-8")
    return folder


def test_defaults() -> None:
    config = VerifyConfig()
    assert config.spec == ()
    assert dict(config.spec_vars) == {}
    assert config.lint_fail_on is Severity.ERROR


def test_pyproject_layer(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = ["system", "/abs/facts.yaml"]\n'
                         'spec_vars = ["PORT_OFFSET=1000", "TAG=v1"]\nlint_fail_on = "warning"\n')
    config = from_pyproject(tmp_path)
    assert config.spec == (tmp_path / "system", Path("/abs/facts.yaml"))
    assert dict(config.spec_vars) == {"PORT_OFFSET": "1000", "TAG": "v1"}
    assert config.lint_fail_on is Severity.WARNING


def test_pyproject_spec_as_a_string_and_vars_as_a_string(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = "one"\nspec_vars = "A=1,B=2"\n')
    config = from_pyproject(tmp_path)
    assert config.spec == (tmp_path / "one",)
    assert dict(config.spec_vars) == {"A": "1", "B": "2"}


def test_nearest_pyproject_wins_and_is_relative_to_its_folder(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = ["outer"]\n')
    inner = _pyproject(tmp_path / "pkg", '[tool.aisys-verify]\nspec = ["inner"]\n')
    (inner / "deep" / "er").mkdir(parents=True)
    assert from_pyproject(inner / "deep" / "er").spec == (inner / "inner",)


def test_pyproject_without_the_table_gives_defaults(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[project]\nname = "x"\n')
    assert from_pyproject(tmp_path) == VerifyConfig()


def test_invalid_toml_is_a_usage_error(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.aisys-verify\n")
    with pytest.raises(UsageError, match="invalid TOML"):
        from_pyproject(tmp_path)


def test_bad_severity_in_pyproject(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nlint_fail_on = "fatal"\n')
    with pytest.raises(UsageError, match="unknown severity 'fatal'"):
        from_pyproject(tmp_path)


def test_bad_vars_in_pyproject_name_the_file(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec_vars = ["PORT_OFFSET"]\n')
    with pytest.raises(UsageError, match=r"pyproject\.toml: expected NAME=VALUE"):
        from_pyproject(tmp_path)


def test_environment_layer_beats_pyproject(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = ["system"]\nspec_vars = ["A=1", "B=1"]\n'
                         'lint_fail_on = "warning"\n')
    config = from_pyproject(tmp_path).with_environ({
        "AISYS_SPEC": os.pathsep.join(["e1", "", "e2"]), "AISYS_SPEC_VARS": "B=2,C=3", "AISYS_LINT_FAIL_ON": "note"})
    assert config.spec == (Path("e1"), Path("e2"))
    assert dict(config.spec_vars) == {"A": "1", "B": "2", "C": "3"}  # variables merge by name
    assert config.lint_fail_on is Severity.NOTE


def test_empty_environment_keeps_lower_layers(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = ["system"]\nlint_fail_on = "warning"\n')
    base = from_pyproject(tmp_path)
    assert base.with_environ({}) == base
    assert base.with_environ({"AISYS_SPEC": "", "AISYS_SPEC_VARS": "", "AISYS_LINT_FAIL_ON": ""}) == base


def test_explicit_overrides_beat_the_environment(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.aisys-verify]\nspec = ["system"]\nspec_vars = ["A=1"]\n')
    config = (from_pyproject(tmp_path)
              .with_environ({"AISYS_SPEC": "env", "AISYS_SPEC_VARS": "A=2", "AISYS_LINT_FAIL_ON": "note"})
              .with_overrides(["cli"], {"A": "3"}, "error", base=tmp_path / "cwd"))
    assert config.spec == (tmp_path / "cwd" / "cli",)
    assert dict(config.spec_vars) == {"A": "3"}
    assert config.lint_fail_on is Severity.ERROR


def test_none_and_empty_overrides_keep_lower_layers() -> None:
    config = VerifyConfig(spec=(Path("x"),), spec_vars={"A": "1"}, lint_fail_on=Severity.WARNING)
    assert config.with_overrides(None, None, None) == config
    assert config.with_overrides([], {}, None) == config


def test_absolute_override_paths_ignore_the_base(tmp_path: Path) -> None:
    assert VerifyConfig().with_overrides([str(tmp_path)], base=Path("/elsewhere")).spec == (tmp_path,)


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        VerifyConfig().spec = ()  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["fatal", "", "ERRORS", "warn"])
def test_bad_severity(bad: str) -> None:
    with pytest.raises(UsageError, match="use one of note, warning, error"):
        parse_severity(bad)
    with pytest.raises(UsageError):
        VerifyConfig().with_overrides(lint_fail_on=bad)
    if bad:  # an empty AISYS_LINT_FAIL_ON means "not set"
        with pytest.raises(UsageError):
            VerifyConfig().with_environ({"AISYS_LINT_FAIL_ON": bad})
    else:
        assert VerifyConfig().with_environ({"AISYS_LINT_FAIL_ON": bad}) == VerifyConfig()


@pytest.mark.parametrize(("text", "expected"), [
    ("note", Severity.NOTE), ("info", Severity.NOTE), ("WARNING", Severity.WARNING), ("Error", Severity.ERROR),
    (Severity.WARNING, Severity.WARNING)])
def test_parse_severity(text: str | Severity, expected: Severity) -> None:
    assert parse_severity(text) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("A=1,B=2", {"A": "1", "B": "2"}),
    (["A=1", "B=2"], {"A": "1", "B": "2"}),
    ("", {}),
    ([], {}),
    (" A = 1 , ,B=2,", {"A": "1", "B": "2"}),
    ("A=", {"A": ""}),
    ("URL=a=b", {"URL": "a=b"}),
    ("A=1,A=2", {"A": "2"}),
    (["PORT_OFFSET=20000"], {"PORT_OFFSET": "20000"}),
    (["_x9=y"], {"_x9": "y"}),
])
def test_parse_vars(value: str | list[str], expected: dict[str, str]) -> None:
    assert parse_vars(value, "here") == expected


@pytest.mark.parametrize("value", ["A", "=1", "1A=2", "A-B=1", "A B=1", ["ok=1", "bad"]])
def test_parse_vars_errors_name_where(value: str | list[str]) -> None:
    with pytest.raises(UsageError, match=r"^--where: expected NAME=VALUE, got "):
        parse_vars(value, "--where")
