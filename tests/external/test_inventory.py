"""The inventory parser: every bad inventory is one InventoryError naming the file:line, the key and a fix;
nothing else ever escapes it (Hypothesis); the template and the framework's proxy names read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.errors import InventoryError
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack.inventory import load_inventory, parse_inventory, proxy_entries_from_names, template

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
hosts:
  mainpc:
    address: 10.0.0.5
    vars: {PORT_OFFSET: 100}
    redis: redis://10.0.0.5:6479/0
    docker: {context: mainpc, project: mainpc, containers: {infra_core: core-1}}
  pc2:
    address: pc2.lan
    processes: {memory_stack: 4242}
toxiproxy:
  api: 10.0.0.9:8474
  proxies:
    - {caller: mainpc/MemoryClient, callee: pc2/MemoryOrchestratorService, socket: main, proxy: mc-mos}
traces: /var/spans
"""


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_spec([ROOT / "system"], {})


def test_a_good_inventory_reads_back(topology: Topology) -> None:
    inv = parse_inventory(GOOD, "inv.yaml", topology)
    main, pc2 = inv.hosts["mainpc"], inv.hosts["pc2"]
    assert (main.address, dict(main.vars), main.redis) == ("10.0.0.5", {"PORT_OFFSET": "100"}, ("10.0.0.5", 6479))
    assert main.docker is not None and main.docker.cli_args() == ("--context", "mainpc")
    assert dict(main.docker.containers) == {"infra_core": "core-1"} and main.docker.project == "mainpc"
    assert pc2.address == "pc2.lan" and dict(pc2.processes) == {"memory_stack": 4242} and pc2.docker is None
    assert inv.toxiproxy is not None and inv.toxiproxy.api == ("10.0.0.9", 8474)
    (proxy,) = inv.toxiproxy.proxies
    assert (proxy.caller, proxy.callee, proxy.socket, proxy.proxy, proxy.cross_host) == (
        "mainpc/MemoryClient", "pc2/MemoryOrchestratorService", "main", "mc-mos", True)
    assert inv.traces == Path("/var/spans")


BAD = [  # (inventory text, line, key, words the message must hold)
    ("hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\n  pc3: {address: c}\n", 4, "hosts.pc3",
     ["unknown host", "mainpc, pc2"]),
    ("hosts:\n  mainpc: {address: a}\n", 2, "hosts.pc2", ["missing", "inventory init"]),
    ("hosts:\n  mainpc: {vars: {PORT_OFFSET: 1}}\n  pc2: {address: b}\n", 2, "hosts.mainpc.address",
     ["missing", "name or an IP"]),
    ("hosts:\n  mainpc: {address: CHANGE-ME}\n  pc2: {address: b}\n", 2, "hosts.mainpc.address", ["CHANGE-ME"]),
    ("hosts:\n  mainpc: {address: 'a:80'}\n  pc2: {address: b}\n", 2, "hosts.mainpc.address", ["host name or IP"]),
    ("hosts:\n  mainpc: {address: a, adress: b}\n  pc2: {address: b}\n", 2, "hosts.mainpc.adress",
     ["unknown key", "address"]),
    ("hosts:\n  mainpc:\n    address: a\n    redis: http://a\n  pc2: {address: b}\n", 4, "hosts.mainpc.redis",
     ["redis://"]),
    ("hosts:\n  mainpc:\n    address: a\n    docker: {context: x}\n  pc2: {address: b}\n", 4,
     "hosts.mainpc.docker", ["containers:", "project:"]),
    ("hosts:\n  mainpc:\n    address: a\n    docker: {host: 'http://x', project: p}\n  pc2: {address: b}\n", 4,
     "hosts.mainpc.docker.host", ["DOCKER_HOST url"]),
    ("hosts:\n  mainpc:\n    address: a\n    processes: {memory_stack: many}\n  pc2: {address: b}\n", 4,
     "hosts.mainpc.processes.memory_stack", ["process id"]),
    ("hosts:\n  mainpc:\n    address: a\n    processes: {no_group: 5}\n  pc2: {address: b}\n", 3,
     "hosts.mainpc.processes.no_group", ["no docker group", "infra_core"]),
    ("hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\ntoxiproxy: {proxies: auto}\n", 4, "toxiproxy.api",
     ["missing", "8474"]),
    ("hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\ntoxiproxy:\n  api: t:8474\n  proxies:\n"
     "    - {caller: mainpc/Nobody, callee: pc2/redis, socket: redis, proxy: p}\n", 7,
     "toxiproxy.proxies[0].caller", ["no agent of the spec"]),
    ("hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\ntoxiproxy:\n  api: t:8474\n  proxies:\n"
     "    - {caller: mainpc/MemoryClient, callee: pc2/redis, socket: http, proxy: p}\n", 7,
     "toxiproxy.proxies[0].socket", ["main, health, redis"]),
    ("hosts:\n  mainpc: {address: a}\n  mainpc: {address: b}\n", 3, "mainpc", ["given twice"]),
    ("hosts: [mainpc, pc2]\n", 1, "hosts", ["expected a mapping"]),
    ("hosts:\n  mainpc: {address: [a\n", 3, "", ["not a readable inventory", "malformed YAML"]),
    ("- just a list\n", 1, "", ["expected a mapping with 'hosts:'"]),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD, ids=[b[2] or b[3][0] for b in BAD])
def test_each_bad_inventory_names_file_line_key_and_a_fix(topology: Topology, text: str, line: int, key: str,
                                                          words: list[str]) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "deploy/inv.yaml", topology)
    exc = caught.value
    assert str(exc).startswith(f"deploy/inv.yaml:{line}: "), str(exc)
    assert exc.path == "deploy/inv.yaml" and exc.line == line and exc.key == key, (exc.key, exc.line)
    for word in words:
        assert word in str(exc), str(exc)
    assert "\n" not in str(exc)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"inv\.yaml: no such file .*inventory init"):
        load_inventory(tmp_path / "inv.yaml")


def test_bad_variables_are_an_inventory_error_naming_the_host(topology: Topology, tmp_path: Path) -> None:
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.external import ExternalStack

    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  mainpc: {address: a, vars: {PORT_OFFSET: lots}}\n  pc2: {address: b}\n")
    with pytest.raises(InventoryError) as caught:
        ExternalStack([str(ROOT / "system")], {}, StackOptions(inventory=path), progress=lambda _: None)
    assert caught.value.key == "hosts.mainpc.vars" and caught.value.line == 2, str(caught.value)


def test_the_template_lists_every_host_and_refuses_to_pass_unfilled(topology: Topology) -> None:
    text = template(topology)
    for host in topology.hosts:
        assert f"  {host.name}:\n    address: CHANGE-ME" in text
    with pytest.raises(InventoryError, match=r"hosts\.mainpc\.address: still CHANGE-ME"):
        parse_inventory(text, "t.yaml", topology)
    filled = text.replace("address: CHANGE-ME", "address: 127.0.0.2", 1).replace("address: CHANGE-ME",
                                                                                "address: 127.0.0.3", 1)
    inv = parse_inventory(filled, "t.yaml", topology)
    assert sorted(inv.hosts) == ["mainpc", "pc2"] and inv.hosts["pc2"].vars == {"PORT_OFFSET": "0"}


def test_proxy_names_of_the_framework_read_back(topology: Topology) -> None:
    names = ["mainpc.MemoryClient--pc2.MemoryOrchestratorService__main", "pc2.CacheManager--pc2.redis",
             "someone-elses-proxy", "mainpc.Nobody--pc2.CacheManager__main"]
    entries = proxy_entries_from_names(names, topology)
    assert [(e.caller, e.callee, e.socket, e.cross_host) for e in entries] == [
        ("mainpc/MemoryClient", "pc2/MemoryOrchestratorService", "main", True),
        ("pc2/CacheManager", "pc2/redis", "redis", False)]


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12),
                    st.sampled_from(["CHANGE-ME", "mainpc", "pc2", "redis://a:1/0", "auto", "a:80", "unix:///x"]))
KEYS = st.sampled_from(["hosts", "mainpc", "pc2", "pc3", "address", "vars", "redis", "docker", "processes",
                        "context", "host", "containers", "project", "toxiproxy", "api", "proxies", "caller",
                        "callee", "socket", "proxy", "cross_host", "traces", "PORT_OFFSET", "memory_stack"])
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_arbitrary_documents_only_ever_raise_inventory_error(topology: Topology, tree: object) -> None:
    import yaml

    text = yaml.safe_dump({"hosts": tree} if isinstance(tree, dict) and len(str(tree)) % 2 else tree)
    _parses_or_names_the_file(text, topology)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("hosts:mainpc2 address{}[]-,&*!|>'\"\n\t#%@`")), max_size=120))
def test_arbitrary_text_only_ever_raises_inventory_error(topology: Topology, text: str) -> None:
    _parses_or_names_the_file(text, topology)


def _parses_or_names_the_file(text: str, topology: Topology) -> None:
    """Either an inventory comes back or an InventoryError naming the file; anything else fails the test."""
    message = ""
    try:
        parse_inventory(text, "fuzz.yaml", topology)
    except InventoryError as exc:
        message = str(exc)
    assert not message or message.startswith("fuzz.yaml"), message


def _external(tmp_path: Path, text: str) -> object:
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.external import ExternalStack

    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    return ExternalStack([str(ROOT / "system")], {}, StackOptions(inventory=path), progress=lambda _: None)


def test_capabilities_and_ports_come_from_the_inventory(tmp_path: Path, topology: Topology) -> None:
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.external import ExternalStack

    stack = _external(tmp_path, GOOD)
    assert isinstance(stack, ExternalStack)
    # pc2 has only pids: kill and pause, no restart; an explicit cross-host proxy: network and partition
    assert stack.capabilities == frozenset({"kill", "pause", "network", "partition", "traces"})
    own = topology.find_agent("ServiceRegistry", "mainpc")
    assert own is not None
    shifted = stack.endpoint("ServiceRegistry", "mainpc")  # mainpc runs with PORT_OFFSET 100, pc2 without
    assert (shifted.address, shifted.port) == ("10.0.0.5", own.port.number + 100)
    assert stack.endpoint("UnifiedWebAgent").address == "pc2.lan" and stack.redis_address("mainpc") == (
        "10.0.0.5", 6479)
    assert ExternalStack.interposable(topology, StackOptions(inventory=tmp_path / "inv.yaml")) == frozenset(
        {("mainpc/MemoryClient", "pc2/MemoryOrchestratorService")})

    bare = _external(tmp_path, "hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\n")
    assert isinstance(bare, ExternalStack) and bare.capabilities == frozenset()
    assert ExternalStack.interposable(topology, StackOptions(inventory=tmp_path / "inv.yaml")) == frozenset()
    from aisys_verify.errors import CapabilityMissing

    with pytest.raises(CapabilityMissing) as caught:
        bare.toxiproxy_client  # noqa: B018
    assert caught.value.capability == "network"
    with pytest.raises(CapabilityMissing) as killing:
        bare.kill_group("pc2", "memory_stack")
    assert killing.value.capability == "kill" and "hosts.pc2.docker" in str(killing.value)
