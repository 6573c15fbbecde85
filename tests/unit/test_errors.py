"""One exception tree (issue 20): every exception class of the package derives from VerifyError, is defined in
``aisys_verify.errors`` and is drawn in that module's docstring tree, under its first VerifyError base; no
bare ``ValueError``/``RuntimeError``/``Exception`` is raised by the package.

The modules are imported in a child interpreter: ``aisys_verify/__main__.py`` runs the CLI when imported and
the locustfile imports Locust (which monkey-patches the standard library with gevent), neither of which may
happen inside the pytest process. Every module is imported, none skipped.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aisys_verify.errors as errors_module
from aisys_verify.errors import VerifyError

PACKAGE = Path(__file__).resolve().parents[2] / "aisys_verify"

# Imports every module of the package and prints, as JSON, each exception class defined in the package:
# [module where it was found, qualified name, defining module, its MRO's names that are VerifyError subclasses]
_CHILD = r"""
import contextlib, importlib, inspect, io, json, pkgutil, sys
import aisys_verify
from aisys_verify.errors import VerifyError

names = ["aisys_verify"] + [m.name for m in pkgutil.walk_packages(aisys_verify.__path__, "aisys_verify.")]
found, failed = {}, {}
for name in names:
    argv = sys.argv
    sys.argv = ["aisys-verify", "--help"]  # aisys_verify.__main__ runs the CLI: let it print its help
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            module = importlib.import_module(name)
    except SystemExit:  # aisys_verify.__main__ ran to its last line, sys.exit(main()): nothing left to read
        continue
    except Exception as exc:  # reported below: the test fails naming the module
        failed[name] = repr(exc)
        continue
    finally:
        sys.argv = argv
    if module is None:
        failed[name] = "not in sys.modules after its import"
        continue
    for value in list(vars(module).values()):
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__.startswith("aisys_verify"):
            key = f"{value.__module__}.{value.__qualname__}"
            found[key] = {"name": value.__name__, "module": value.__module__,
                          "verify": issubclass(value, VerifyError)}
print(json.dumps({"modules": names, "found": found, "failed": failed}))
"""


def _locust_plan(tmp_path: Path) -> Path:
    """A minimal load plan, so that the locustfile can be imported (it reads $AISYS_LOAD_PLAN at import)."""
    plan = {"run_dir": str(tmp_path), "host": "http://127.0.0.1:9",
            "scenario": {"shape": {"kind": "constant", "level": 1, "duration": 1}, "model": "closed",
                         "workloads": {"http-get": {"weight": 1}}, "timeout": 1, "users": 1}}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def _exception_classes(tmp_path: Path) -> dict[str, dict[str, object]]:
    env = {**os.environ, "AISYS_LOAD_PLAN": str(_locust_plan(tmp_path)), "AISYS_LOAD_ROLE": "master",
           "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=240,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}, f"modules that could not be imported: {report['failed']}"
    assert len(report["modules"]) > 100, report["modules"]
    found: dict[str, dict[str, object]] = report["found"]
    return found


def _tree() -> list[tuple[int, str]]:
    """The docstring tree of aisys_verify.errors: (column of the name, name) per line, in order."""
    doc = errors_module.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        match = re.match(r"^([ │├└─]*)([A-Z]\w*)\s{2,}\S", line)
        if match and line.startswith("    "):
            rows.append((len(match.group(1)), match.group(2)))
    return rows


def _tree_parents() -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for column, name in _tree():
        while stack and stack[-1][0] >= column:
            stack.pop()
        assert name not in parents, f"{name} is drawn twice in the tree"
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def _defined_in_errors() -> dict[str, type[BaseException]]:
    return {name: value for name, value in vars(errors_module).items()
            if isinstance(value, type) and issubclass(value, BaseException)
            and value.__module__ == errors_module.__name__}


def test_every_exception_class_is_a_verify_error_defined_in_errors_and_in_the_tree(tmp_path: Path) -> None:
    found = _exception_classes(tmp_path)
    drawn = set(_tree_parents())
    assert "aisys_verify.errors.VerifyError" in found
    problems = []
    for key, info in sorted(found.items()):
        if not info["verify"]:
            problems.append(f"{key}: not a subclass of VerifyError")
        if info["module"] != "aisys_verify.errors":
            problems.append(f"{key}: defined outside aisys_verify.errors")
        if info["name"] not in drawn:
            problems.append(f"{key}: not drawn in the tree of aisys_verify/errors.py")
    assert problems == []


def test_the_tree_draws_exactly_the_classes_of_errors_py_under_their_bases() -> None:
    parents = _tree_parents()
    classes = _defined_in_errors()
    assert set(parents) == set(classes), "tree and errors.py differ"
    for name, cls in classes.items():
        if cls is VerifyError:
            assert parents[name] is None
            continue
        base = next(b for b in cls.__bases__ if issubclass(b, VerifyError))
        assert parents[name] == base.__name__, f"{name} is drawn under {parents[name]}, derives from {base.__name__}"


def test_no_class_statement_outside_errors_py_defines_an_exception() -> None:
    """The source as well as the imported modules: a class nested in a function is not seen by the walk."""
    known = {"Exception", "BaseException", "ValueError", "RuntimeError", "AssertionError", "OSError", "KeyError",
             "TypeError", *_defined_in_errors()}
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                         for b in node.bases}
                if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                    problems.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} class {node.name}")
    assert problems == []


def test_no_bare_builtin_error_is_raised_by_the_package() -> None:
    banned = {"ValueError", "RuntimeError", "Exception"}
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in banned:
                    problems.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} raise {exc.id}")
    assert problems == []


def test_old_homes_still_export_the_same_classes() -> None:
    from aisys_verify.faults import base, edges, scenario, toxics
    from aisys_verify.slo import driver, prom
    from aisys_verify.spec import expr
    from aisys_verify.stack import base as stack_base
    from aisys_verify.standin import calls, protocol

    assert base.ChaosError is errors_module.ChaosError
    assert base.ChaosUnsupported is errors_module.ChaosUnsupported
    assert base.FaultNotEffective is errors_module.FaultNotEffective
    assert edges.SelectorError is errors_module.SelectorError
    assert scenario.ScenarioError is errors_module.ScenarioError
    assert toxics.ToxicError is errors_module.ToxicError
    assert driver.RunRecordError is errors_module.RunRecordError
    assert prom.ScrapeError is errors_module.ScrapeError
    assert expr.ExprError is errors_module.ExprError
    assert stack_base.StackStartError is errors_module.StackStartError
    assert calls.CallFailed is errors_module.CallFailed
    assert protocol.ProtocolError is errors_module.ProtocolError
    assert issubclass(errors_module.ExprError, ValueError) and issubclass(errors_module.ProtocolError, ValueError)
    assert issubclass(errors_module.InvalidValue, ValueError)
    assert issubclass(errors_module.LoadTargetError, RuntimeError)
