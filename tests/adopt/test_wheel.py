"""Packaging (issue 18): ``python -m build`` makes a wheel and an sdist whose metadata carry the one version,
pytest as a dependency and the extras; the wheel installed with ``[all]`` into a clean venv (no system
site-packages, no checkout on the path) is a working pytest plugin and CLI in an empty folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from adopt_support import REPO

import aisys_verify

pytestmark = [pytest.mark.integration, pytest.mark.slow]
_IGNORE = shutil.ignore_patterns(".git", ".venv", "node_modules", "reports", "__pycache__", ".*_cache", "*.egg-info",
                                 ".hypothesis", "dist", "build")


def _env() -> dict[str, str]:
    """No PYTHONPATH, no ambient settings: only what the venv has installed can be imported."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith(("AISYS_", "PYTEST_"))}


def run(args: list[str | Path], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env={**_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout[-3000:]}" \
                                 f"\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and wheel of a clean copy of the checkout (no build residue in the checkout itself)."""
    base = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, base / "src", ignore=_IGNORE)
    # --no-isolation: the locked setuptools builds it, so the test needs no index to fetch a build backend
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", base / "dist", base / "src"], base)
    return base / "dist"


def test_the_wheel_and_sdist_carry_one_version_pytest_and_the_extras(dist: Path) -> None:
    version = aisys_verify.__version__
    assert (dist / f"aisys_verify-{version}.tar.gz").is_file(), sorted(dist.iterdir())
    wheel = dist / f"aisys_verify-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        meta = archive.read(f"aisys_verify-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"aisys_verify-{version}.dist-info/entry_points.txt").decode()
    assert {"aisys_verify/plugin.py", "aisys_verify/py.typed", "aisys_verify/load/locustfile.py"} <= names
    assert not any(n.startswith(("tests/", "suites/")) for n in names)
    assert f"Version: {version}\n" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("Requires-Dist: pytest") and "extra" not in r for r in requires), requires
    assert {"all", "load", "report"} <= {line.split(": ")[1] for line in meta.splitlines()
                                         if line.startswith("Provides-Extra:")}
    assert any("locust" in r and 'extra == "load"' in r for r in requires), requires
    assert any("allure-pytest" in r and 'extra == "report"' in r for r in requires), requires
    assert "[pytest11]\naisys_verify = aisys_verify.plugin" in entry_points
    assert "aisys-verify = aisys_verify.cli:main" in entry_points


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv (no system site-packages) with the wheel installed with ``[all]``: shared by the tests below,
    one install for all of them."""
    base = tmp_path_factory.mktemp("venv")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", venv], base)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    wheel = next(dist.glob("aisys_verify-*.whl"))
    # --no-compile: byte-compiling every dependency costs CI seconds and proves nothing about the wheel
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         f"{wheel}[all]"], base)
    return venv


def test_the_wheel_is_a_working_plugin_in_a_clean_venv(venv: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run([venv / "bin" / "python", "-c", "import aisys_verify, locust, allure; print(aisys_verify.__file__)"],
                empty)
    assert where.strip().startswith(str(venv)), where  # the installed copy, never the checkout
    helptext = run([venv / "bin" / "pytest", "--help"], empty)
    for option in ("--aisys-spec", "--aisys-backend", "--aisys-shard", "--aisys-faults", "aisys_suites"):
        assert option in helptext, option
    version = run([venv / "bin" / "aisys-verify", "--version"], empty).strip()
    assert version == f"aisys-verify {aisys_verify.__version__}", version
    # the plugin's fixtures work from the installed package: a spec copied into the folder, linted from pytest
    for folder in ("system", "compose"):  # the spec: startup configs, manifest and the compose files it names
        shutil.copytree(REPO / folder, empty / folder)
    (empty / "pytest.ini").write_text("[pytest]\naisys_spec = system\n")
    (empty / "test_spec.py").write_text("def test_spec(aisys_lint, aisys_topology):\n"
                                        "    assert len(aisys_topology.agents) == 77\n    aisys_lint.assert_clean()\n")
    out = run([venv / "bin" / "pytest", "-q", "-p", "no:cacheprovider"], empty)
    assert "1 passed" in out, out


def test_init_then_pytest_m_e2e_in_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    """The adoption path a user takes: `aisys-verify init` in an empty folder, then `pytest -m e2e` runs the
    example suite against the default spec init copied, from the installed package alone."""
    repo = tmp_path / "repo"
    repo.mkdir()
    state = tmp_path / "state"
    env = {"AISYS_STATE_DIR": str(state)}
    out = run([venv / "bin" / "aisys-verify", "init"], repo, env=env)
    assert "0 kept" in out and (repo / "system" / "aisys-spec.yaml").is_file(), out
    assert "0 created" in run([venv / "bin" / "aisys-verify", "init"], repo, env=env)  # idempotent
    out = run([venv / "bin" / "pytest", "-m", "e2e", "-p", "no:cacheprovider"], repo, env=env)
    assert re.search(r"\b2 passed\b", out) and "failed" not in out, out
    assert str(REPO) not in out  # nothing came from the checkout
    listed = run([venv / "bin" / "pytest", "-m", "chaos", "--collect-only", "-q", "--aisys-shard=1/3",
                  "-p", "no:cacheprovider"], repo, env=env)
    assert re.search(r"\d+/\d+ tests collected", listed), listed[-500:]
