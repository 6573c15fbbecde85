"""A proxy shared by several links (compose with the spec's images: one proxy per source host, callee and
socket) gets each toxic of a fault once, and loses it once on revert."""

from __future__ import annotations

from typing import Any

from aisys_verify.faults.edges import Link
from aisys_verify.faults.network import ToxicFault
from aisys_verify.faults.toxics import Stream
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ProxySpec


class FakeClient:
    def __init__(self) -> None:
        self.toxics: dict[str, list[str]] = {}

    def add_toxic(self, proxy: str, toxic: Any) -> None:
        assert toxic.name not in self.toxics.setdefault(proxy, []), "the server refuses a toxic name twice (409)"
        self.toxics[proxy].append(toxic.name)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.toxics[proxy].remove(name)


def test_a_shared_proxy_gets_each_toxic_once() -> None:
    shared = ProxySpec("x-pc2--mainpc.ServiceRegistry__main", "0.0.0.0:7200", "aisys-host-mainpc:7200")
    links = [Link(caller, "mainpc/ServiceRegistry", (ProxiedEdge(shared, caller, "mainpc/ServiceRegistry", "main",
                                                                 True),))
             for caller in ("pc2/TutorAgent", "pc2/CacheManager")]
    client = FakeClient()
    fault = ToxicFault(client, links, "pc2/*->mainpc/ServiceRegistry", "latency",  # type: ignore[arg-type]
                       {"latency": 100, "jitter": 0}, (Stream.DOWNSTREAM,), observable=False)
    fault._apply()
    assert len(client.toxics[shared.name]) == 1
    fault._revert()
    assert client.toxics[shared.name] == []
