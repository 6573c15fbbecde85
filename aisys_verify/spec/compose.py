"""Reader for docker compose files: several merged in order, as ``docker compose -f a -f b`` does.

Implements the parts of the compose specification the spec model needs, as ``docker compose config``
(Compose v2+) resolves them:

* interpolation (``${VAR:-default}`` and friends, ``$$``) with the spec's variables (the "shell") over
  the project's ``.env`` file (beside the first compose file);
* ``include`` (each included project interpolated with its own ``.env`` under the caller's variables;
  its services merged first, so the including file may override them);
* ``extends`` (``service`` in the same file or in ``file``, resolved per file, chains followed): the
  base's definition first, the extending service merged over it;
* ``profiles``, ``depends_on`` in short and long form, ``environment`` as list or map, published ports
  in short and long syntax (ranges kept as ranges), ``deploy.resources`` limits and device
  reservations, healthchecks, secrets and networks.

Merging follows the compose rules: mappings merge by key, ``environment``/``depends_on``/``secrets``/
``networks``/``profiles`` merge by name, ``ports`` append, ``healthcheck.test``/``command`` replace. A
service's definitions (its extends bases, an included file's, each file's) are applied in order as
layers, so extends, include and multi-file merge share one merge.

Reading one field's value (ports, healthcheck, limits, ...) is ``spec/compose_fields.py``; the ``.env``
format is ``spec/dotenv.py``; both are re-exported here (``read_dotenv``, ``parse_bytes``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import SpecError, SpecNotFound
from aisys_verify.spec.compose_fields import (
    parse_bytes,
    parse_cpus,
    read_depends_on,
    read_device,
    read_environment,
    read_healthcheck,
    read_port,
    read_secret_def,
)
from aisys_verify.spec.dotenv import read_dotenv
from aisys_verify.spec.expr import ExprError, interpolate
from aisys_verify.spec.model import (
    ComposeProject,
    ComposeService,
    DeviceRequest,
    EnvVar,
    Healthcheck,
    InterpolationRecord,
    Limits,
    PublishedPort,
    SecretDefinition,
    ServiceDependency,
    ServiceSecret,
)
from aisys_verify.spec.reader import Notes, expect_list, expect_map, expect_str
from aisys_verify.spec.source import Location, YamlDocument, YMap, YSeq, display_path, load_yaml

TOP_KEYS = ("version", "name", "services", "networks", "volumes", "secrets", "configs", "include")
SERVICE_KEYS = (
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "depends_on",
    "deploy", "healthcheck", "secrets", "configs", "networks", "network_mode", "volumes", "logging",
    "restart", "container_name", "labels", "profiles", "user", "working_dir", "ulimits", "cap_add",
    "cap_drop", "devices", "runtime", "extra_hosts", "hostname", "init", "stop_grace_period",
    "stop_signal", "tmpfs", "shm_size", "mem_limit", "cpus", "privileged", "security_opt", "pid",
    "ipc", "read_only", "stdin_open", "tty", "platform", "pull_policy", "sysctls", "gpus", "links",
    "external_links", "dns", "dns_search", "domainname", "group_add", "mac_address", "cgroup_parent",
    "oom_score_adj", "scale", "attach", "annotations", "develop", "post_start", "pre_stop",
    "extends", "use_api_socket", "models", "provider", "label_file", "storage_opt", "userns_mode",
    "uts", "volumes_from", "isolation", "mem_reservation", "memswap_limit", "cpu_shares", "cpuset",
)


def is_compose_file(data: Any) -> bool:
    """A mapping with ``services`` and nothing at the top that compose would not accept."""
    return (isinstance(data, Mapping) and isinstance(data.get("services"), Mapping)
            and all(str(k) in TOP_KEYS or str(k).startswith("x-") for k in data))


@dataclass
class _Service:
    name: str
    loc: Location
    image: str | None = None
    has_build: bool = False
    environment: dict[str, EnvVar] = field(default_factory=dict)
    depends_on: dict[str, ServiceDependency] = field(default_factory=dict)
    ports: list[PublishedPort] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    cpus: tuple[float, Location] | None = None
    memory: tuple[int, Location] | None = None
    devices: tuple[DeviceRequest, ...] = ()
    secrets: dict[str, ServiceSecret] = field(default_factory=dict)
    networks: dict[str, None] = field(default_factory=dict)
    network_mode: str | None = None
    defined_in: list[str] = field(default_factory=list)
    profiles: dict[str, None] = field(default_factory=dict)

    def freeze(self, project: str) -> ComposeService:
        return ComposeService(
            name=self.name, project=project, image=self.image, has_build=self.has_build,
            depends_on=tuple(self.depends_on.values()), environment=tuple(self.environment.values()),
            ports=tuple(self.ports), healthcheck=self.healthcheck,
            limits=Limits(self.cpus[0] if self.cpus else None, self.memory[0] if self.memory else None,
                          self.cpus[1] if self.cpus else None, self.memory[1] if self.memory else None),
            devices=self.devices, secrets=tuple(self.secrets.values()), networks=tuple(self.networks),
            network_mode=self.network_mode, defined_in=tuple(dict.fromkeys(self.defined_in)), loc=self.loc,
            profiles=tuple(self.profiles))


Loader = Callable[[Path], YamlDocument]


@dataclass(frozen=True)
class _Layer:
    """One definition of a service: its body after and before interpolation, and the file it is in."""

    body: YMap
    raw: Mapping[str, Any]
    path: str


@dataclass
class _File:
    """A compose file read for a project: its interpolated services and their raw (uninterpolated) bodies."""

    doc: YamlDocument
    root: YMap
    services: YMap
    raw_services: Mapping[str, Any]
    env: Mapping[str, str]


@dataclass
class _Project:
    name: str
    notes: Notes
    load: Loader
    services: dict[str, _Service] = field(default_factory=dict)
    secrets: dict[str, SecretDefinition] = field(default_factory=dict)
    networks: dict[str, None] = field(default_factory=dict)
    records: list[InterpolationRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    extended: dict[str, _File] = field(default_factory=dict)  # files read only as extends bases, by real path


def read_compose_project(docs: list[YamlDocument], name: str, host: str | None, env: Mapping[str, str],
                         notes: Notes, load: Loader = load_yaml) -> ComposeProject:
    """Merge ``docs`` in order into one compose project, as ``docker compose -f ... config`` does.

    ``env`` plays the shell's environment: it wins over the project's ``.env`` (beside the first file).
    ``load`` reads the files that ``include`` and ``extends`` name (the spec loader passes its own, which
    notes duplicate keys).
    """
    project = _Project(name, notes, load)
    project_env = _project_env(Path(docs[0].path).parent / ".env", env) if docs else dict(env)
    for doc in docs:
        _read_file(doc, project_env, project, ())
    first = docs[0].path if docs else name
    return ComposeProject(name, host, tuple(d.path for d in docs),
                          tuple(s.freeze(name) for s in project.services.values()),
                          tuple(project.secrets.values()), tuple(project.networks), tuple(project.records),
                          Location(first, 1, 1), tuple(dict.fromkeys(project.files)))


def referenced_files(doc: YamlDocument) -> set[str]:
    """Real paths of the files a compose file includes or extends from: parts of its project, not projects.

    Lenient on purpose (the loader asks before reading): malformed entries are left for the reader to report.
    """
    data = doc.data
    if not isinstance(data, Mapping):
        return set()
    base = Path(doc.path).parent
    found: set[str] = set()
    includes = data.get("include")
    for entry in includes if isinstance(includes, list) else []:
        paths = entry.get("path") if isinstance(entry, Mapping) else entry
        for rel in paths if isinstance(paths, list) else [paths]:
            if isinstance(rel, str):
                found.add(_real(str(base / rel)))
    services = data.get("services")
    for body in services.values() if isinstance(services, Mapping) else []:
        extends = body.get("extends") if isinstance(body, Mapping) else None
        rel = extends.get("file") if isinstance(extends, Mapping) else None
        if isinstance(rel, str) and "$" not in rel:
            found.add(_real(str(base / rel)))
    found.discard(_real(doc.path))  # a file naming itself is a cycle for the reader to report, not a part
    return found


def _project_env(dotenv: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The variables a project is interpolated with: its ``.env`` file, then the caller's (which win)."""
    return {**read_dotenv(dotenv, env), **env} if dotenv.is_file() else dict(env)


def _read_file(doc: YamlDocument, env: Mapping[str, str], project: _Project, including: tuple[str, ...]) -> None:
    """Read one compose file of the project: its includes first, then its own services over them."""
    project.files.append(doc.path)
    root = expect_map(doc.data, Location(doc.path, 1, 1), f"compose file '{doc.path}'")
    project.notes.unknown_keys(_only_known(root), TOP_KEYS, f"compose file {doc.path}")
    if root.get("include") is not None:
        _read_includes(root, doc.path, env, project, (*including, _real(doc.path)))
    file = _interpolated(doc, root, env, project)
    for svc_name in file.services:
        svc_loc = file.services.loc_of(svc_name)
        svc = project.services.setdefault(str(svc_name), _Service(str(svc_name), svc_loc))
        for layer in _layers(str(svc_name), file, project, ()):
            _merge_service(svc, layer.body, layer.raw, layer.path)
    for sec_name, body in expect_map(file.root.get("secrets"), file.root.loc_of("secrets"), "secrets",
                                     allow_none=True).items():
        project.secrets[str(sec_name)] = read_secret_def(str(sec_name), body, file.root["secrets"].loc_of(sec_name))
    for net in expect_map(file.root.get("networks"), file.root.loc_of("networks"), "networks", allow_none=True):
        project.networks[str(net)] = None


def _interpolated(doc: YamlDocument, root: YMap, env: Mapping[str, str], project: _Project) -> _File:
    raw_services = root.get("services")
    interpolated = _interpolate_tree(root, env, "", project.records)
    services = _named_by_text(expect_map(interpolated.get("services"), interpolated.loc_of("services"), "services",
                                         allow_none=True))
    if isinstance(raw_services, Mapping):
        raw_services = {str(k): v for k, v in raw_services.items()}
    for svc_name, body in services.items():
        svc_body = expect_map(body, services.loc_of(svc_name), f"service {svc_name}", allow_none=True)
        services[svc_name] = svc_body
        project.notes.unknown_keys(_only_known(svc_body), SERVICE_KEYS, f"service {svc_name}")
    return _File(doc, interpolated, services, raw_services if isinstance(raw_services, Mapping) else {}, env)


def _real(path: str) -> str:
    return os.path.realpath(path)


def _read_includes(root: YMap, path: str, env: Mapping[str, str], project: _Project,
                   including: tuple[str, ...]) -> None:
    """``include``: each entry is a compose project of its own (files, project directory, env files)."""
    entries = expect_list(root["include"], root.loc_of("include"), f"{path} include")
    base = Path(path).parent
    for i, entry in enumerate(entries):
        loc = entries.loc_of(i)
        if isinstance(entry, Mapping):
            body = expect_map(entry, loc, "include entry")
            project.notes.unknown_keys(body, ("path", "project_directory", "env_file"), "an include entry")
            paths = _str_list(body.get("path"), body.loc_of("path"), "include path")
            env_files = _str_list(body.get("env_file"), body.loc_of("env_file"), "include env_file")
            directory = body.get("project_directory")
        else:
            paths = _str_list(entry, loc, "include entry")
            env_files, directory = [], None
        if not paths:
            raise SpecError("an include entry names no file", loc, "write include: [path/to/compose.yml]")
        files = [base / p for p in paths]
        project_dir = base / str(directory) if directory is not None else files[0].parent
        # an included project reads its own .env (or env_file), under the including project's variables
        inc_env: dict[str, str] = {}
        for env_file in env_files or [str(project_dir / ".env")]:
            target = base / env_file if env_files else Path(env_file)
            if env_files and not target.is_file():
                raise SpecNotFound(f"include env_file '{env_file}' not found (looked in {display_path(target)})",
                                   loc, "fix the path; it is relative to the including file's folder")
            if target.is_file():
                inc_env.update(read_dotenv(target, {**inc_env, **env}))
        inc_env.update(env)
        for file in files:
            if not file.is_file():
                raise SpecNotFound(f"included file '{display_path(file)}' not found", loc,
                                   "fix the path; it is relative to the including file's folder")
            if _real(str(file)) in including:
                raise SpecError(f"include cycle: '{display_path(file)}' includes itself (through {path})", loc,
                                "remove one of the include entries")
            _read_file(project.load(file), inc_env, project, including)


def _named_by_text(services: YMap) -> YMap:
    """Services keyed by their names as text, as Compose reads them: a YAML key ``0:`` names service "0"
    (every later lookup is by that text; an int key left in place made ``extends`` lookups raise KeyError)."""
    if all(isinstance(k, str) for k in services):
        return services
    named = YMap(services.loc)
    for key, body in services.items():
        named[str(key)] = body
        named.key_locs[str(key)] = services.loc_of(key)
    return named


def _str_list(value: Any, loc: Location, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [expect_str(v, loc, what) or "" for v in value]
    return [expect_str(value, loc, what) or ""]


def _layers(name: str, file: _File, project: _Project, chain: tuple[tuple[str, str], ...]) -> list[_Layer]:
    """The definitions of service ``name`` of ``file``, base first: its ``extends`` chain, then its own."""
    body = file.services[name]
    raw = file.raw_services.get(name)
    own = _Layer(body, raw if isinstance(raw, Mapping) else {}, file.doc.path)
    extends = body.get("extends")
    if extends is None:
        return [own]
    loc = body.loc_of("extends")
    if isinstance(extends, Mapping):
        ext = expect_map(extends, loc, f"service {name} extends")
        project.notes.unknown_keys(ext, ("service", "file"), f"service {name} extends")
        base_name = expect_str(ext.get("service"), ext.loc_of("service"), f"service {name} extends.service")
        base_path = expect_str(ext.get("file"), ext.loc_of("file"), f"service {name} extends.file", allow_none=True)
    else:
        base_name, base_path = expect_str(extends, loc, f"service {name} extends"), None
    base_file = file if base_path is None else _extends_file(Path(file.doc.path).parent / base_path, loc, file.env,
                                                              project)
    if base_name not in base_file.services:
        # compose resolves extends within one file (or the named one), before merging the project's files
        raise SpecError(f"service {name} extends service '{base_name}', which {base_file.doc.path} does not define",
                        loc, "extends names a service of the same file, or of 'file:'")
    key = (_real(base_file.doc.path), str(base_name))
    if key in chain or key == (_real(file.doc.path), name):
        raise SpecError(f"service {name} extends itself through a cycle of extends", loc, "break the cycle")
    return [*_layers(str(base_name), base_file, project, (*chain, (_real(file.doc.path), name))), own]


def _extends_file(path: Path, loc: Location, env: Mapping[str, str], project: _Project) -> _File:
    real = _real(str(path))
    if real not in project.extended:
        if not path.is_file():
            raise SpecNotFound(f"extends file '{display_path(path)}' not found", loc,
                               "fix the path; it is relative to the extending file's folder")
        doc = project.load(path)
        root = expect_map(doc.data, Location(doc.path, 1, 1), f"compose file '{doc.path}'")
        project.files.append(doc.path)
        project.extended[real] = _interpolated(doc, root, env, project)
    return project.extended[real]


def _only_known(mapping: YMap) -> YMap:
    """The mapping without ``x-`` extension keys, which compose allows anywhere."""
    out = YMap(mapping.loc)
    for k, v in mapping.items():
        if not str(k).startswith("x-"):
            out[k] = v
            out.key_locs[k] = mapping.loc_of(k)
    return out


def _interpolate_tree(node: Any, env: Mapping[str, str], path: str, records: list[InterpolationRecord],
                      loc: Location | None = None) -> Any:
    if isinstance(node, YMap):
        out = YMap(node.loc)
        for k, v in node.items():
            if path == "" and str(k).startswith("x-"):  # extension fields are templates, not values
                out[k] = v
            else:
                out[k] = _interpolate_tree(v, env, f"{path}.{k}" if path else str(k), records, node.loc_of(k))
            out.key_locs[k] = node.loc_of(k)
        return out
    if isinstance(node, YSeq):
        seq = YSeq(node.loc)
        for i, v in enumerate(node):
            seq.append(_interpolate_tree(v, env, f"{path}[{i}]", records, node.loc_of(i)))
        seq.item_locs = list(node.item_locs)
        return seq
    if isinstance(node, str) and "$" in node:
        where = loc or Location("?")
        try:
            result = interpolate(node, env)
        except ExprError as exc:
            raise SpecError(f"compose interpolation failed in {path}: {exc}", where,
                            "see the compose spec's interpolation rules; $$ gives a literal $") from None
        records.append(InterpolationRecord(node, result.value, tuple(
            (s.name, s.start, s.end, s.value, s.defined, s.bare) for s in result.substitutions), path, where))
        return result.value
    return node


def _merge_service(svc: _Service, body: YMap, raw_body: Mapping[str, Any], path: str) -> None:
    """Merge one file's service body; ``raw_body`` is the same body before interpolation."""
    svc.defined_in.append(path)
    if "image" in body:
        svc.image = expect_str(body["image"], body.loc_of("image"), f"service {svc.name} image", allow_none=True)
    if body.get("build") is not None:
        svc.has_build = True
    if "profiles" in body:
        profiles = expect_list(body["profiles"], body.loc_of("profiles"), f"service {svc.name} profiles")
        for i, profile in enumerate(profiles):  # merged as a union, as compose merges them
            svc.profiles[expect_str(profile, profiles.loc_of(i), f"service {svc.name} profile") or ""] = None
    if "network_mode" in body:
        svc.network_mode = expect_str(body["network_mode"], body.loc_of("network_mode"), "network_mode")
    if "environment" in body:
        raw_vars = {v.name: v.raw for v in read_environment(raw_body.get("environment"), body.loc, svc.name)}
        for var in read_environment(body["environment"], body.loc_of("environment"), svc.name):
            svc.environment[var.name] = EnvVar(var.name, var.value, raw_vars.get(var.name, var.raw), var.loc)
    if "depends_on" in body:
        svc.depends_on.update(read_depends_on(body["depends_on"], body.loc_of("depends_on"), svc.name))
    if "ports" in body:
        ports = expect_list(body["ports"], body.loc_of("ports"), f"service {svc.name} ports")
        known = {p.raw for p in svc.ports}
        for i, item in enumerate(ports):
            port = read_port(item, ports.loc_of(i), svc.name)
            if port.raw not in known:
                svc.ports.append(port)
    if "healthcheck" in body:
        svc.healthcheck = read_healthcheck(body["healthcheck"], body.loc_of("healthcheck"), svc.name,
                                            svc.healthcheck)
    if "secrets" in body:
        items = expect_list(body["secrets"], body.loc_of("secrets"), f"service {svc.name} secrets")
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                source = expect_str(item.get("source"), items.loc_of(i), "secret source") or ""
                target = str(item.get("target") or source)
            else:
                source = target = expect_str(item, items.loc_of(i), "secret name") or ""
            svc.secrets[source] = ServiceSecret(source, target, items.loc_of(i))
    if "networks" in body:
        nets = body["networks"]
        names = list(nets) if isinstance(nets, (list, Mapping)) else []
        if not isinstance(nets, (list, Mapping)):
            raise SpecError(f"service {svc.name} networks must be a list or mapping", body.loc_of("networks"))
        for net in names:
            svc.networks[str(net)] = None
    deploy = body.get("deploy")
    if deploy is not None:
        _merge_deploy(svc, expect_map(deploy, body.loc_of("deploy"), f"service {svc.name} deploy"))


def _merge_deploy(svc: _Service, deploy: YMap) -> None:
    resources = deploy.get("resources")
    if resources is None:
        return
    resources = expect_map(resources, deploy.loc_of("resources"), f"service {svc.name} deploy.resources")
    limits = resources.get("limits")
    if isinstance(limits, YMap):
        if "cpus" in limits:
            svc.cpus = (parse_cpus(limits["cpus"], limits.loc_of("cpus"), svc.name), limits.loc_of("cpus"))
        if "memory" in limits:
            svc.memory = (parse_bytes(limits["memory"], limits.loc_of("memory"), f"service {svc.name} memory"),
                          limits.loc_of("memory"))
    reservations = resources.get("reservations")
    if isinstance(reservations, YMap) and "devices" in reservations:
        devices = expect_list(reservations["devices"], reservations.loc_of("devices"), "devices")
        svc.devices = tuple(read_device(d, devices.loc_of(i), svc.name) for i, d in enumerate(devices))
