"""``toxiproxy: {proxies: auto}``: the proxies on the API that follow the framework's naming become the
stack's proxied edges (the fault matrix's interposable pairs); a declared proxy the API lacks is named."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.errors import InventoryError
from aisys_verify.spec.loader import load_spec
from aisys_verify.stack.base import StackOptions
from aisys_verify.stack.external import ExternalStack
from aisys_verify.stack.toxiproxy import ProxySpec, ToxiproxyServer

pytestmark = pytest.mark.integration  # a real toxiproxy-server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[str]:
    address = f"127.{random.randint(10, 250)}.{random.randint(1, 250)}.1"
    server = ToxiproxyServer(address, 8474, tmp_path / "toxiproxy.log")
    try:
        server.start()
    except Exception as exc:  # not installed here: nothing to test against
        pytest.skip(f"no toxiproxy-server: {exc}")
    try:
        server.client.populate([
            ProxySpec("mainpc.MemoryClient--pc2.MemoryOrchestratorService__main", f"{address}:10001", "x:1"),
            ProxySpec("pc2.CacheManager--pc2.redis", f"{address}:10002", "x:2"),
            ProxySpec("someone-elses-proxy", f"{address}:10003", "x:3")])
        yield f"{address}:8474"
    finally:
        server.stop()


def _stack(tmp_path: Path, toxiproxy: str, proxies: str) -> ExternalStack:
    path = tmp_path / "inv.yaml"
    path.write_text(f"hosts:\n  mainpc: {{address: a}}\n  pc2: {{address: b}}\ntoxiproxy:\n  api: {toxiproxy}\n"
                    f"  proxies: {proxies}\n", encoding="utf-8")
    return ExternalStack([str(ROOT / "system")], {}, StackOptions(inventory=path), progress=lambda _: None)


def test_auto_reads_the_framework_named_proxies(tmp_path: Path, toxiproxy: str) -> None:
    stack = _stack(tmp_path, toxiproxy, "auto")
    assert ExternalStack.interposable(stack.topology, stack.options) == frozenset(
        {("mainpc/MemoryClient", "pc2/MemoryOrchestratorService")})
    observe = stack._connect_toxiproxy()  # start() without the agents' health checks
    assert sorted((p.caller, p.callee, p.socket, p.cross_host) for p in stack.proxies) == [
        ("mainpc/MemoryClient", "pc2/MemoryOrchestratorService", "main", True),
        ("pc2/CacheManager", "pc2/redis", "redis", False)]
    assert observe  # their listen addresses answer from here
    assert {"network", "partition"} <= stack._capabilities(observe, connected=True)


def test_a_declared_proxy_the_api_lacks_is_named(tmp_path: Path, toxiproxy: str) -> None:
    stack = _stack(tmp_path, toxiproxy, "[{caller: mainpc/MemoryClient, callee: pc2/redis, socket: redis, "
                                        "proxy: not-there}]")
    with pytest.raises(InventoryError, match=r"toxiproxy\.proxies\[0\]\.proxy: no proxy 'not-there' on the "
                                             r"Toxiproxy API \(it has 3"):
        stack._connect_toxiproxy()


def test_an_api_that_does_not_answer_is_named(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "127.251.252.1:8474", "auto")
    assert ExternalStack.interposable(load_spec([ROOT / "system"], {}), stack.options) == frozenset()
    with pytest.raises(InventoryError, match=r"toxiproxy\.api: Toxiproxy does not answer at 127\.251\.252\.1:8474"):
        stack._connect_toxiproxy()
