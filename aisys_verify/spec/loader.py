"""Turn spec paths into one Topology.

``load_spec(paths)`` accepts directories and files, in any mix:

* a directory with an ``aisys-spec.yaml`` manifest is read as the manifest says;
* any other directory is searched for YAML files, classified by content:
  startup configs (a host each, named after their folder), compose files (a
  host's base file when beside its startup config, an overlay when it only
  overrides services, otherwise a standalone project), SLO configs and host
  facts files. Files that are none of these are noted and ignored.

Unusable input raises SpecError (file:line and what to do); recoverable
problems become findings in ``Topology.notes``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aisys_verify.errors import SpecError, SpecNotFound
from aisys_verify.findings import Severity
from aisys_verify.spec.compose import is_compose_file, read_compose_project, referenced_files
from aisys_verify.spec.facts import FACT_KEYS, is_facts_file, read_facts
from aisys_verify.spec.model import (
    Agent,
    ComposeProject,
    Edge,
    EdgeKind,
    GpuPlan,
    Host,
    HostFacts,
    RecoveryObjectives,
    SloConfig,
    Store,
    Topology,
)
from aisys_verify.spec.reader import Notes, expect_list, expect_map, expect_str
from aisys_verify.spec.recovery import read_recovery_objectives
from aisys_verify.spec.slo import is_slo_config, read_slo_config
from aisys_verify.spec.source import Location, YamlDocument, YMap, display_path, load_yaml
from aisys_verify.spec.startup import StartupConfig, is_startup_config, read_startup_config

MANIFEST = "aisys-spec.yaml"
MANIFEST_KIND = "aisys-verify/spec"
MANIFEST_KEYS = ("kind", "name", "hosts", "slo_config", "projects", "description", "recovery_objectives")
HOST_KEYS = ("startup_config", "compose", "redis_port", *FACT_KEYS)
DEFAULT_REDIS_PORT = 6379
_GENERIC_DIRS = {"config", "configs", "conf", "etc"}
STARTUP_STEM = "startup_config"  # a file so named is meant as a startup config, even when it is not one


@dataclass
class _HostDraft:
    name: str
    loc: Location
    startup: StartupConfig | None = None
    compose: list[YamlDocument] = field(default_factory=list)
    facts: HostFacts | None = None
    plan: GpuPlan | None = None
    redis_port: int = DEFAULT_REDIS_PORT


@dataclass
class _Draft:
    env: Mapping[str, str]
    notes: Notes = field(default_factory=Notes)
    hosts: dict[str, _HostDraft] = field(default_factory=dict)
    loose_compose: list[YamlDocument] = field(default_factory=list)
    projects: dict[str, list[YamlDocument]] = field(default_factory=dict)
    facts_docs: list[YamlDocument] = field(default_factory=list)
    slo: SloConfig | None = None
    recovery: RecoveryObjectives | None = None
    files: list[str] = field(default_factory=list)
    empty_startups: list[tuple[str, Location]] = field(default_factory=list)  # (why it has no agents, where)

    def no_agents(self, reason: str, loc: Location, key: str) -> None:
        """A startup config without agents: an error finding, and the reason if the whole spec has none."""
        self.empty_startups.append((reason, loc))
        self.notes.add("SPEC006", Severity.ERROR, f"startup config {reason}: it defines no agents", loc,
                       why="the host then runs nothing: the agents it should run are missing from the topology, "
                           "so no check about them can fail",
                       fix=f"declare the host's agents under {key}, or remove the file")

    def host(self, name: str, loc: Location) -> _HostDraft:
        return self.hosts.setdefault(name, _HostDraft(name, loc))

    def load(self, path: str | os.PathLike[str]) -> YamlDocument:
        doc = load_yaml(path)
        for dup in doc.duplicates:
            self.notes.add("SPEC002", Severity.WARNING, f"key '{dup.key}' is given twice (first at {dup.first})",
                           dup.second, why="YAML keeps only the last value, silently dropping the first",
                           fix="remove or merge one of the two entries")
        return doc


def load_spec(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
              env: Mapping[str, str] | None = None) -> Topology:
    """Load and cross-link every spec file under ``paths`` (one path or several) into one immutable Topology."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]  # a lone str would otherwise be read one character at a time
    if not paths:
        raise SpecError("no spec path given", hint="name a spec folder or files, e.g. ../shared/reference-system")
    draft = _Draft(dict(env or {}))
    for path in paths:
        p = Path(path)
        if not p.exists():
            raise SpecNotFound(f"no such file or directory '{display_path(p)}'", hint="check the path")
        if p.is_dir() and (p / MANIFEST).is_file():
            _read_manifest(draft.load(p / MANIFEST), p, draft)
        elif p.is_dir():
            for file in _yaml_files(p):
                _classify(draft.load(file), draft, discovered=True)
        else:
            doc = draft.load(p)
            if isinstance(doc.data, Mapping) and doc.data.get("kind") == MANIFEST_KIND:
                _read_manifest(doc, p.parent, draft)
            else:
                _classify(doc, draft, discovered=False)
    for doc in draft.facts_docs:
        _apply_facts(doc, draft)
    topology = _assemble(draft)
    # a spec with nothing in it would lint clean and stand up nothing: unusable input, not a pass. Compose
    # files or SLOs alone still have something to check (a standalone project, an SLO config being edited)
    if not topology.agents and not any(p.services for p in topology.projects) and not (
            topology.slo_config and topology.slo_config.slos):
        raise _nothing_to_verify(paths, draft)
    return topology


def _nothing_to_verify(paths: Sequence[str | os.PathLike[str]], draft: _Draft) -> SpecError:
    """Unusable input: no agent (nor compose service, nor SLO) anywhere, which would otherwise lint clean."""
    shown = ", ".join(f"'{display_path(p)}'" for p in paths)
    if draft.empty_startups:  # name the startup config that should have held them, and why it does not
        reason, loc = draft.empty_startups[0]
        return SpecError(f"the spec {shown} defines no agents: the startup config {reason}", loc,
                         "declare the agents under agent_groups (or pc2_services)")
    seen = len(draft.files) + sum(1 for f in draft.notes.items if f.rule == "SPEC003")
    what = (f"none of its {seen} YAML file(s) is a startup config (agent_groups or pc2_services)" if seen
            else "it holds no YAML files")
    return SpecError(f"the spec {shown} defines no agents: {what}", Location(display_path(paths[0])),
                     "name the folder that holds the hosts' startup_config.yaml files")


def _yaml_files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
        if len(Path(dirpath).relative_to(root).parts) > 4:
            dirnames.clear()
            continue
        found += [Path(dirpath, f) for f in sorted(filenames) if f.endswith((".yml", ".yaml"))]
    return found


def _host_name_for(path: str) -> str:
    parent = Path(path).resolve().parent
    if parent.name.lower() in _GENERIC_DIRS:
        parent = parent.parent
    return parent.name.lower() or "host"


def _classify(doc: YamlDocument, draft: _Draft, discovered: bool) -> None:
    draft.files.append(doc.path)
    data = doc.data
    if is_startup_config(data):
        name = _host_name_for(doc.path)
        host = draft.host(name, Location(doc.path, 1, 1))
        if host.startup is not None:
            raise SpecError(f"two startup configs for host '{name}' ({host.startup.path} and {doc.path})",
                            Location(doc.path, 1, 1), "give each host its own folder, or use an aisys-spec.yaml")
        host.startup = _read_startup(doc, name, draft)
    elif is_compose_file(data):
        draft.loose_compose.append(doc)
    elif is_slo_config(data):
        if draft.slo is not None:
            raise SpecError(f"two SLO configs ({draft.slo.path} and {doc.path})", Location(doc.path, 1, 1),
                            "pass one SLO config")
        draft.slo = read_slo_config(doc, draft.notes)
    elif is_facts_file(data):
        draft.facts_docs.append(doc)
    elif discovered and Path(doc.path).stem == STARTUP_STEM:
        reason, loc = _why_no_agents(doc)
        draft.no_agents(reason, loc, "agent_groups (or pc2_services)")
    elif discovered:
        draft.notes.add("SPEC003", Severity.NOTE, "not a spec file aisys-verify reads; ignored",
                        Location(doc.path, 1, 1),
                        why="only startup configs, compose files, SLO configs and host facts are part of the model",
                        fix="nothing to do if this file is not part of the deployment spec")
        draft.files.pop()
    else:
        raise SpecError(f"'{doc.path}' is not a startup config, compose file, SLO config or host facts file",
                        Location(doc.path, 1, 1),
                        "startup configs have agent_groups or pc2_services; compose files have services; "
                        "SLO configs have slos; facts files have 'kind: aisys-verify/host-facts'")


def _read_startup(doc: YamlDocument, host: str, draft: _Draft) -> StartupConfig:
    startup = read_startup_config(doc, host, draft.env, draft.notes)
    if not startup.agents:
        key = "agent_groups" if "agent_groups" in doc.data else "pc2_services"
        draft.no_agents(f"of host {host} has an empty {key}", doc.data.loc_of(key), key)
    return startup


def _why_no_agents(doc: YamlDocument) -> tuple[str, Location]:
    """Why a file named like a startup config is not one: empty, or its agents key misspelt."""
    start = Location(doc.path, 1, 1)
    if doc.data is None:
        return "is empty", start
    if not isinstance(doc.data, YMap):
        return "is not a mapping", start
    for key in doc.data:
        close = difflib.get_close_matches(str(key), ("agent_groups", "pc2_services"), n=1, cutoff=0.75)
        if close:
            return f"has no agent_groups or pc2_services (did you mean '{close[0]}' for '{key}'?)", doc.data.loc_of(key)
    return "has no agent_groups or pc2_services", start


def _read_manifest(doc: YamlDocument, base: Path, draft: _Draft) -> None:
    root = expect_map(doc.data, Location(doc.path, 1, 1), f"manifest '{doc.path}'")
    draft.notes.unknown_keys(root, MANIFEST_KEYS, "a spec manifest")
    draft.files.append(doc.path)

    def load_rel(value: object, loc: Location, what: str) -> YamlDocument:
        rel = expect_str(value, loc, what) or ""
        target = base / rel
        if not target.is_file():
            raise SpecNotFound(f"{what} '{rel}' not found (looked in {display_path(target)})", loc,
                               "fix the path; it is relative to the manifest's folder")
        return draft.load(target)

    hosts = expect_map(root.get("hosts"), root.loc_of("hosts"), "hosts")
    for name, body in hosts.items():
        block = expect_map(body, hosts.loc_of(name), f"host {name}")
        draft.notes.unknown_keys(block, HOST_KEYS, f"host {name}")
        host = draft.host(str(name), hosts.loc_of(name))
        if "startup_config" in block:
            sdoc = load_rel(block["startup_config"], block.loc_of("startup_config"), f"host {name} startup_config")
            draft.files.append(sdoc.path)
            host.startup = _read_startup(sdoc, str(name), draft)
        files = expect_list(block.get("compose"), block.loc_of("compose"), f"host {name} compose")
        for i, rel in enumerate(files):
            cdoc = load_rel(rel, files.loc_of(i), f"host {name} compose file")
            draft.files.append(cdoc.path)
            host.compose.append(cdoc)
        if "redis_port" in block:
            from aisys_verify.spec.startup import read_port

            host.redis_port = read_port(block["redis_port"], block.loc_of("redis_port"), "redis_port",
                                        draft.env).number
        host.facts, host.plan = read_facts(block, str(name), draft.notes)
    if "slo_config" in root:
        sdoc = load_rel(root["slo_config"], root.loc_of("slo_config"), "slo_config")
        draft.files.append(sdoc.path)
        draft.slo = read_slo_config(sdoc, draft.notes)
    if "recovery_objectives" in root:
        draft.recovery = read_recovery_objectives(root["recovery_objectives"], root.loc_of("recovery_objectives"),
                                                  draft.notes)
    projects = expect_map(root.get("projects"), root.loc_of("projects"), "projects", allow_none=True)
    for pname, body in projects.items():
        files = expect_list(body, projects.loc_of(pname), f"project {pname}")
        draft.projects[str(pname)] = [load_rel(rel, files.loc_of(i), f"project {pname} file")
                                      for i, rel in enumerate(files)]
        draft.files += [d.path for d in draft.projects[str(pname)]]


def _apply_facts(doc: YamlDocument, draft: _Draft) -> None:
    root = expect_map(doc.data, Location(doc.path, 1, 1), "host facts")
    draft.notes.unknown_keys(root, ("kind", "hosts", "description"), "a host facts file")
    hosts = expect_map(root.get("hosts"), root.loc_of("hosts"), "hosts")
    for name, body in hosts.items():
        if name not in draft.hosts:
            known = ", ".join(sorted(draft.hosts)) or "none"
            raise SpecError(f"facts for unknown host '{name}'", hosts.loc_of(name), f"hosts in the spec: {known}")
        block = expect_map(body, hosts.loc_of(name), f"host {name}")
        draft.notes.unknown_keys(block, FACT_KEYS, f"host {name} facts")
        facts, plan = read_facts(block, str(name), draft.notes)
        host = draft.hosts[str(name)]
        host.facts = facts or host.facts
        host.plan = plan or host.plan


def _attach_loose_compose(draft: _Draft) -> None:
    """Base files sit beside a host's startup config; overlays attach to the host whose services they override."""
    startup_dirs = {str(Path(h.startup.path).parent): h for h in draft.hosts.values() if h.startup}
    # a file that another compose file includes, or extends services from, is part of that file's project
    # (compose reads it through the reference), not a project or overlay of its own
    referenced = {path for docs in [draft.loose_compose, *(h.compose for h in draft.hosts.values())]
                  for doc in docs for path in referenced_files(doc)}
    rest = []
    for doc in [d for d in draft.loose_compose if os.path.realpath(d.path) not in referenced]:
        host = startup_dirs.get(str(Path(doc.path).parent))
        if host is not None:
            host.compose.append(doc)
        else:
            rest.append(doc)
    for doc in rest:
        services = doc.data.get("services") or {}
        overlay = all(isinstance(s, Mapping) and "image" not in s and "build" not in s for s in services.values())
        best, overlap = None, 0
        for candidate in draft.hosts.values() if overlay else ():
            names = {n for c in candidate.compose if isinstance(c.data, Mapping)
                     for n in (c.data.get("services") or {})}
            hits = len(names & set(services))
            if hits > overlap:
                best, overlap = candidate, hits
        if best is not None:
            best.compose.append(doc)
        else:
            draft.projects[Path(doc.path).stem] = [doc]


def _assemble(draft: _Draft) -> Topology:
    # base files first, so overlays (compared against them) find the services they override
    _attach_loose_compose(draft)
    projects: list[ComposeProject] = []
    hosts: list[Host] = []
    for h in draft.hosts.values():
        if h.compose:
            projects.append(read_compose_project(h.compose, h.name, h.name, draft.env, draft.notes, draft.load))
        s = h.startup
        hosts.append(Host(h.name, s.path if s else None, s.agents if s else (), s.groups if s else (),
                          s.named_ports if s else (), s.port_ranges if s else (), h.facts,
                          s.gpu_model_hint if s else None, h.loc))
    for name, docs in draft.projects.items():
        projects.append(read_compose_project(docs, name, None, draft.env, draft.notes, draft.load))
    edges, stores = _edges(hosts, projects, draft)
    notes = list(draft.notes.items)
    return Topology(tuple(hosts), tuple(projects), tuple(edges), tuple(stores),
                    tuple(h.plan for h in draft.hosts.values() if h.plan), draft.slo, dict(draft.env),
                    tuple(dict.fromkeys([*draft.files, *(f for p in projects for f in p.read)])), tuple(notes),
                    draft.recovery)


def _edges(hosts: list[Host], projects: list[ComposeProject], draft: _Draft) -> tuple[list[Edge], list[Store]]:
    by_name: dict[str, list[Agent]] = {}
    for host in hosts:
        for agent in host.agents:
            by_name.setdefault(agent.name, []).append(agent)
    edges: list[Edge] = []
    stores: list[Store] = []
    for host in hosts:
        store = Store("redis", host.name, draft.hosts[host.name].redis_port, host.loc)
        if host.agents:
            stores.append(store)
        for agent in host.agents:
            edges.append(Edge(agent.key, store.key, EdgeKind.STORE, agent.loc))
            for dep in agent.dependencies:
                local = [a for a in by_name.get(dep.name, ()) if a.host == host.name]
                remote = [a for a in by_name.get(dep.name, ()) if a.host != host.name]
                if local:
                    edges.append(Edge(agent.key, local[0].key, EdgeKind.AGENT, dep.loc))
                elif len(remote) == 1:
                    edges.append(Edge(agent.key, remote[0].key, EdgeKind.CROSS_HOST, dep.loc))
    for project in projects:
        if project.host is None:
            continue
        for service in project.services:
            for sdep in service.depends_on:
                edges.append(Edge(f"{project.host}/{service.name}", f"{project.host}/{sdep.service}",
                                  EdgeKind.GROUP, sdep.loc))
    return edges, stores
