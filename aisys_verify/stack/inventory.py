"""The inventory of a deployment that already runs: where each host of the spec lives, and what we may do to it.

YAML (docs/external.md)::

    hosts:
      mainpc:
        address: 10.0.0.5            # where tests reach its agents (required)
        vars: {PORT_OFFSET: 0}       # spec variables the host runs with (default: the run's --aisys-var)
        redis: redis://10.0.0.5:6379/0
        docker: {context: mainpc, project: mainpc}   # or host: ssh://..., containers: {group: name}
        processes: {memory_stack: 4242}              # a process deployment: signal these pids
    toxiproxy: {api: 10.0.0.9:8474, proxies: auto}   # or a list of {caller, callee, socket, proxy}
    traces: /var/log/aisys/traces                    # JSON-lines spans of every agent, if they write them
    prometheus: http://10.0.0.9:9090                 # a Prometheus scraping the agents (the SLO file's PromQL)

Read with the spec loader's bounded YAML reader (line numbers kept); every problem is one InventoryError
naming the file:line, the key (``hosts.pc2.address``) and a fix. Nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from aisys_verify.errors import InventoryError, SpecError

if TYPE_CHECKING:
    from aisys_verify.spec.model import Topology

DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
SOCKETS = ("main", "health", "redis")
HOST_KEYS = ("address", "vars", "redis", "docker", "processes")
DOCKER_KEYS = ("context", "host", "containers", "project")
TOP_KEYS = ("hosts", "toxiproxy", "traces", "prometheus")
PROXY_KEYS = ("caller", "callee", "socket", "proxy", "cross_host")
CHANGE_ME = "CHANGE-ME"


@dataclass(frozen=True)
class DockerAccess:
    """How to reach a host's containers: a docker context or a DOCKER_HOST url, and which container is which group."""

    context: str | None = None
    host: str | None = None
    containers: Mapping[str, str] = field(default_factory=dict)  # group -> container name or id
    project: str | None = None  # find containers by compose labels (project, then group label or service name)

    def cli_args(self) -> tuple[str, ...]:
        """Arguments before a docker sub-command (``--context X`` or ``--host URL``)."""
        if self.context:
            return ("--context", self.context)
        return ("--host", self.host) if self.host else ()

    def shown(self) -> str:
        return f"context {self.context}" if self.context else f"DOCKER_HOST {self.host}" if self.host else "default"


@dataclass(frozen=True)
class HostEntry:
    name: str
    address: str
    vars: Mapping[str, str] = field(default_factory=dict)
    redis: tuple[str, int] | None = None
    docker: DockerAccess | None = None
    processes: Mapping[str, int] = field(default_factory=dict)  # group -> pid
    line: int | None = None


@dataclass(frozen=True)
class ProxyEntry:
    """An edge that already routes through Toxiproxy: the caller dials ``proxy``, which forwards to the callee."""

    caller: str  # agent key host/Agent
    callee: str  # agent key, or "<host>/redis"
    socket: str  # main | health | redis
    proxy: str  # the proxy's name on the Toxiproxy API
    cross_host: bool
    line: int | None = None


@dataclass(frozen=True)
class ToxiproxyEntry:
    api: tuple[str, int]
    proxies: tuple[ProxyEntry, ...] = ()
    auto: bool = False  # every proxy on the API named <caller>--<callee>__<socket> (stack/interpose.py)
    line: int | None = None


@dataclass(frozen=True)
class Inventory:
    path: str
    hosts: Mapping[str, HostEntry]
    toxiproxy: ToxiproxyEntry | None = None
    traces: Path | None = None
    prometheus: str | None = None  # the deployment's Prometheus (http(s) URL): PromQL is read there

    def error(self, key: str, message: str, line: int | None = None) -> InventoryError:
        return InventoryError(f"{key}: {message}", path=self.path, key=key, line=line)

    def host_line(self, host: str) -> int | None:
        return self.hosts[host].line if host in self.hosts else None


T = TypeVar("T")

# --- reading -----------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, shown: str) -> None:
        self.shown = shown

    def fail(self, key: str, message: str, where: Any = None, sub: Any = None) -> InventoryError:
        line = None
        loc = getattr(where, "loc", None)
        if where is not None and sub is not None and hasattr(where, "loc_of"):
            loc = where.loc_of(sub)
        if loc is not None:
            line = loc.line or None
        return InventoryError(f"{key}: {message}", path=self.shown, key=key, line=line)

    def mapping(self, value: Any, key: str, parent: Any = None, sub: Any = None) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}", parent if sub is not None else value, sub)
        return value

    def text(self, value: Any, key: str, parent: Any, sub: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            raise self.fail(key, f"expected a non-empty text value, got {_kind(value)}", parent, sub)
        return str(value).strip()

    def entries(self, data: Mapping[Any, Any], name: str, key: str,
                read: Callable[[Any, str, Mapping[Any, Any], Any], T]) -> dict[str, T]:
        """``data[name]``, a mapping (absent or null: empty), as {entry: read(value, its key path, the mapping,
        entry)}: the one reader of vars:, processes: and containers:."""
        if data.get(name) is None:
            return {}
        found = self.mapping(data[name], f"{key}.{name}", data, name)
        return {str(entry): read(value, f"{key}.{name}.{entry}", found, entry) for entry, value in found.items()}

    def known(self, data: Mapping[Any, Any], allowed: Sequence[str], key: str) -> None:
        for name in data:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else str(name),
                                f"unknown key (known: {', '.join(allowed)})", data, name)


def _kind(value: Any) -> str:
    """What a wrong value is, for messages (bounded: a value may be long)."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def parse_address(text: str, key: str, reader: _Reader, parent: Any, sub: Any, default_port: int | None = None
                  ) -> tuple[str, int]:
    """host:port (or http://host:port) as a pair; a missing port is an error unless there is a default."""
    raw = text if "://" in text else f"//{text}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise reader.fail(key, f"{text!r} is not host:port ({exc})", parent, sub) from None
    if not parts.hostname or (port is None and default_port is None):
        raise reader.fail(key, f"{text!r} is not host:port", parent, sub)
    return parts.hostname, port if port is not None else int(default_port or 0)


def parse_inventory(text: str, shown: str, topology: Topology | None = None) -> Inventory:
    """Parse inventory text (shown in messages as ``shown``); with a topology, check it against the spec."""
    from aisys_verify.spec.source import parse_yaml

    try:
        doc = parse_yaml(text, shown)
    except SpecError as exc:
        line = exc.location.line if exc.location and exc.location.line else None
        raise InventoryError(f"not a readable inventory: {exc.message}{' (' + exc.hint + ')' if exc.hint else ''}",
                             path=shown, line=line) from None
    reader = _Reader(shown)
    if doc.duplicates:
        dup = doc.duplicates[0]
        raise InventoryError(f"{dup.key}: given twice (first at line {dup.first.line}); keep one",
                             path=shown, key=str(dup.key), line=dup.second.line or None)
    data = doc.data
    if not isinstance(data, Mapping):
        raise InventoryError(f"expected a mapping with 'hosts:' at the top, got {_kind(data)} "
                             "('aisys-verify inventory init FILE' writes a template)", path=shown, line=1)
    reader.known(data, TOP_KEYS, "")
    if "hosts" not in data:
        raise reader.fail("hosts", "missing: give each host of the spec its address", data)
    hosts_data = reader.mapping(data["hosts"], "hosts", data, "hosts")
    hosts: dict[str, HostEntry] = {}
    for name, entry in hosts_data.items():
        hosts[str(name)] = _host(reader, str(name), entry, hosts_data)
    toxiproxy = None
    if data.get("toxiproxy") is not None:
        toxiproxy = _toxiproxy(reader, data["toxiproxy"], data)
    traces = None
    if data.get("traces") is not None:
        traces = Path(reader.text(data["traces"], "traces", data, "traces"))
    prometheus = None
    if data.get("prometheus") is not None:
        prometheus = reader.text(data["prometheus"], "prometheus", data, "prometheus").rstrip("/")
        if urlsplit(prometheus).scheme not in ("http", "https") or not urlsplit(prometheus).hostname:
            raise reader.fail("prometheus", f"expected the URL of a Prometheus (http://HOST:9090), got {prometheus!r}",
                              data, "prometheus")
    inventory = Inventory(shown, hosts, toxiproxy, traces, prometheus)
    if topology is not None:
        check_against_spec(inventory, topology, reader, hosts_data)
    return inventory


def _host(reader: _Reader, name: str, entry: Any, parent: Any) -> HostEntry:
    key = f"hosts.{name}"
    data = reader.mapping(entry, key, parent, name)
    reader.known(data, HOST_KEYS, key)
    line = getattr(getattr(data, "loc", None), "line", None) or None
    if "address" not in data or data["address"] is None:
        raise reader.fail(f"{key}.address", "missing: where tests reach this host's agents (a name or an IP)",
                          parent, name)
    address = reader.text(data["address"], f"{key}.address", data, "address")
    if address == CHANGE_ME:
        raise reader.fail(f"{key}.address", f"still {CHANGE_ME}: put this host's name or IP address here", data,
                          "address")
    if any(c in address for c in "/ ") or (":" in address.strip("[]") and address.count(":") == 1):
        raise reader.fail(f"{key}.address", f"{address!r}: give a host name or IP only (ports come from the spec)",
                          data, "address")

    def variable(value: Any, where: str, vmap: Mapping[Any, Any], var: Any) -> str:
        if not str(var).isidentifier():
            raise reader.fail(where, "not a variable name", vmap, var)
        return reader.text(value, where, vmap, var)

    variables = reader.entries(data, "vars", key, variable)
    redis = None
    if data.get("redis") is not None:
        url = reader.text(data["redis"], f"{key}.redis", data, "redis")
        if "://" in url and not url.startswith(("redis://", "rediss://")):
            raise reader.fail(f"{key}.redis", f"{url!r}: expected redis://HOST:PORT[/DB]", data, "redis")
        redis = parse_address(url, f"{key}.redis", reader, data, "redis", default_port=6379)
    docker = None
    if data.get("docker") is not None:
        docker = _docker(reader, f"{key}.docker", data["docker"], data)

    def process_id(pid: Any, where: str, pmap: Mapping[Any, Any], group: Any) -> int:
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
            raise reader.fail(where, f"expected a process id, got {_kind(pid)}", pmap, group)
        return pid

    processes = reader.entries(data, "processes", key, process_id)
    return HostEntry(name, address, variables, redis, docker, processes, line)


def _docker(reader: _Reader, key: str, value: Any, parent: Any) -> DockerAccess:
    data = reader.mapping(value, key, parent, "docker")
    reader.known(data, DOCKER_KEYS, key)
    context = reader.text(data["context"], f"{key}.context", data, "context") if data.get("context") else None
    host = reader.text(data["host"], f"{key}.host", data, "host") if data.get("host") else None
    if context and host:
        raise reader.fail(key, "give context or host, not both", parent, "docker")
    if host and not host.startswith(DOCKER_SCHEMES):
        raise reader.fail(f"{key}.host", f"{host!r}: expected a DOCKER_HOST url ({', '.join(DOCKER_SCHEMES)}...)",
                          data, "host")
    containers = reader.entries(data, "containers", key, reader.text)
    project = reader.text(data["project"], f"{key}.project", data, "project") if data.get("project") else None
    if not containers and not project:
        raise reader.fail(key, "say which container is which group: containers: {GROUP: CONTAINER} or "
                               "project: COMPOSE_PROJECT", parent, "docker")
    return DockerAccess(context, host, containers, project)


def _toxiproxy(reader: _Reader, value: Any, parent: Any) -> ToxiproxyEntry:
    data = reader.mapping(value, "toxiproxy", parent, "toxiproxy")
    reader.known(data, ("api", "proxies"), "toxiproxy")
    if data.get("api") is None:
        raise reader.fail("toxiproxy.api", "missing: the Toxiproxy HTTP API as host:port (e.g. 10.0.0.9:8474)",
                          parent, "toxiproxy")
    api = parse_address(reader.text(data["api"], "toxiproxy.api", data, "api"), "toxiproxy.api", reader, data, "api",
                        default_port=8474)
    line = getattr(getattr(data, "loc", None), "line", None) or None
    proxies = data.get("proxies")
    if proxies is None or proxies == "auto":
        return ToxiproxyEntry(api, (), proxies == "auto", line)
    if not isinstance(proxies, list):
        raise reader.fail("toxiproxy.proxies", f"expected 'auto' or a list of proxies, got {_kind(proxies)}", data,
                          "proxies")
    entries = []
    for index, item in enumerate(proxies):
        key = f"toxiproxy.proxies[{index}]"
        pdata = reader.mapping(item, key, proxies, index)
        reader.known(pdata, PROXY_KEYS, key)
        fields = {}
        for name in ("caller", "callee", "socket", "proxy"):
            if pdata.get(name) is None:
                raise reader.fail(f"{key}.{name}", "missing", proxies, index)
            fields[name] = reader.text(pdata[name], f"{key}.{name}", pdata, name)
        if fields["socket"] not in SOCKETS:
            raise reader.fail(f"{key}.socket", f"{fields['socket']!r}: use one of {', '.join(SOCKETS)}", pdata,
                              "socket")
        cross = pdata.get("cross_host")
        if cross is not None and not isinstance(cross, bool):
            raise reader.fail(f"{key}.cross_host", f"expected true or false, got {_kind(cross)}", pdata, "cross_host")
        line = getattr(getattr(pdata, "loc", None), "line", None) or None
        derived = fields["caller"].split("/", 1)[0] != fields["callee"].split("/", 1)[0]
        entries.append(ProxyEntry(fields["caller"], fields["callee"], fields["socket"], fields["proxy"],
                                  derived if cross is None else cross, line))
    return ToxiproxyEntry(api, tuple(entries), False, line)


def check_against_spec(inventory: Inventory, topology: Topology, reader: _Reader | None = None,
                       hosts_data: Any = None) -> None:
    """Every spec host present, no host the spec lacks, groups and proxy ends the spec knows."""
    from aisys_verify.plan.groups import groups_to_run

    reader = reader or _Reader(inventory.path)
    names = [h.name for h in topology.hosts]
    for name, entry in inventory.hosts.items():
        if name not in names:
            raise reader.fail(f"hosts.{name}", f"unknown host: the spec's hosts are {', '.join(names)}",
                              hosts_data, name) if hosts_data is not None else inventory.error(
                f"hosts.{name}", f"unknown host: the spec's hosts are {', '.join(names)}", entry.line)
        groups = set(groups_to_run(topology, name))
        named = [("processes", g) for g in entry.processes] + [
            ("docker.containers", g) for g in (entry.docker.containers if entry.docker else {})]
        for where, group in named:
            if group not in groups:
                raise inventory.error(f"hosts.{name}.{where}.{group}", f"no docker group {group!r} on {name} "
                                      f"(groups: {', '.join(sorted(groups))})", entry.line)
    missing = [n for n in names if n not in inventory.hosts]
    if missing:
        raise inventory.error(f"hosts.{missing[0]}", f"missing: the spec has host {missing[0]!r}; add it with its "
                              "address ('aisys-verify inventory init' writes every host)",
                              getattr(getattr(hosts_data, "loc", None), "line", None) or None)
    keys = {a.key for a in topology.agents} | {f"{n}/redis" for n in names}
    for index, proxy in enumerate(inventory.toxiproxy.proxies if inventory.toxiproxy else ()):
        for side in ("caller", "callee"):
            value = getattr(proxy, side)
            if value not in keys:
                raise inventory.error(f"toxiproxy.proxies[{index}].{side}", f"{value!r} is no agent of the spec "
                                      "(write HOST/AGENT, or HOST/redis for a callee)", proxy.line)


def load_inventory(path: str | Path, topology: Topology | None = None) -> Inventory:
    """Read and check an inventory file; InventoryError (naming file:line and key) for anything wrong."""
    from aisys_verify.spec.source import display_path

    shown = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError("no such file ('aisys-verify inventory init FILE' writes a template)",
                             path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read it: {getattr(exc, 'strerror', None) or exc}", path=shown) from None
    return parse_inventory(text, shown, topology)


def proxy_entries_from_names(names: Sequence[str], topology: Topology) -> list[ProxyEntry]:
    """Proxies named by the framework's scheme ``<caller>--<callee>__<socket>`` (agent keys with '/' as '.'),
    and ``<caller>--<host>.redis`` for Redis; other names are not ours to interpret and are left out."""
    by_dotted = {a.key.replace("/", ".", 1): a.key for a in topology.agents}
    by_dotted |= {f"{h.name}.redis": f"{h.name}/redis" for h in topology.hosts}
    result = []
    for name in names:
        ends, _, socket = name.partition("__")
        socket = socket or "redis"
        caller, _, callee = ends.partition("--")
        if caller in by_dotted and callee in by_dotted and socket in SOCKETS:
            a, b = by_dotted[caller], by_dotted[callee]
            result.append(ProxyEntry(a, b, socket, name, a.split("/", 1)[0] != b.split("/", 1)[0]))
    return result


# --- writing -----------------------------------------------------------------------------------------


def template(topology: Topology, spec_vars: Mapping[str, str] | None = None) -> str:
    """A commented inventory for ``topology``: every host with ``address: CHANGE-ME``, the optional keys shown."""
    from aisys_verify.plan.groups import groups_to_run

    offset = (spec_vars or {}).get("PORT_OFFSET", "0")
    lines = ["# Inventory of a running deployment (docs/external.md). Use it with:",
             "#   aisys-verify inventory check THIS-FILE SPEC",
             "#   pytest -m \"e2e or conformance\" --aisys-backend=external --aisys-inventory=THIS-FILE",
             "hosts:"]
    for host in topology.hosts:
        groups = groups_to_run(topology, host.name)
        example = groups[0] if groups else "GROUP"
        lines += [f"  {host.name}:",
                  f"    address: {CHANGE_ME}              # where tests reach {host.name}'s agents: a name or an IP",
                  "    vars:                            # the spec variables this host runs with",
                  f"      PORT_OFFSET: {offset}",
                  f"    # redis: redis://{CHANGE_ME}:6379/0     # its Redis, to read readiness keys",
                  "    # docker:                          # kill / pause / restart its groups through Docker",
                  "    #   context: NAME                  # a docker context, or host: ssh://user@host | tcp://...",
                  f"    #   project: {host.name}              # find containers by compose labels, or name them:",
                  f"    #   containers: {{{example}: CONTAINER}}",
                  f"    # processes: {{{example}: PID}}       # a process deployment: kill / pause by pid",
                  f"    # groups: {', '.join(groups)}"]
    lines += ["# toxiproxy:                            # edges that already route through Toxiproxy (network faults)",
              "#   api: HOST:8474",
              "#   proxies: auto                       # or a list of {caller: HOST/AGENT, callee: HOST/AGENT, "
              "socket: main|health|redis, proxy: NAME}",
              "# traces: /path/to/spans                # a folder of JSON-lines spans every agent writes",
              "# prometheus: http://HOST:9090          # a Prometheus scraping the agents (the SLO file's PromQL)", ""]
    return "\n".join(lines)


def _docker_target() -> dict[str, str]:
    """The docker engine this machine's CLI talks to now: DOCKER_HOST, else the current context."""
    import os
    import subprocess

    if os.environ.get("DOCKER_HOST"):
        return {"host": os.environ["DOCKER_HOST"]}
    if os.environ.get("DOCKER_CONTEXT"):
        return {"context": os.environ["DOCKER_CONTEXT"]}
    from aisys_verify.stack.images import docker_cli

    try:
        shown = subprocess.run([docker_cli(), "context", "show"], capture_output=True, text=True, timeout=20,
                               check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        shown = ""
    return {"context": shown or "default"}


def describe_stack(stack: Any) -> dict[str, Any]:
    """The inventory of a stack this framework runs (LocalStack or ComposeStack), as YAML-ready data."""
    hosts: dict[str, Any] = {}
    addresses = getattr(stack, "host_addresses", None) or stack.plan.host_addresses
    docker = _docker_target() if getattr(stack, "services", None) else None
    for host in stack.topology.hosts:
        entry: dict[str, Any] = {"address": addresses[host.name]}
        if stack.spec_vars:
            entry["vars"] = dict(stack.spec_vars)
        redis = stack.redis_address(host.name) if hasattr(stack, "redis_address") else stack.plan.redis[host.name]
        entry["redis"] = f"redis://{redis[0]}:{redis[1]}/0"
        if docker is not None:
            entry["docker"] = {**docker, "containers": {g: stack.group_container(h, g)
                                                        for (h, g) in stack.services if h == host.name}}
        pids = {g: pid for (h, g), pid in getattr(stack, "group_pids", {}).items() if h == host.name}
        if pids:
            entry["processes"] = pids
        hosts[host.name] = entry
    data: dict[str, Any] = {"hosts": hosts}
    api = getattr(getattr(stack, "record", None), "toxiproxy_api", None)
    if api and stack.proxies:
        data["toxiproxy"] = {"api": api, "proxies": [
            {"caller": p.caller, "callee": p.callee, "socket": p.socket, "proxy": p.proxy.name}
            for p in stack.proxies]}
    if stack.trace_dir is not None:
        data["traces"] = str(stack.trace_dir)
    observability = getattr(stack, "observability", None)
    if observability is not None:
        data["prometheus"] = observability.prometheus_url
    return data


def write_inventory(stack: Any, path: Path) -> Path:
    """Write the inventory of a running stack (``aisys-verify up``), so it can be verified as an external one."""
    import yaml

    header = (f"# Inventory of stack {stack.stack_id} ({', '.join(map(str, stack.spec))}), written by "
              "'aisys-verify up'.\n# Verify it as a running deployment: pytest --aisys-backend=external "
              f"--aisys-inventory={path}\n")
    path.write_text(header + yaml.safe_dump(describe_stack(stack), sort_keys=False, width=200), encoding="utf-8")
    return path
