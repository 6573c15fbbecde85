"""Reader for docker compose files: several merged in order, as ``docker compose -f a -f b`` does.

Implements the parts of the compose specification the spec model needs:
interpolation (``${VAR:-default}`` and friends, ``$$``), ``depends_on`` in short
and long form, ``environment`` as list or map, published ports in short and long
syntax, ``deploy.resources`` limits and device reservations, healthchecks,
secrets and networks. Merging follows the compose rules: mappings merge by key,
``environment``/``depends_on``/``secrets``/``networks`` merge by name, ``ports``
append, ``healthcheck.test``/``command`` replace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.errors import SpecError
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
from aisys_verify.spec.reader import Notes, expect_list, expect_map, expect_number, expect_str, type_name
from aisys_verify.spec.source import Location, YamlDocument, YMap, YSeq

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

    def freeze(self, project: str) -> ComposeService:
        return ComposeService(
            name=self.name, project=project, image=self.image, has_build=self.has_build,
            depends_on=tuple(self.depends_on.values()), environment=tuple(self.environment.values()),
            ports=tuple(self.ports), healthcheck=self.healthcheck,
            limits=Limits(self.cpus[0] if self.cpus else None, self.memory[0] if self.memory else None,
                          self.cpus[1] if self.cpus else None, self.memory[1] if self.memory else None),
            devices=self.devices, secrets=tuple(self.secrets.values()), networks=tuple(self.networks),
            network_mode=self.network_mode, defined_in=tuple(self.defined_in), loc=self.loc)


def read_compose_project(docs: list[YamlDocument], name: str, host: str | None, env: Mapping[str, str],
                         notes: Notes) -> ComposeProject:
    """Merge ``docs`` in order into one compose project."""
    services: dict[str, _Service] = {}
    secrets: dict[str, SecretDefinition] = {}
    networks: dict[str, None] = {}
    records: list[InterpolationRecord] = []
    for doc in docs:
        root = expect_map(doc.data, Location(doc.path, 1, 1), f"compose file '{doc.path}'")
        notes.unknown_keys(_only_known(root), TOP_KEYS, f"compose file {doc.path}")
        raw_services = root.get("services")
        root = _interpolate_tree(root, env, "", records)
        svc_map = expect_map(root.get("services"), root.loc_of("services"), "services", allow_none=True)
        for svc_name, body in svc_map.items():
            svc_loc = svc_map.loc_of(svc_name)
            svc_body = expect_map(body, svc_loc, f"service {svc_name}", allow_none=True)
            notes.unknown_keys(_only_known(svc_body), SERVICE_KEYS, f"service {svc_name}")
            svc = services.setdefault(str(svc_name), _Service(str(svc_name), svc_loc))
            raw_body = raw_services.get(svc_name) if isinstance(raw_services, Mapping) else None
            _merge_service(svc, svc_body, raw_body if isinstance(raw_body, Mapping) else {}, doc.path)
        for sec_name, body in expect_map(root.get("secrets"), root.loc_of("secrets"), "secrets",
                                         allow_none=True).items():
            secrets[str(sec_name)] = _read_secret_def(str(sec_name), body, root["secrets"].loc_of(sec_name))
        for net in expect_map(root.get("networks"), root.loc_of("networks"), "networks", allow_none=True):
            networks[str(net)] = None
    first = docs[0].path if docs else name
    return ComposeProject(name, host, tuple(d.path for d in docs), tuple(s.freeze(name) for s in services.values()),
                          tuple(secrets.values()), tuple(networks), tuple(records), Location(first, 1, 1))


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
    if "network_mode" in body:
        svc.network_mode = expect_str(body["network_mode"], body.loc_of("network_mode"), "network_mode")
    if "environment" in body:
        raw_vars = {v.name: v.raw for v in _read_environment(raw_body.get("environment"), body.loc, svc.name)}
        for var in _read_environment(body["environment"], body.loc_of("environment"), svc.name):
            svc.environment[var.name] = EnvVar(var.name, var.value, raw_vars.get(var.name, var.raw), var.loc)
    if "depends_on" in body:
        svc.depends_on.update(_read_depends_on(body["depends_on"], body.loc_of("depends_on"), svc.name))
    if "ports" in body:
        ports = expect_list(body["ports"], body.loc_of("ports"), f"service {svc.name} ports")
        known = {p.raw for p in svc.ports}
        for i, item in enumerate(ports):
            port = _read_port(item, ports.loc_of(i), svc.name)
            if port.raw not in known:
                svc.ports.append(port)
    if "healthcheck" in body:
        svc.healthcheck = _read_healthcheck(body["healthcheck"], body.loc_of("healthcheck"), svc.name,
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


def _read_environment(node: Any, loc: Location, svc: str) -> list[EnvVar]:
    result = []
    if isinstance(node, YMap):
        for key, value in node.items():
            text = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            result.append(EnvVar(str(key), text, text, node.loc_of(key)))
    elif isinstance(node, YSeq):
        for i, item in enumerate(node):
            entry = expect_str(item, node.loc_of(i), f"service {svc} environment entry") or ""
            name, sep, value = entry.partition("=")
            result.append(EnvVar(name.strip(), value if sep else None, value if sep else None, node.loc_of(i)))
    elif node is not None:
        raise SpecError(f"service {svc} environment must be a list or mapping, got {type_name(node)}", loc)
    return result


def _read_depends_on(node: Any, loc: Location, svc: str) -> dict[str, ServiceDependency]:
    result: dict[str, ServiceDependency] = {}
    if isinstance(node, YSeq):
        for i, item in enumerate(node):
            name = expect_str(item, node.loc_of(i), f"service {svc} depends_on entry") or ""
            result[name] = ServiceDependency(name, "service_started", node.loc_of(i))
    elif isinstance(node, YMap):
        for name, body in node.items():
            condition = "service_started"
            if isinstance(body, Mapping):
                condition = str(body.get("condition", condition))
            elif body is not None:
                raise SpecError(f"service {svc} depends_on.{name} must be a mapping (long form)", node.loc_of(name))
            result[str(name)] = ServiceDependency(str(name), condition, node.loc_of(name))
    elif node is not None:
        raise SpecError(f"service {svc} depends_on must be a list or mapping, got {type_name(node)}", loc)
    return result


_PORT_SHORT = re.compile(
    r"^(?:(?:(?P<ip>\[[^\]]+\]|[\d.]+|[A-Za-z0-9_.-]+):)?(?P<host>\d{1,5}(?:-\d{1,5})?)?:)?"
    r"(?P<container>\d{1,5}(?:-\d{1,5})?)"
    r"(?:/(?P<proto>tcp|udp|sctp))?$")


def _read_port(item: Any, loc: Location, svc: str) -> PublishedPort:
    if isinstance(item, Mapping):
        target = item.get("target")
        published = item.get("published")
        if not isinstance(target, int):
            raise SpecError(f"service {svc} port needs an integer 'target'", loc)
        text = "" if published is None else str(published)
        if isinstance(published, bool) or not re.fullmatch(r"(\d{1,5}(-\d{1,5})?)?", text):
            raise SpecError(f"service {svc} port 'published' must be a port or range, got {published!r}", loc)
        host_port = int(text.split("-")[0]) if text else None
        return PublishedPort(item.get("host_ip"), host_port, target, str(item.get("protocol", "tcp")),
                             f"{item.get('host_ip', '')}:{text}:{target}", loc)
    short = str(item) if isinstance(item, (int, str)) and not isinstance(item, bool) else None
    match = _PORT_SHORT.match(short or "")
    if not short or not match:
        raise SpecError(f"service {svc} has an unreadable port {item!r}", loc,
                        "use HOST:CONTAINER, IP:HOST:CONTAINER or the long form")
    host = match.group("host")
    return PublishedPort(match.group("ip"), int(host.split("-")[0]) if host else None,
                         int(match.group("container").split("-")[0]), match.group("proto") or "tcp", short, loc)


def _read_healthcheck(node: Any, loc: Location, svc: str, previous: Healthcheck | None) -> Healthcheck:
    body = expect_map(node, loc, f"service {svc} healthcheck")
    test = body.get("test", list(previous.test) if previous else [])
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list):
        raise SpecError(f"service {svc} healthcheck.test must be a list or a string", body.loc_of("test"))
    disabled = bool(body.get("disable")) or (bool(test) and test[0] == "NONE")
    return Healthcheck(tuple(str(t) for t in test), tuple(str(t) for t in test), disabled, body.loc_of("test"))


def _merge_deploy(svc: _Service, deploy: YMap) -> None:
    resources = deploy.get("resources")
    if resources is None:
        return
    resources = expect_map(resources, deploy.loc_of("resources"), f"service {svc.name} deploy.resources")
    limits = resources.get("limits")
    if isinstance(limits, YMap):
        if "cpus" in limits:
            svc.cpus = (_parse_cpus(limits["cpus"], limits.loc_of("cpus"), svc.name), limits.loc_of("cpus"))
        if "memory" in limits:
            svc.memory = (parse_bytes(limits["memory"], limits.loc_of("memory"), f"service {svc.name} memory"),
                          limits.loc_of("memory"))
    reservations = resources.get("reservations")
    if isinstance(reservations, YMap) and "devices" in reservations:
        devices = expect_list(reservations["devices"], reservations.loc_of("devices"), "devices")
        svc.devices = tuple(_read_device(d, devices.loc_of(i), svc.name) for i, d in enumerate(devices))


def _parse_cpus(value: Any, loc: Location, svc: str) -> float:
    cpus = expect_number(value, loc, f"service {svc} cpus")
    if cpus is None or cpus < 0:
        raise SpecError(f"service {svc} cpus must be a number like \"2.0\" (not negative), got {value!r}", loc)
    return cpus


_BYTES = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,9})?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(value: Any, loc: Location, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    match = _BYTES.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise SpecError(f"{what} must be a size like 512m or 2g, got {value!r}", loc)
    return int(float(match.group(1)) * _FACTORS[match.group(2).lower()])


def _read_device(node: Any, loc: Location, svc: str) -> DeviceRequest:
    body = expect_map(node, loc, f"service {svc} device reservation")
    ids = body.get("device_ids") or []
    count = body.get("count")
    caps = body.get("capabilities") or []
    if not isinstance(ids, list) or not isinstance(caps, list):
        raise SpecError(f"service {svc} device_ids and capabilities must be lists", loc)
    return DeviceRequest(body.get("driver"), tuple(str(i) for i in ids),
                         -1 if count == "all" else count if isinstance(count, int) else None,
                         tuple(str(c) for c in caps), loc)


def _read_secret_def(name: str, node: Any, loc: Location) -> SecretDefinition:
    body = expect_map(node, loc, f"secret {name}", allow_none=True)
    external = body.get("external")
    external_name = body.get("name") if external else None
    if isinstance(external, Mapping):  # the old form: external: {name: ...}
        external_name = external.get("name", external_name)
    return SecretDefinition(name, bool(external),
                            expect_str(external_name, loc, f"secret {name} name", allow_none=True),
                            expect_str(body.get("file"), body.loc_of("file"), f"secret {name} file", allow_none=True),
                            expect_str(body.get("environment"), body.loc_of("environment"),
                                       f"secret {name} environment", allow_none=True), loc)

