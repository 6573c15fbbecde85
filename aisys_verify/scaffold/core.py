"""``aisys-verify init``: scaffold a user's repository (docs/adoption.md).

What it writes into DIR, each file only where it is missing (or, with ``force``, where it differs):

* ``pyproject.toml`` with ``[tool.aisys-verify]`` and ``[tool.pytest.ini_options]`` pointing at the spec; an
  existing pyproject.toml gets the missing tables appended, never a rewrite of what is there;
* a copy of the default spec (``system/``, ``compose/``) when no ``spec`` of the user's is named;
* ``scenarios/`` (chaos, load, dialogues, slo) and ``suites/`` with example tests on the public fixtures;
* ``.github/workflows/``: PR e2e, nightly resilience, weekly chaos, images (rendered from the same templates
  this repository's own workflows are rendered from, with the set-up steps of an installed package).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aisys_verify import __version__
from aisys_verify.errors import UsageError

WORKFLOWS = ("pr-e2e.yml", "nightly-resilience.yml", "weekly-chaos.yml", "images.yml")
TOXIPROXY_VERSION = "2.12.0"  # keep in step with scripts/system-deps and aisys_verify/stack/toxiproxy.py
ALLURE_VERSION = "3.18.0"  # keep in step with package.json

# The set-up steps of a user's repository: the package from PyPI into .venv, Redis and Toxiproxy on the runner
USER_STEPS: Mapping[str, Sequence[str]] = {
    "SETUP": (
        "sudo apt-get install -y -q redis-server",
        f'go install -ldflags "-X github.com/Shopify/toxiproxy/v2.Version={TOXIPROXY_VERSION}" \\',
        f'  "github.com/Shopify/toxiproxy/v2/cmd/server@v{TOXIPROXY_VERSION}"',
        'sudo install -m 0755 "$(go env GOPATH)/bin/server" /usr/local/bin/toxiproxy-server',
        "python3 -m venv .venv",
        f'.venv/bin/python -m pip install --quiet "aisys-verify[all]=={__version__}"',
    ),
    "REPORT": (
        f"npx --yes allure@{ALLURE_VERSION} generate reports/allure-results --output reports/allure-report \\",
        "  --config allurerc.json",
    ),
    "BUILD_IMAGES": (
        "# your images: what the spec's compose files build; their names go to reports/images.txt",
        "mkdir -p reports",
        "for file in compose/*.yml; do docker compose --file \"$file\" build; done",
        "for file in compose/*.yml; do docker compose --file \"$file\" config --images; done \\",
        "  | sort -u > reports/images.txt",
    ),
}

# The pyproject tables init appends (each only when the file has none of that name)
AISYS_TABLE = """[tool.aisys-verify]
# the deployment spec: `aisys-verify lint`, `up`, `chaos` ... read it from here
spec = [{spec}]
"""
PYTEST_TABLE = """[tool.pytest.ini_options]
# -p no:locust: Locust's own pytest plugin stays out of the runs ([load] extra)
addopts = ["--strict-markers", "-ra", "-p", "no:locust"]
testpaths = ["suites"]
# `pytest -m e2e` (chaos, load, slo, conformance) with no path collects these folders
aisys_suites = ["suites"]
aisys_spec = [{spec}]
"""
ALLURERC = """{{
  "name": "aisys-verify",
  "historyPath": "reports/allure-history.jsonl",
  "plugins": {{"awesome": {{"options": {{"singleFile": true, "reportName": "aisys-verify"}}}}}}
}}
"""


@dataclass
class ScaffoldResult:
    """What ``scaffold`` did, path by path (relative to the target folder)."""

    root: Path
    created: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)  # pyproject.toml: our tables added after the user's
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # differs from ours: left alone (use --force)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created      {p}" for p in self.created] + [f"overwritten  {p}" for p in self.overwritten]
        out += [f"appended to  {p}" for p in self.appended]
        out += [f"kept         {p} (differs from the template; --force replaces it)" for p in self.kept]
        out += [f"note: {n}" for n in self.notes]
        out.append(f"init: {len(self.created)} created, {len(self.overwritten)} overwritten, "
                   f"{len(self.unchanged)} unchanged, {len(self.kept)} kept in {self.root}")
        return out


def render(template: str, steps: Mapping[str, Sequence[str]]) -> str:
    """Replace each line that holds only ``@NAME@`` by the lines of ``steps[NAME]`` at that line's indent."""
    out: list[str] = []
    for line in template.splitlines():
        name = line.strip()
        if name.startswith("@") and name.endswith("@") and len(name) > 2:
            key = name[1:-1]
            if key not in steps:
                raise UsageError(f"workflow template: no steps given for {name}")
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(f"{indent}{step}" if step else "" for step in steps[key])
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def workflow_files(steps: Mapping[str, Sequence[str]] = USER_STEPS) -> dict[str, str]:
    """``{file name: text}`` of the shipped workflows rendered with ``steps``."""
    folder = resources.files("aisys_verify.scaffold") / "data" / "workflows"
    return {name: render(folder.joinpath(name).read_text(encoding="utf-8"), steps) for name in WORKFLOWS}


def _data_files(top: str) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every file under ``data/<top>``, in a stable order."""
    base = resources.files("aisys_verify.scaffold") / "data"
    stack = [top]
    while stack:
        rel = stack.pop()
        node = base.joinpath(*rel.split("/"))
        if node.is_dir():
            stack.extend(sorted((f"{rel}/{child.name}" for child in node.iterdir()
                                 if child.name != "__pycache__"), reverse=True))
        else:
            yield rel, node.read_text(encoding="utf-8")


def planned_files(spec: Sequence[str] | None = None) -> dict[str, str]:
    """Every file init writes besides pyproject.toml: ``{path relative to DIR: text}``."""
    files: dict[str, str] = {}
    tops = ("scenarios", "suites") if spec else ("system", "compose", "scenarios", "suites")
    for top in tops:
        files.update(_data_files(top))
    for name, text in workflow_files(USER_STEPS).items():
        files[f".github/workflows/{name}"] = text
    files["allurerc.json"] = ALLURERC.format()
    return files


def _spec_list(spec: Sequence[str]) -> str:
    return ", ".join(f'"{s}"' for s in spec)


def _pyproject(path: Path, spec: Sequence[str], result: ScaffoldResult) -> None:
    """Append our tables to pyproject.toml where it has none of that name; never rewrite the user's TOML."""
    tables = {"aisys-verify": AISYS_TABLE.format(spec=_spec_list(spec)),
              "pytest": PYTEST_TABLE.format(spec=_spec_list(spec))}
    if not path.exists():
        _write(path, "\n".join(tables.values()))
        result.created.append(path.name)
        return
    text = path.read_text(encoding="utf-8")
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc}): fix it, then run 'aisys-verify init' again") from None
    missing = [t for name, t in tables.items()
               if not (tool.get(name) if name != "pytest" else tool.get("pytest", {}).get("ini_options"))]
    if not missing:
        result.unchanged.append(path.name)
        if "aisys_spec" not in tool.get("pytest", {}).get("ini_options", {}):
            result.notes.append(f"{path.name} has [tool.pytest.ini_options] without aisys_spec: add "
                                f"aisys_spec = [{_spec_list(spec)}] and aisys_suites = [\"suites\"] to it")
        return
    _write(path, text.rstrip("\n") + "\n\n" + "\n".join(missing))
    result.appended.append(f"{path.name} ({len(missing)} table(s))")  # nothing of the user's is replaced


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"init: cannot write {path}: {exc.strerror or exc}: check the folder's permissions") \
            from None


def scaffold(target: Path, *, spec: Sequence[str] | None = None, force: bool = False) -> ScaffoldResult:
    """Scaffold ``target`` (created if missing). ``spec``: the user's spec paths relative to ``target``
    (each must exist); none: a copy of the default spec goes to ``system/`` and ``compose/``. Idempotent: a
    file that is already ours is unchanged; one that differs is kept unless ``force``."""
    target = target.expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"init: {target} is a file, not a folder: name the repository's folder")
    for named in spec or ():
        if not (target / named).exists():
            raise UsageError(f"init: spec path {named!r} does not exist in {target}: give a path relative to it, "
                             "or leave --spec out to get a copy of the default spec")
    result = ScaffoldResult(target.resolve() if target.exists() else target.absolute())
    if not (target / "pytest.ini").exists():
        _pyproject(target / "pyproject.toml", list(spec or ["system"]), result)
    else:
        result.kept.append("pytest.ini")
        result.notes.append(f"pytest.ini wins over pyproject.toml: add aisys_spec = {' '.join(spec or ['system'])} "
                            "and aisys_suites = suites under its [pytest]")
    for rel, text in planned_files(spec).items():
        path = target / rel
        if not path.exists():
            _write(path, text)
            result.created.append(rel)
        elif path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            result.unchanged.append(rel)
        elif force and path.is_file():
            _write(path, text)
            result.overwritten.append(rel)
        else:
            result.kept.append(rel)
    return result
