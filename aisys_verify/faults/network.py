"""Network faults on proxied links: any Toxiproxy toxic, per direction, and partitions.

A toxic fault adds one toxic per stream to every proxy of its links, under a name unique to
the fault (so faults stack and each removes only its own). A partition disables the links'
proxies: Toxiproxy closes their listeners and live connections, as a cut cable would.

Efficacy, observed through the first link's proxy from the outside:
- latency: round trips on one connection before and after; the added median must reach 80 % of
  the configured latency (minus jitter) per affected direction;
- timeout: a request gets no reply; reset_peer: a fresh connection is reset or closed;
- partition: the proxy refuses connections;
- bandwidth, slicer, slow_close, limit_data: the toxic read back from Toxiproxy on every proxy
  (their effect on small request/reply messages is not measurable by one round trip).
Where the proxies cannot be reached from this process (the compose backend: they listen inside
the Toxiproxy container's networks), every kind falls back to reading its state back from
Toxiproxy, and the evidence says so.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

from aisys_verify.faults.base import ChaosError, Efficacy, Fault, Recorder
from aisys_verify.faults.edges import Link
from aisys_verify.faults.observe import RoundTripper, connection_refused, no_reply, reset_observed
from aisys_verify.faults.toxics import Stream, Toxic
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ToxiproxyClient, ToxiproxyError

STREAMS = {"downstream": (Stream.DOWNSTREAM,), "upstream": (Stream.UPSTREAM,),
           "both": (Stream.UPSTREAM, Stream.DOWNSTREAM)}
_serial = itertools.count(1)


def parse_stream(stream: str | Stream) -> tuple[Stream, ...]:
    if isinstance(stream, Stream):
        return (stream,)
    try:
        return STREAMS[stream]
    except KeyError:
        raise ChaosError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}") from None


def probe_target(link: Link) -> tuple[ProxiedEdge, str]:
    """The proxy of a link that the efficacy checks talk through, and its protocol."""
    proxy = link.proxy("health") or link.proxy("redis") or link.proxy("main")
    assert proxy is not None
    return proxy, "redis" if proxy.socket == "redis" else "zmq"


def _split(listen: str) -> tuple[str, int]:
    host, port = listen.rsplit(":", 1)
    return host, int(port)


class ToxicFault(Fault):
    kind = "toxic"

    def __init__(self, client: ToxiproxyClient, links: Sequence[Link], selector: str, toxic_type: str,
                 attributes: dict[str, int], streams: tuple[Stream, ...], toxicity: float = 1.0,
                 record: Recorder | None = None, observable: bool = True, **kwargs: Any) -> None:
        self.kind = toxic_type
        shown: dict[str, Any] = {**attributes, "stream": "+".join(s.value for s in streams)}
        if toxicity != 1.0:
            shown["toxicity"] = toxicity
        super().__init__(selector, shown, record=record, **kwargs)
        self.client, self.links, self.observable = client, list(links), observable
        tag = f"aisys_{os.getpid()}_{next(_serial)}"
        self.toxics = [Toxic(toxic_type, s, toxicity, attributes, name=f"{tag}_{toxic_type}_{s.value}")
                       for s in streams]  # validated here, before anything is applied
        self.added: list[tuple[str, str]] = []  # (proxy, toxic name) actually on the server
        self._probe: RoundTripper | None = None
        self._baseline: float | None = None

    def _apply(self) -> None:
        if self.kind == "latency" and self.observable:
            proxy, kind = probe_target(self.links[0])
            self._probe = RoundTripper(*_split(proxy.proxy.listen), kind)
            self._baseline = self._probe.median(3, 2.0)  # on the connection the toxic will then slow down
        for link in self.links:
            for proxy in link.proxies:
                for toxic in self.toxics:
                    if (proxy.proxy.name, toxic.name) in self.added:
                        continue  # a proxy shared by several links (compose with spec images): once
                    self.client.add_toxic(proxy.proxy.name, toxic)
                    self.added.append((proxy.proxy.name, toxic.name))

    def _verify(self) -> Efficacy:
        proxy, kind = probe_target(self.links[0])
        address, port = _split(proxy.proxy.listen)
        if not self.observable:
            return self._read_back("the proxies are not reachable from here: ")
        if self.kind == "latency":
            return self._verify_latency()
        if self.kind == "timeout":
            silent = no_reply(address, port, kind, 1.0)
            return Efficacy(silent, f"a request through {proxy.proxy.name} got "
                            + ("no reply within 1 s" if silent else "a reply: the black hole is not there"))
        if self.kind == "reset_peer":
            delay = self.toxics[0].attributes.get("timeout", 0) / 1000
            seen = reset_observed(address, port, kind, delay + 1.0)
            return Efficacy(seen is not None, f"a fresh connection through {proxy.proxy.name}: "
                            + (seen or "answered normally, no reset"))
        return self._read_back()

    def _read_back(self, why: str = "") -> Efficacy:
        on_server = {(p, t.name) for p in {n for n, _ in self.added} for t in self.client.toxics(p)}
        missing = [pair for pair in self.added if pair not in on_server]
        return Efficacy(not missing, f"{why}{len(self.added) - len(missing)}/{len(self.added)} toxics read back from "
                        f"Toxiproxy" + (f"; missing: {missing[:3]}" if missing else ""))

    def _verify_latency(self) -> Efficacy:
        assert self._probe is not None
        latency = self.toxics[0].attributes.get("latency", 0)
        jitter = self.toxics[0].attributes.get("jitter", 0)
        expected_s = len(self.toxics) * max(0, latency - jitter) / 1000
        if self._baseline is None:
            return Efficacy(False, "no baseline round trip through the proxy before the fault (is the callee up?)")
        after = self._probe.median(1 if latency > 300 else 3, 2.0 + 2 * len(self.toxics) * (latency + jitter) / 1000)
        self._probe.close()
        if after is None:
            return Efficacy(False, "no reply through the proxy after the latency was added")
        added = after - self._baseline
        measured = {"baseline_ms": round(self._baseline * 1000, 3), "after_ms": round(after * 1000, 3),
                    "added_ms": round(added * 1000, 3), "expected_ms": round(expected_s * 1000, 3)}
        ok = self.toxics[0].toxicity < 1.0 or added >= 0.8 * expected_s
        return Efficacy(ok, f"round trip {measured['baseline_ms']} ms -> {measured['after_ms']} ms "
                            f"(+{measured['added_ms']} ms; configured +{measured['expected_ms']} ms)", measured)

    def _revert(self) -> None:
        if self._probe is not None:
            self._probe.close()
        errors = []
        for proxy, name in self.added:
            try:
                self.client.remove_toxic(proxy, name)
            except ToxiproxyError as exc:
                if "404" not in str(exc) and "not found" not in str(exc).lower():
                    errors.append(f"{proxy}/{name}: {exc}")
        if errors:
            raise ChaosError(f"could not remove {len(errors)} toxic(s) of {self.describe()}: {'; '.join(errors[:3])}")


class PartitionFault(Fault):
    """Disable the links' proxies. ``holds`` counts, per proxy, the partitions that want it off (shared by
    every partition of one Chaos), so overlapping partitions compose: a proxy comes back only when the last
    partition holding it is reverted."""

    kind = "partition"

    def __init__(self, client: ToxiproxyClient, links: Sequence[Link], target: str,
                 record: Recorder | None = None, holds: dict[str, int] | None = None, observable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(target, {"links": len(links)}, record=record, **kwargs)
        self.client, self.links, self.observable = client, list(links), observable
        self.holds = holds if holds is not None else {}
        self.disabled: list[str] = []

    def _apply(self) -> None:
        for link in self.links:
            for proxy in link.proxies:
                name = proxy.proxy.name
                if name in self.disabled:
                    continue
                if not self.holds.get(name):
                    self.client.set_enabled(name, False)
                self.holds[name] = self.holds.get(name, 0) + 1
                self.disabled.append(name)

    def _verify(self) -> Efficacy:
        if not self.observable:
            served = self.client.proxies()
            still_on = [n for n in self.disabled if served.get(n, {}).get("enabled", True)]
            off = len(self.disabled) - len(still_on)
            return Efficacy(not still_on, f"the proxies are not reachable from here: {off}/{len(self.disabled)} "
                                          "read back disabled from Toxiproxy")
        proxy, _ = probe_target(self.links[0])
        address, port = _split(proxy.proxy.listen)
        refused = connection_refused(address, port)
        return Efficacy(refused, f"{proxy.proxy.name} ({proxy.proxy.listen}) "
                        + ("refuses connections" if refused else "still accepts connections"))

    def _revert(self) -> None:
        for name in self.disabled:
            self.holds[name] = max(0, self.holds.get(name, 1) - 1)
            if not self.holds[name]:
                self.client.set_enabled(name, True)
