"""Compose features as ``docker compose config`` resolves them: ``.env``, ``extends``, ``include``,
``profiles``, and published port ranges and bounds. Each case is a small project written here; the
projects in ``test_compose_cli_fidelity.py`` are also compared with the real Compose CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_factory import baseline, service, write_spec

from aisys_verify import SpecError, SpecNotFound, Topology, lint, load_spec
from aisys_verify.cli import main
from aisys_verify.lint.registry import RULES
from aisys_verify.spec.compose import read_dotenv
from aisys_verify.spec.model import ComposeService


def _load(root: Path, files: dict[str, Any], env: dict[str, str] | None = None) -> Topology:
    return load_spec([write_spec(root, files)], env or {})


def _services(topology: Topology) -> dict[str, ComposeService]:
    return {s.name: s for p in topology.projects for s in p.services}


def _env(svc: ComposeService) -> dict[str, str | None]:
    return {e.name: e.value for e in svc.environment}


def _rules(topology: Topology, rule: str) -> list[str]:
    return [f.message for f in lint(topology).findings if f.rule == rule]


# --- .env -----------------------------------------------------------------------------------------

DOTENV = """# the project's defaults
IMAGE_TAG=1.2
export WEB_PORT=8080
QUOTED="a # not a comment"
LITERAL='$IMAGE_TAG stays'
TRAILING=plain   # a comment
DERIVED=${IMAGE_TAG}-slim
ESCAPED="line\\nbreak"
"""
NEEDS_ENV = {"services": {"web": {"image": "web:${IMAGE_TAG:?set IMAGE_TAG in .env}",
                                  "ports": ["${WEB_PORT}:80"],
                                  "environment": {"Q": "${QUOTED}", "L": "${LITERAL}", "T": "${TRAILING}",
                                                  "D": "${DERIVED}", "E": "${ESCAPED}"}}}}


def test_dotenv_beside_the_compose_file_feeds_interpolation(tmp_path: Path) -> None:
    web = _services(_load(tmp_path, {"compose.yml": NEEDS_ENV, ".env": DOTENV}))["web"]
    assert web.image == "web:1.2"
    assert [p.host_port for p in web.ports] == [8080]
    assert _env(web) == {"Q": "a # not a comment", "L": "$IMAGE_TAG stays", "T": "plain", "D": "1.2-slim",
                         "E": "line\nbreak"}


def test_the_callers_variables_win_over_dotenv(tmp_path: Path) -> None:
    web = _services(_load(tmp_path, {"compose.yml": NEEDS_ENV, ".env": DOTENV}, {"IMAGE_TAG": "9"}))["web"]
    assert web.image == "web:9"
    assert _env(web)["D"] == "9-slim"  # .env lines interpolate with the caller's value, as the shell's wins


def test_without_dotenv_a_required_variable_is_one_line_exit_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = write_spec(tmp_path, {"compose.yml": NEEDS_ENV})
    with pytest.raises(SpecError, match=r"set IMAGE_TAG in \.env"):
        load_spec([root])
    assert main(["lint", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "message"), [
    ("JUST A LINE\n", "cannot read this .env line"),
    ("A='open\n", "unterminated ' quote"),
    ("A=${B:?B is required}\n", "cannot interpolate the .env value of A"),
])
def test_unreadable_dotenv_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".env").write_text("# header\n" + text)
    with pytest.raises(SpecError, match=message) as caught:
        read_dotenv(tmp_path / ".env", {})
    assert ".env:2" in str(caught.value)


def test_dotenv_quoted_values_may_span_lines(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('KEY="first\nsecond"\nNEXT=1\n')
    assert read_dotenv(tmp_path / ".env", {}) == {"KEY": "first\nsecond", "NEXT": "1"}


# --- extends --------------------------------------------------------------------------------------

def test_extends_gives_the_service_its_base_fields_and_no_false_cmp001(tmp_path: Path) -> None:
    files = {
        "compose.yml": {"services": {
            "base": {"image": "app:1", "environment": {"A": "1", "B": "base"}, "ports": ["7000:70"],
                     "deploy": {"resources": {"limits": {"memory": "1g"}}}},
            "worker": {"extends": "base", "environment": {"B": "worker"}, "ports": ["7001:71"]},
            "remote": {"extends": {"service": "common", "file": "common/services.yml"}},
        }},
        "common/services.yml": {"services": {"root": {"image": "root:1", "environment": {"R": "1"}},
                                             "common": {"extends": "root", "ports": ["9000:90"]}}},
    }
    topology = _load(tmp_path, files)
    services = _services(topology)
    assert set(services) == {"base", "worker", "remote"}  # the extends file is not a project of its own
    worker, remote = services["worker"], services["remote"]
    assert (worker.image, _env(worker)) == ("app:1", {"A": "1", "B": "worker"})
    assert [p.raw for p in worker.ports] == ["7000:70", "7001:71"]  # ports append
    assert worker.limits.memory_bytes == 1 << 30
    assert (remote.image, _env(remote), [p.raw for p in remote.ports]) == ("root:1", {"R": "1"}, ["9000:90"])
    assert _rules(topology, "CMP001") == []
    assert "common/services.yml" in " ".join(topology.files)


@pytest.mark.parametrize(("services", "message"), [
    ({"a": {"extends": "missing", "image": "x"}}, "extends service 'missing', which"),
    ({"a": {"extends": "b"}, "b": {"extends": "a", "image": "x"}}, "cycle of extends"),
    ({"a": {"extends": {"service": "b", "file": "nope.yml"}}}, "extends file"),
])
def test_unusable_extends_is_a_spec_error(tmp_path: Path, services: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, {"compose.yml": {"services": services}})


def test_a_service_named_by_a_number_is_named_by_its_text(tmp_path: Path) -> None:
    # YAML reads `0:` as the integer 0; Compose names that service "0". Found by test_fuzz_spec: the int key
    # made the extends lookup raise KeyError (a traceback from `aisys-verify lint`).
    topology = _load(tmp_path, {"compose.yml": {"services": {"web": {"image": "b"},
                                                              0: {"extends": "web", "environment": {"A": "1"}}}}})
    services = _services(topology)
    assert set(services) == {"web", "0"}
    assert (services["0"].image, _env(services["0"])) == ("b", {"A": "1"})


def test_extends_resolves_within_its_file_as_compose_does(tmp_path: Path) -> None:
    # compose resolves extends per file, before merging -f files: an overlay cannot extend a base file's service
    files = {"main/startup_config.yaml": {"agent_groups": {}},
             "main/docker-compose.yml": {"services": {"a": {"image": "a"}}}}
    root = write_spec(tmp_path, files)
    overlay = write_spec(tmp_path / "o", {"docker-compose.override.yml": {"services": {"b": {"extends": "a"}}}})
    with pytest.raises(SpecError, match=r"which .*docker-compose\.override\.yml does not define"):
        load_spec([root, overlay])


# --- include --------------------------------------------------------------------------------------

def test_include_merges_the_included_project_and_a_clash_through_it_is_found(tmp_path: Path) -> None:
    files = {
        "compose.yml": {"include": ["infra/cache.yml"],
                        "services": {"api": {"image": "api", "ports": ["6379:8080"]}}},
        "infra/cache.yml": {"services": {"cache": {"image": "redis:${REDIS_TAG:-7}", "ports": ["6379:6379"]}}},
        "infra/.env": "REDIS_TAG=6\n",
    }
    topology = _load(tmp_path, files)
    assert [p.name for p in topology.projects] == ["compose"]  # the included file is not read as a project too
    services = _services(topology)
    assert services["cache"].image == "redis:6"  # the included project's own .env
    [clash] = _rules(topology, "PORT002")
    assert "api publishes host port 6379/tcp, already published by cache" in clash


def test_included_services_may_be_overridden_and_the_callers_env_wins(tmp_path: Path) -> None:
    files = {
        "compose.yml": {"include": [{"path": "inc/x.yml"}],
                        "services": {"x": {"environment": {"MAIN": "1"}}}},
        ".env": "TAG=parent\n",
        "inc/x.yml": {"services": {"x": {"image": "x:${TAG}", "environment": {"INC": "1"}}}},
        "inc/.env": "TAG=included\n",
    }
    x = _services(_load(tmp_path, files))["x"]
    assert (x.image, _env(x)) == ("x:parent", {"INC": "1", "MAIN": "1"})  # as docker compose config gives


@pytest.mark.parametrize(("files", "error", "message"), [
    ({"compose.yml": {"include": ["gone.yml"], "services": {"a": {"image": "a"}}}}, SpecNotFound, "gone.yml"),
    ({"compose.yml": {"include": ["compose.yml"], "services": {"a": {"image": "a"}}}}, SpecError, "include cycle"),
])
def test_unusable_include_is_a_spec_error(tmp_path: Path, files: dict[str, Any], error: type[Exception],
                                          message: str) -> None:
    with pytest.raises(error, match=message):
        _load(tmp_path, files)


# --- profiles and what runs together ------------------------------------------------------------------

@pytest.mark.parametrize(("first", "second", "clash"), [
    (["cpu"], ["gpu"], False),  # alternatives: never up together
    ([], ["gpu"], True),  # a service without profiles always runs
    (["cpu", "dev"], ["gpu", "dev"], True),  # both run under --profile dev
    ([], [], True),
])
def test_profiles_decide_which_services_can_clash(tmp_path: Path, first: list[str], second: list[str],
                                                   clash: bool) -> None:
    def svc(profiles: list[str]) -> dict[str, Any]:
        return {"image": "app", "ports": ["8000:8000"], **({"profiles": profiles} if profiles else {})}

    topology = _load(tmp_path, {"compose.yml": {"services": {"app-cpu": svc(first), "app-gpu": svc(second)}}})
    assert bool(_rules(topology, "PORT002")) is clash
    assert _services(topology)["app-gpu"].profiles == tuple(second)


def test_services_on_different_hosts_never_clash(tmp_path: Path) -> None:
    files = {f"{h}/startup_config.yaml": {"agent_groups": {}} for h in ("one", "two")}
    files |= {f"{h}/docker-compose.yml": {"services": {f"s{h}": {"image": "a", "ports": ["8000:80"]}}}
              for h in ("one", "two")}
    assert _rules(_load(tmp_path, files), "PORT002") == []


# --- published port ranges and bounds ---------------------------------------------------------------

def _ports_spec(*ports: list[Any]) -> dict[str, Any]:
    return {"compose.yml": {"services": {f"s{i}": {"image": "a", "ports": p} for i, p in enumerate(ports)}}}


@pytest.mark.parametrize(("a", "b", "clash"), [
    (["8000-8010:8000-8010"], ["8005:80"], "s1 publishes host port 8005/tcp, already published by s0 (8000-8010)"),
    (["8005:80"], ["8000-8010:8000-8010"], "s1 publishes host port 8005/tcp, already published by s0"),
    (["8000-8010:8000-8010"], ["8010-8020:8010-8020"], "host port 8010/tcp"),
    ([{"target": 80, "published": 8005}], ["8000-8010:8000-8010"], "host port 8005/tcp"),
    (["8000-8010:8000-8010"], ["8011:80"], None),
    (["8000-8010:80"], ["8005:80"], None),  # a host range for one container port takes any free port of it
    (["127.0.0.1:8005:80"], ["127.0.0.2:8005:80"], None),
    (["127.0.0.1:8005:80"], ["8005:80"], "host port 8005/tcp"),  # no address: every address
    (["8005:80/udp"], ["8005:80"], None),
    (["0:80"], ["0:80"], None),  # 0: the engine picks a free port
])
def test_published_ranges_overlap(tmp_path: Path, a: list[Any], b: list[Any], clash: str | None) -> None:
    found = _rules(_load(tmp_path, _ports_spec(a, b)), "PORT002")
    assert len(found) == (clash is not None)
    assert clash is None or clash in found[0]


@pytest.mark.parametrize(("port", "problem"), [
    ("70000:80", "host port 70000 is outside 1-65535"),
    ({"target": 80, "published": 70000}, "host port 70000 is outside 1-65535"),
    ("80:70000", "container port 70000 is outside 1-65535"),
    ("8000-70000:8000-70000", "host port 70000 is outside 1-65535"),
    ("8010-8000:80", "host port range 8010-8000 ends before it starts"),
    ("8000-8010:9000-9005", "host ports 8000-8010 and container ports 9000-9005 differ in length"),
    ("8000:80-81", "differ in length"),
])
def test_published_ports_that_cannot_bind_are_port005(tmp_path: Path, port: Any, problem: str) -> None:
    topology = _load(tmp_path, _ports_spec([port], ["9999:9999"]))
    [message] = _rules(topology, "PORT005")
    assert problem in message
    assert _rules(topology, "PORT002") == []  # a port that cannot bind clashes with nothing


def test_port_findings_in_the_cli_and_rule_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = baseline()
    service(spec, "edge_group")["ports"] = ["9195-9205:9195-9205"]
    service(spec, "core_group")["ports"] = ["9200:9200", "65536:80"]
    root = write_spec(tmp_path, spec)
    assert main(["lint", str(root), "--select", "ports"]) == 1
    out = capsys.readouterr().out
    assert "PORT002 service edge_group publishes host port 9200/tcp, already published by core_group" in out
    assert "PORT005 service core_group publishes '65536:80': host port 65536 is outside 1-65535" in out
    assert "overlapping ranges" in RULES["PORT002"].summary
    assert main(["rules"]) == 0
    listed = capsys.readouterr().out
    assert "PORT002" in listed
    assert "PORT005" in listed
