"""The declared public API (docs/api.md): the suites use only it, every name resolves, the import is cheap,
and the document lists exactly ``aisys_verify.__all__`` and each package's ``__all__``."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import aisys_verify

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("spec", "lint", "plan", "stack", "faults", "load", "slo", "report", "conformance", "standin", "gpu",
            "backup", "ctk", "security", "observe", "k8s", "scaffold")
PUBLIC_MODULES = ("aisys_verify", *(f"aisys_verify.{name}" for name in PACKAGES))
SUITE_FILES = sorted((ROOT / "suites").rglob("*.py"))
# Third-party packages `import aisys_verify` must not load (each is a dependency, optional or of a tool).
HEAVY = ("yaml", "zmq", "redis", "opentelemetry", "locust", "gevent", "allure", "allure_commons", "docker",
         "requests", "numpy", "scipy", "pytest", "pynvml")


def _public(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of aisys_verify in ``path``, at any depth (function level too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "aisys_verify" or node.module.startswith("aisys_verify.")):
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "aisys_verify" or alias.name.startswith("aisys_verify."):
                    found.append((node.lineno, alias.name, []))
    return found


def _violations(where: str, module: str, names: list[str]) -> list[str]:
    if module not in PUBLIC_MODULES:
        return [f"{where}: imports {module}, which is not aisys_verify or one of its packages"]
    public = _public(module)
    return [f"{where}: {name} is not in {module}.__all__" for name in names if name not in public]


def test_the_suites_exist() -> None:
    assert len(SUITE_FILES) > 10 and any(_imports(path) for path in SUITE_FILES)


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_suite_imports_only_the_public_api(path: Path) -> None:
    problems = [problem for line, module, names in _imports(path)
                for problem in _violations(f"{path.relative_to(ROOT)}:{line}", module, names)]
    assert not problems, "\n".join(problems)


def test_docs_examples_import_only_the_public_api() -> None:
    problems = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for module, names in re.findall(r"from (aisys_verify[\w.]*) import ([\w, ]+)", line):
                problems += _violations(f"{path.relative_to(ROOT)}:{number}", module,
                                        [name.strip() for name in names.split(",") if name.strip()])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_resolves(module: str) -> None:
    package = importlib.import_module(module)
    names = package.__all__
    assert len(names) == len(set(names)), f"{module}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(package, name)]
    assert not missing, f"{module}.__all__ names what it does not have: {missing}"
    assert set(names) <= set(dir(package))
    assert all(not isinstance(getattr(package, name), ModuleType) for name in names), "a module in __all__"


def test_top_level_names_are_the_objects_of_their_packages() -> None:
    for module in PUBLIC_MODULES[1:]:
        package = importlib.import_module(module)
        for name in set(package.__all__) & set(aisys_verify.__all__):
            assert getattr(package, name) is getattr(aisys_verify, name), f"{module}.{name}"


def _loaded_after(code: str) -> set[str]:
    """Top-level module names a fresh interpreter holds after running ``code``."""
    probe = (f"import sys\nbefore = set(sys.modules)\n{code}\n"
             "print(' '.join(sorted({name.split('.')[0] for name in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_import_is_cheap() -> None:
    loaded = _loaded_after("import aisys_verify")
    assert not loaded & set(HEAVY), f"import aisys_verify loads {sorted(loaded & set(HEAVY))}"
    third_party = sorted(name for name in loaded if name not in sys.stdlib_module_names and name != "aisys_verify")
    assert not third_party, f"import aisys_verify loads third-party packages: {third_party}"


@pytest.mark.parametrize(("module", "heavy"), [
    ("aisys_verify.report", ("allure", "allure_commons")),
    ("aisys_verify.load", ("locust", "gevent")),
    ("aisys_verify.lint", ("yaml",)),
])
def test_package_import_is_cheap(module: str, heavy: tuple[str, ...]) -> None:
    assert not _loaded_after(f"import {module}") & set(heavy)


def test_functions_named_like_modules_stay_functions() -> None:
    """``lint`` and ``probe`` share their names with modules; importing those modules later must not hide them."""
    code = ("import sys\n"
            "import aisys_verify, aisys_verify.lint.runner, aisys_verify.lint.registry, aisys_verify.probe\n"
            "from aisys_verify import lint, probe\n"
            "assert lint is sys.modules['aisys_verify.lint.runner'].lint, lint\n"
            "assert probe is sys.modules['aisys_verify.probe'].probe, probe\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _doc_lists() -> tuple[list[str], dict[str, list[str]]]:
    text = (ROOT / "docs" / "api.md").read_text()
    top, _, packages = text.partition("\n## The packages\n")
    _, _, top = top.partition("\n## `aisys_verify`\n")
    top_names = re.findall(r"^- `(\w+)`: ", top, re.M)
    package_names = {module: re.findall(r"`(\w+)`", rest)
                     for module, rest in re.findall(r"^- `(aisys_verify\.\w+)`: (.*)$", packages, re.M)}
    return top_names, package_names


def test_docs_list_the_top_level_api() -> None:
    names, _ = _doc_lists()
    assert len(names) == len(set(names)), "docs/api.md lists a name twice"
    assert set(names) == set(aisys_verify.__all__), (
        f"docs/api.md lacks {sorted(set(aisys_verify.__all__) - set(names))}; "
        f"lists what is not in __all__: {sorted(set(names) - set(aisys_verify.__all__))}")


def test_docs_list_every_package_api() -> None:
    _, packages = _doc_lists()
    assert sorted(packages) == sorted(PUBLIC_MODULES[1:])
    for module, names in packages.items():
        assert set(names) == _public(module), (
            f"docs/api.md, {module}: lacks {sorted(_public(module) - set(names))}; "
            f"lists what is not in __all__: {sorted(set(names) - _public(module))}")
