"""The pytest plugin, driven through pytester: configuration layers, fixtures, assert_clean, and hygiene."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLEAN_AGENT = """\
    {name}:
      script_path: {name}.py
      port: "${{PORT_OFFSET}}+{port}"
      health_check_port: "${{PORT_OFFSET}}+{health}"
      http_port: "${{PORT_OFFSET}}+{http}"
"""


def write_tiny_spec(root: Path, host: str, *, error: bool = False, warning: bool = False) -> Path:
    """A one-host spec folder: ``root/<host>/startup_config.yaml`` (the host is named after its folder).

    ``error`` adds a port clash (PORT001, an error); ``warning`` breaks the health-port convention (HLTH001).
    """
    text = "agent_groups:\n  core:\n" + CLEAN_AGENT.format(name="Alpha", port=7200, health=8300 if warning else 8200,
                                                          http=9200)
    if error:
        text += 'error_bus_port: "${PORT_OFFSET}+7200"\n'
    folder = root / host
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "startup_config.yaml").write_text(text, encoding="utf-8")
    return root


HOST_TEST = """
import pytest

def test_host(aisys_topology, aisys_lint):
    assert [h.name for h in aisys_topology.hosts] == [{expected!r}]
    aisys_lint.assert_clean()
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process pytest run; Hypothesis's plugin is left out only because it makes each run ~1 s slower."""
    return pytester.runpytest("-p", "no:hypothesispytest", *args)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def specs(pytester: pytest.Pytester) -> Path:
    """Four clean specs, told apart by their host names, and two with findings."""
    root = pytester.path / "specs"
    for name in ("ini", "env", "cli", "marker", "closer"):
        write_tiny_spec(root / name, f"{name}host")
    write_tiny_spec(root / "broken", "brokenhost", error=True)
    write_tiny_spec(root / "warn", "warnhost", warning=True)
    return root


def test_spec_from_the_ini_key(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile(HOST_TEST.format(expected="inihost"))
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"aisys-verify: spec {specs / 'ini'}"])


def test_ini_paths_are_relative_to_the_ini_file(pytester: pytest.Pytester, specs: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile(HOST_TEST.format(expected="inihost"))
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    result = run(pytester, str(pytester.path), "-c", str(pytester.path / "tox.ini"))
    result.assert_outcomes(passed=1)


def test_environment_beats_ini(pytester: pytest.Pytester, specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile(HOST_TEST.format(expected="envhost"))
    monkeypatch.setenv("AISYS_SPEC", str(specs / "env"))
    run(pytester).assert_outcomes(passed=1)


def test_option_beats_environment_and_ini(pytester: pytest.Pytester, specs: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile(HOST_TEST.format(expected="clihost"))
    monkeypatch.setenv("AISYS_SPEC", str(specs / "env"))
    result = run(pytester, "--aisys-spec", "specs/cli")  # relative to the invocation directory
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["aisys-verify: spec *specs/cli"])


def test_marker_beats_everything_and_the_closest_marker_wins(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile("""
        import pytest

        pytestmark = pytest.mark.aisys_spec(paths="specs/marker")

        def test_module_marker(aisys_topology):
            assert [h.name for h in aisys_topology.hosts] == ["markerhost"]

        @pytest.mark.aisys_spec(paths=["specs/closer"])
        def test_function_marker(aisys_topology, aisys_lint):
            assert [h.name for h in aisys_topology.hosts] == ["closerhost"]
            aisys_lint.assert_clean("note")

        class TestClass:
            pytestmark = pytest.mark.aisys_spec(paths="specs/cli")

            def test_class_marker(self, aisys_topology):
                assert [h.name for h in aisys_topology.hosts] == ["clihost"]
    """)
    run(pytester, "--aisys-spec", "specs/env", "--strict-markers").assert_outcomes(passed=3)


def test_marker_paths_are_relative_to_the_test_file(pytester: pytest.Pytester, specs: Path) -> None:
    tests = pytester.mkdir("tests")
    write_tiny_spec(tests / "local", "localhost")
    (tests / "test_local.py").write_text(
        "import pytest\n\n@pytest.mark.aisys_spec(paths='local')\n"
        "def test_local(aisys_topology):\n    assert aisys_topology.hosts[0].name == 'localhost'\n")
    run(pytester, "--aisys-spec", "specs/cli").assert_outcomes(passed=1)


def test_marker_vars_and_option_vars(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\naisys_spec_vars =\n    PORT_OFFSET=10\n    OTHER=x\n")
    pytester.makepyfile("""
        import pytest

        def test_ini_and_option_vars(aisys_topology, aisys_config):
            assert aisys_topology.agents[0].port.number == 7200 + 20
            assert dict(aisys_config.spec_vars) == {"PORT_OFFSET": "20", "OTHER": "x"}

        @pytest.mark.aisys_spec(vars={"PORT_OFFSET": "1000"})
        def test_marker_vars(aisys_topology):
            assert aisys_topology.agents[0].port.number == 8200
            assert [h.name for h in aisys_topology.hosts] == ["inihost"]
    """)
    run(pytester, "--aisys-var", "PORT_OFFSET=20").assert_outcomes(passed=2)


def test_topology_is_loaded_once_per_spec_and_vars(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile("""
        import pytest
        seen = []

        def test_one(aisys_topology):
            seen.append(aisys_topology)

        def test_two(aisys_topology):
            assert aisys_topology is seen[0]

        @pytest.mark.aisys_spec(vars={"PORT_OFFSET": "1"})
        def test_three(aisys_topology):
            assert aisys_topology is not seen[0]
    """)
    run(pytester, "-p", "no:randomly").assert_outcomes(passed=3)


def test_assert_clean_fails_with_a_readable_message(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/broken\n")
    pytester.makepyfile("""
        def test_lint(aisys_lint):
            aisys_lint.assert_clean()
    """)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*LintFailure: spec lint: 1 finding(s) at or above 'error':",
        "*  *startup_config.yaml:*:*: error PORT001 error_bus_port 7200 on host brokenhost is already used by "
        "Alpha port",
    ])
    assert "aisys_verify/lint/runner.py" not in result.stdout.str()  # assert_clean hides its own frame


def test_fail_on_warning_option(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/warn\n")
    pytester.makepyfile("""
        def test_lint(aisys_lint):
            assert [f.rule for f in aisys_lint.findings] == ["HLTH001"]
            aisys_lint.assert_clean()
    """)
    run(pytester).assert_outcomes(passed=1)
    result = run(pytester, "--aisys-lint-fail-on", "warning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*spec lint: 1 finding(s) at or above 'warning':",
                                 "*warning HLTH001 Alpha health_check_port is 8300, not port+1000 = 8200"])


def test_fail_on_from_ini_and_environment(pytester: pytest.Pytester, specs: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/warn\naisys_lint_fail_on = warning\n")
    pytester.makepyfile("def test_lint(aisys_lint):\n    aisys_lint.assert_clean()\n")
    run(pytester).assert_outcomes(failed=1)
    monkeypatch.setenv("AISYS_LINT_FAIL_ON", "error")
    run(pytester).assert_outcomes(passed=1)
    run(pytester, "--aisys-lint-fail-on", "note").assert_outcomes(failed=1)


def test_bad_aisys_var_is_a_usage_error(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = run(pytester, "--aisys-var", "oops")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aisys-var: expected NAME=VALUE, got 'oops'*"])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(("args", "ini", "words"), [
    (["--aisys-lint-fail-on", "fatal"], "", "*invalid choice: 'fatal'*"),
    ([], "aisys_lint_fail_on = fatal\n", "*unknown severity 'fatal'*"),
    ([], "aisys_spec_vars = nope\n", "*aisys_spec_vars: expected NAME=VALUE, got 'nope'*"),
])
def test_other_configuration_errors_are_usage_errors(pytester: pytest.Pytester, specs: Path, args: list[str],
                                                     ini: str, words: str) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n" + ini)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([words])


def test_strict_markers_accepts_the_marker(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\naddopts = --strict-markers --strict-config\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.aisys_spec(paths="specs/cli")
        def test_marked(aisys_topology):
            assert aisys_topology.hosts[0].name == "clihost"
    """)
    run(pytester).assert_outcomes(passed=1)
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.aisys_spec(paths=(), vars=None):*"])


def test_bad_marker_arguments(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.aisys_spec("specs/cli")
        def test_positional(aisys_topology):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*bad aisys_spec marker on *test_positional: it takes only the keywords paths= and "
                                 "vars=, got 'specs/cli'*"])
    assert "Traceback" not in result.stdout.str()


def test_no_spec_configured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(aisys_topology):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    assert "no spec configured: set the aisys_spec ini key, $AISYS_SPEC or --aisys-spec" in output
    assert "aisys-verify: spec" not in result.stdout.str()  # no header without a spec


def test_unloadable_spec_fails_the_test_with_file_and_line(pytester: pytest.Pytester) -> None:
    bad = pytester.mkdir("bad") / "h"
    bad.mkdir()
    (bad / "startup_config.yaml").write_text("agent_groups:\n  core:\n    A: [\n")
    pytester.makeini("[pytest]\naisys_spec = bad\n")
    pytester.makepyfile("def test_x(aisys_topology):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the spec cannot be loaded: *startup_config.yaml:4:*malformed YAML*"])


def test_plugin_works_in_a_subprocess(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makeini("[pytest]\naisys_spec = specs/ini\n")
    pytester.makepyfile(HOST_TEST.format(expected="inihost"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["aisys-verify: spec *specs/ini"])


# --- no side effects ----------------------------------------------------------------------------

HEAVY = ("docker", "testcontainers", "locust", "gevent", "allure", "zmq", "redis", "opentelemetry")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_no_plugin_side_effects(tmp_path: Path) -> None:
    """Installed but unused, the plugin writes nothing and imports none of the heavy optional packages."""
    work = tmp_path / "work"
    work.mkdir()
    modules_file = tmp_path / "modules.txt"
    (work / "test_trivial.py").write_text(
        "import sys\n\n"
        "def test_trivial():\n"
        f"    with open({str(modules_file)!r}, 'w') as f:\n"
        "        f.write('\\n'.join(sorted(sys.modules)))\n")
    before = _tree(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # pytest's own assertion-rewrite cache is not the plugin's doing
    # allure-pytest (installed for the reports) imports allure in every run by itself: switched off here
    # so that what is measured is our plugin; tests/report checks our plugin imports no allure module
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:allure_pytest",
                             "-q", "test_trivial.py"],
                            cwd=work, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _tree(work) == before, f"new files: {sorted(_tree(work) - before)}"
    modules = set(modules_file.read_text().split())
    assert "aisys_verify.plugin" in modules, "the plugin was not active"
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == []
    assert "aisys-verify" not in result.stdout  # no header line without a configured spec
