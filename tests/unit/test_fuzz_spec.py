"""Robustness: whatever the spec files contain, load_spec + lint either work or raise SpecError.

Two generators: arbitrary YAML-able structures dropped into each kind of spec
file, and mutations of the clean baseline spec (keys dropped, renamed or
retyped, garbage port expressions and interpolations, whole sections deleted).
Explicit regression cases pin down the inputs that once escaped as other
exceptions.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from spec_factory import COMPOSE, MANIFEST, SLO, STARTUP, baseline, host, service, slos, write_spec

from aisys_verify import SpecError, lint, load_spec
from aisys_verify.spec import compose, facts, loader, slo, startup

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])

KNOWN_KEYS = sorted({*startup.TOP_KEYS, *startup.AGENT_KEYS, *startup.GROUP_KEYS, *compose.TOP_KEYS,
                     *compose.SERVICE_KEYS[:20], *slo.TOP_KEYS, *slo.SLO_KEYS, *slo.GLOBAL_KEYS, *facts.FACT_KEYS,
                     *facts.GPU_KEYS, *facts.PLAN_KEYS, *facts.SLICE_KEYS, *loader.MANIFEST_KEYS, *loader.HOST_KEYS,
                     "kind", "target", "published", "file", "external", "test", "resources", "limits",
                     "reservations", "devices", "condition", "start", "end", "local_backend", "gpu_device", "<<"})

GARBAGE_TEXT = ["${PORT_OFFSET}+", "${PORT_OFFSET", "$", "${", "}", "${X:?boom}", "${X:-${Y}}", "$$", "7200+${Y:-z}",
                "abc", "", " ", "-1", "0", "65536", "1e3", "0x10", "NaN", "inf", "~", "null", "true", "[1",
                "${PORT_OFFSET}8080", "127.0.0.1:80:80/xyz", "80-90:80", "aisys-verify/spec",
                "aisys-verify/host-facts", "mig", "mps", "availability", "latency", "5m", "1h30m", "all",
                "/run/secrets/x", "postgres://u:p@h/db", "http://localhost:9200/health", "512m", "2g", "NONE",
                "CMD-SHELL", "service_healthy", "x-ext"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**40), max_value=2**40), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(GARBAGE_TEXT))
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8), st.integers(0, 3))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)), max_leaves=25)


def _run(files: dict[str, Any], env: dict[str, str] | None = None, paths: list[str] | None = None) -> str:
    """Write ``files`` to a fresh folder, load and lint them; only SpecError may escape. Returns what happened."""
    with tempfile.TemporaryDirectory() as tmp:
        root = write_spec(Path(tmp), files)
        try:
            topology = load_spec([root / p for p in paths] if paths else [root], env or {})
            report = lint(topology)
        except SpecError as exc:
            message = exc.one_line()
            assert message
            return "SpecError"
        for finding in report.findings:
            assert finding.one_line()
        topology.summary()
        return "linted with findings" if report.findings else "linted clean"


def _dump_any(data: Any) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False)
    except (yaml.YAMLError, ValueError, TypeError):  # pragma: no cover - defensive
        return "x: 1\n"


# --- 1. arbitrary structures in each kind of file ----------------------------------------------

ROLES = ["h/startup_config.yaml", "h/docker-compose.yml", "loose/docker-compose.override.yml", "slo-config.yaml",
         "facts.yaml", MANIFEST]


@FUZZ
@given(role=st.sampled_from(ROLES), top=st.dictionaries(keys, values, max_size=6), data=st.data())
def test_arbitrary_structures_in_any_spec_file(role: str, top: dict[Any, Any], data: st.DataObject) -> None:
    # make the file look like its role, so that the reader for that role gets to chew on it
    marker = {"h/startup_config.yaml": ("agent_groups", "pc2_services"), "slo-config.yaml": ("slos",),
              "facts.yaml": ("kind",), MANIFEST: ("kind",), "h/docker-compose.yml": ("services",),
              "loose/docker-compose.override.yml": ("services",)}[role]
    key = data.draw(st.sampled_from(marker))
    if key == "kind":
        top["kind"] = "aisys-verify/host-facts" if role == "facts.yaml" else "aisys-verify/spec"
    elif key == "services":
        top = {k: v for k, v in top.items() if str(k) in compose.TOP_KEYS}
        top["services"] = data.draw(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=3))
    else:
        top.setdefault(key, data.draw(values))
    files: dict[str, Any] = {role: _dump_any(top)}
    if role != "h/startup_config.yaml":
        files["h/startup_config.yaml"] = baseline()[STARTUP]
    if role == MANIFEST:
        files["main/startup_config.yaml"] = baseline()[STARTUP]
    event(_run(files, data.draw(st.dictionaries(st.sampled_from(["PORT_OFFSET", "X", "Y", "TAG"]),
                                          st.sampled_from(["0", "1000", "", "abc", "-5", "99999"]), max_size=2))))


# --- 2. mutations of the valid baseline ----------------------------------------------------------

def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _mutate(spec: dict[str, Any], file: str, path: tuple[Any, ...], how: str, value: Any, new_key: Any) -> None:
    parent: Any = spec[file]
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if how == "drop":
        del parent[last]
    elif how == "replace":
        parent[last] = value
    elif how == "wrap":
        parent[last] = [parent[last]]
    elif how == "rename" and isinstance(parent, dict):
        parent[new_key] = parent.pop(last)
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif how == "empty":
        parent[last] = type(parent[last])() if isinstance(parent[last], (dict, list, str)) else None


@FUZZ
@given(data=st.data())
def test_mutations_of_a_valid_spec(data: st.DataObject) -> None:
    spec = baseline()
    for _ in range(data.draw(st.integers(1, 4))):
        file = data.draw(st.sampled_from(sorted(spec)))
        if not isinstance(spec[file], dict):
            continue
        candidates = list(_paths(spec[file]))
        if not candidates:
            spec[file] = data.draw(values)
            continue
        path = data.draw(st.sampled_from(candidates))
        how = data.draw(st.sampled_from(["drop", "replace", "replace", "wrap", "rename", "duplicate", "empty"]))
        _mutate(spec, file, path, how, data.draw(values), data.draw(keys))
    if data.draw(st.booleans()):  # whole sections, as a sloppy edit would
        victim = data.draw(st.sampled_from(["docker_groups", "agent_groups", "services", "hosts", "slos", "gpu_plan"]))
        docs = [spec[STARTUP], spec[COMPOSE], spec[MANIFEST], spec[SLO]]
        hosts = spec[MANIFEST].get("hosts") if isinstance(spec[MANIFEST], dict) else None
        if isinstance(hosts, dict):
            docs.append(hosts.get("main"))
        for doc in docs:
            if isinstance(doc, dict):
                doc.pop(victim, None)
    env = data.draw(st.dictionaries(st.sampled_from(["PORT_OFFSET", "LOG_LEVEL", "DB_PASSWORD"]),
                                    st.sampled_from(["0", "20000", "", "x", "-7200", "1" * 30]), max_size=2))
    event(_run({k: _dump_any(v) for k, v in spec.items()}, env))


PORT_EXPRESSIONS = st.one_of(st.sampled_from(GARBAGE_TEXT), st.text(alphabet="${}:-+?_0123456789PORT_OFFSETXY ",
                                                                    max_size=20))


@FUZZ
@given(data=st.data(), exprs=st.lists(PORT_EXPRESSIONS, min_size=1, max_size=4))
def test_garbage_port_expressions_and_interpolations(data: st.DataObject, exprs: list[str]) -> None:
    spec = baseline()
    slots = [
        lambda v: spec[STARTUP]["agent_groups"]["core"]["Alpha"].__setitem__("port", v),
        lambda v: spec[STARTUP]["agent_groups"]["core"]["Beta"].__setitem__("health_check_port", v),
        lambda v: spec[STARTUP].__setitem__("error_bus_port", v),
        lambda v: host(spec).__setitem__("redis_port", v),
        lambda v: service(spec, "core_group")["environment"].__setitem__("PORT", v),
        lambda v: service(spec, "core_group").__setitem__("ports", [v]),
        lambda v: service(spec, "edge_group").__setitem__("image", v),
        lambda v: service(spec, "edge_group")["healthcheck"].__setitem__("test", ["CMD-SHELL", v]),
        lambda v: slos(spec)["slos"]["core_availability"].__setitem__("window", v),
    ]
    for expr in exprs:
        data.draw(st.sampled_from(slots))(expr)
    event(_run({k: _dump_any(v) for k, v in spec.items()}, {"PORT_OFFSET": data.draw(st.sampled_from(["", "1", "x"]))}))


@FUZZ
@given(data=st.data())
def test_text_level_damage(data: st.DataObject) -> None:
    """Damage the YAML text itself: cut it, splice characters in, re-indent a line."""
    files = {k: _dump_any(v) for k, v in baseline().items()}
    name = data.draw(st.sampled_from(sorted(files)))
    text = files[name]
    at = data.draw(st.integers(0, len(text)))
    kind = data.draw(st.sampled_from(["cut", "insert", "indent"]))
    if kind == "cut":
        text = text[:at]
    elif kind == "insert":
        text = text[:at] + data.draw(st.text(alphabet=":-[]{}&*!<>|#'\"? \n\t$x1", max_size=6)) + text[at:]
    else:
        lines = text.splitlines(keepends=True)
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.sampled_from(["", " ", "  ", "\t"])) + lines[i]
        text = "".join(lines)
    files[name] = text
    event(_run(files))


# --- 3. regressions: inputs that escaped as something other than SpecError -------------------

def _with(mutate: Any) -> dict[str, Any]:
    spec = baseline()
    mutate(spec)
    return spec


HUGE = 10**400

REGRESSIONS = {
    "long-form port with a non-numeric published port": lambda s: service(s, "core_group").__setitem__(
        "ports", [{"target": 80, "published": "http"}]),
    "long-form port with published: true": lambda s: service(s, "core_group").__setitem__(
        "ports", [{"target": 80, "published": True}]),
    "secret file that is not text": lambda s: s[COMPOSE]["secrets"].__setitem__("tls", {"file": 3}),
    "secret file that is a list": lambda s: s[COMPOSE]["secrets"].__setitem__("tls", {"file": ["a"]}),
    "memory limit of 400 digits": lambda s: service(s, "core_group")["deploy"]["resources"]["limits"].__setitem__(
        "memory", "1" + "0" * 400 + "g"),
    "cpus limit of 400 digits": lambda s: service(s, "core_group")["deploy"]["resources"]["limits"].__setitem__(
        "cpus", HUGE),
    "ram_gb of 400 digits": lambda s: host(s).__setitem__("ram_gb", HUGE),
    "SLO threshold of 400 digits": lambda s: slos(s)["slos"]["core_availability"].__setitem__("threshold", HUGE),
    "SLO window of 400 digits": lambda s: slos(s)["slos"]["core_availability"].__setitem__("window", HUGE),
    "quoted port of 5000 digits": lambda s: s[STARTUP]["agent_groups"]["core"]["Alpha"].__setitem__(
        "port", "1" * 5000),
    "gpu_plan on a negative device": lambda s: host(s)["gpu_plan"].__setitem__("device", -5),
    "compose interpolation nested 3000 deep": lambda s: service(s, "core_group")["environment"].__setitem__(
        "DEEP", "${A:-" * 3000 + "x" + "}" * 3000),
    "INT001 string that also requires a variable": lambda s: service(s, "core_group")["environment"].__setitem__(
        "ADDR", "${DB_HOST:?set DB_HOST}:${PORT_OFFSET}80"),
}


@pytest.mark.parametrize("mutate", list(REGRESSIONS.values()), ids=list(REGRESSIONS))
def test_regression_only_spec_error_escapes(mutate: Any) -> None:
    _run({k: _dump_any(v) for k, v in _with(mutate).items()}, {"DB_HOST": "db", "PORT_OFFSET": "1"})


@pytest.mark.parametrize("text", ["a: !!timestamp soon\n", "agent_groups: !!bool maybe\n", "services: !!int\n"])
def test_regression_tagged_scalars(text: str) -> None:
    _run({"h/startup_config.yaml": text})


def test_regression_overlay_beside_a_manifest_compose_file_without_services() -> None:
    spec = baseline()
    spec["main/networks.yml"] = {"networks": {"backend": {}}}
    host(spec)["compose"].append("main/networks.yml")
    spec["extra/override.yml"] = {"services": {"core_group": {"environment": {"X": "1"}}}}
    _run(spec, paths=[".", "extra/override.yml"])


def test_mutation_paths_reach_every_node() -> None:
    paths = set(_paths(baseline()[MANIFEST]))
    assert ("hosts", "main", "gpu_plan", "slices", "core_group", "share_pct") in paths
    assert ("hosts", "main", "compose", 0) in paths


# --- 4. compose files with anchors, aliases and merge keys (issue 14) ----------------------------

def _flow(value: Any) -> str:
    """A value as one line of YAML flow syntax (JSON is YAML; int keys become strings)."""
    import json

    return json.dumps(value, allow_nan=True, default=str)


@FUZZ
@given(templates=st.lists(values, min_size=1, max_size=4), data=st.data())
def test_compose_files_with_anchors_aliases_and_merges(templates: list[Any], data: st.DataObject) -> None:
    """Templates under x- keys, used by services through aliases and merge keys (well or badly), and now and
    then a small alias bomb: load + lint work, or one located SpecError; never anything else."""
    lines = [f"x-t{i}: &t{i} {_flow(t)}" for i, t in enumerate(templates)]
    alias = st.sampled_from([f"*t{i}" for i in range(len(templates))])
    if data.draw(st.booleans()):  # nested aliases: from harmless to far over the expansion budget
        width, levels = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 12))
        lines.append(f"x-b0: &b0 [{', '.join(['lol'] * width)}]")
        lines += [f"x-b{n}: &b{n} [{', '.join([f'*b{n - 1}'] * width)}]" for n in range(1, levels)]
        alias = alias | st.just(f"*b{levels - 1}")
    lines.append("services:")
    for s in range(data.draw(st.integers(1, 3))):
        lines += [f"  svc{s}:", "    image: busybox"]
        if data.draw(st.booleans()):
            merged = data.draw(st.lists(alias, min_size=1, max_size=3))
            lines.append(f"    <<: {merged[0] if len(merged) == 1 else '[' + ', '.join(merged) + ']'}")
        for key in data.draw(st.lists(st.sampled_from(["environment", "ports", "depends_on", "labels", "command",
                                                       "healthcheck", "deploy", "secrets", "networks"]),
                                      max_size=4, unique=True)):
            lines.append(f"    {key}: {data.draw(alias | values.map(_flow))}")
    files = {k: _dump_any(v) for k, v in baseline().items()}
    files[COMPOSE] = "\n".join(lines) + "\n"
    event(_run(files))


# --- 5. the command line's options: exit 0, 1 or 2, one line on error, never a traceback --------

CLI_TOKENS = ["lint", "spec", "rules", "--format", "json", "sarif", "text", "xml", "--output", "-o", "out.txt",
              "outdir", "blocker/x.txt", "--fail-on", "error", "warning", "note", "fatal", "--select", "--ignore",
              "PORT", "PORT001", "ports", "NOPE", "spec", "--quiet", "-q", "--var", "PORT_OFFSET=1000",
              "PORT_OFFSET=x", "X", "=", "A=", "--help", "--version", "SPEC", "absent", "empty", "bomb.yml", "-",
              "--", "--nope", ""]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(["lint", "lint", "spec", "rules", "--format"]),
       rest=st.lists(st.sampled_from(CLI_TOKENS) | st.text(max_size=6), max_size=7),
       path=st.sampled_from(["SPEC", "SPEC", "empty", "bomb.yml", "absent", ""]))
def test_cli_options_never_end_in_a_traceback(command: str, rest: list[str], path: str) -> None:
    argv = [command, *rest, *([path] if path else [])]
    import contextlib
    import io
    import os

    from aisys_verify.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_spec(root / "SPEC", {k: _dump_any(v) for k, v in baseline().items()})
        (root / "outdir").mkdir()
        (root / "empty").mkdir()
        (root / "blocker").write_text("x")
        bomb = "services:\n  a:\n    image: x\n    labels:\n      l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
        bomb += "".join(f"      l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 9))
        (root / "bomb.yml").write_text(bomb + "    command: *l8\n")
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(root)  # relative paths (and the absent pyproject.toml) are the temporary folder's
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        finally:
            os.chdir(cwd)
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in err.getvalue()
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aisys-verify: error: "), (argv, err.getvalue())
    event(f"exit {code}")


@pytest.mark.parametrize("argv", [["lint", "\r", "x"], ["lint", "a\nb"], ["lint", "--select", "P\x00"],
                                  ["lint", "-o", "\n/x", "y"]])
def test_regression_control_characters_in_arguments_stay_on_one_line(argv: list[str],
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aisys-verify: error: ")
