"""mTLS on the stack's HTTP side (``--aisys-tls`` / ``AISYS_TLS``, e.g. ``all=required``): nothing falls back to
plaintext. Each HTTPS agent refuses plain HTTP and, where mTLS was asked for, a client without a certificate
(judged after a read, security.matrix); TLS passes through Toxiproxy (a TCP relay) with the server's SAN
verified, and a latency toxic on that proxy slows it. Skipped when the stack serves plain HTTP.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from aisys_verify import Stack, attach_text, labels, require, step
from aisys_verify.faults import Toxic
from aisys_verify.security import attempt, check_case, client_context, run_case

pytestmark = pytest.mark.e2e
LATENCY_MS = 150


def _tls(stack: Stack) -> Any:
    tls = getattr(stack, "tls", None)
    if tls is None:
        pytest.skip("the stack serves plain HTTP: run with --aisys-tls=all=required (or AISYS_TLS) to check mTLS")
    return tls


def _picked(stack: Stack, tls: Any) -> list[Any]:
    """The gateway and the first other TLS agent of each host: every host's process kind, bounded."""
    chosen = [stack.endpoint("UnifiedWebAgent")] if tls.serves(stack.endpoint("UnifiedWebAgent").host +
                                                               "/UnifiedWebAgent") else []
    for host in stack.topology.hosts:
        other = next((a for a in stack.topology.agents if a.host == host.name and tls.serves(a.key)
                      and a.name != "UnifiedWebAgent"), None)
        if other is not None:
            chosen.append(stack.endpoint(other.name, other.host))
    return chosen


def test_http_side_refuses_plaintext_and_clients_without_certificate(aisys_stack: Stack) -> None:
    tls = _tls(aisys_stack)
    endpoints = _picked(aisys_stack, tls)
    assert endpoints, f"TLS selection {tls.requested} serves no agent this test can reach"
    seen = []
    for ep in endpoints:
        key = f"{ep.host}/{ep.agent}"
        assert ep.http_url.startswith("https://"), f"{key}: served with TLS, yet its endpoint says {ep.http_url}"
        asked = tls.requested[key]
        where = f"{key} {ep.http_url}/health (client_auth {asked} asked for)"
        cases = ["valid", "plaintext_http", *(["no_client_cert"] if asked == "required" else [])]
        for case in cases:
            with step(f"{case} -> {key}"):
                outcome = run_case(case, tls.pki, ep.address, ep.http_port, "/health", server_name=ep.address)
                seen.append(check_case(case, outcome, where))
    attach_text("observed", "\n".join(seen))


def test_tls_passes_through_toxiproxy_and_a_latency_toxic_slows_it(aisys_stack: Stack) -> None:
    tls = _tls(aisys_stack)
    require(aisys_stack, "network", "observe-proxies", purpose="a proxy of this process's own to an HTTPS port")
    labels(host="pc2", agent="UnifiedWebAgent")
    web = aisys_stack.endpoint("UnifiedWebAgent")
    assert tls.serves(f"{web.host}/{web.agent}"), f"the gateway is not served with TLS: {tls.requested}"
    listen_host = next(p.proxy.listen.rsplit(":", 1)[0] for p in aisys_stack.proxies if p.caller.startswith("pc2/"))
    client = aisys_stack.toxiproxy_client
    name = "e2e-tls-gateway-http"
    created = client.request("POST", "/proxies", {"name": name, "listen": f"{listen_host}:0",
                                                  "upstream": f"{web.address}:{web.http_port}"})
    try:
        address, port = created["listen"].rsplit(":", 1)
        context = client_context(tls.pki.ca, tls.pki.client("aisys-verify"))  # verifies the chain and the SAN

        def timed() -> float:
            began = time.perf_counter()
            outcome = attempt(address, int(port), "/health", context=context, server_hostname=address)
            assert outcome.status == 200, f"HTTPS via the proxy {address}:{port} to {web.http_url}: {outcome.shown()}"
            return time.perf_counter() - began

        with step(f"HTTPS through Toxiproxy {address}:{port}"):
            plain = min(timed() for _ in range(3))
        with step(f"the same with a {LATENCY_MS} ms latency toxic"):
            client.add_toxic(name, Toxic.latency(LATENCY_MS))
            slowed = timed()
        attach_text("seconds", f"through the proxy {plain:.4f}, with {LATENCY_MS} ms latency {slowed:.4f}")
        assert slowed >= plain + LATENCY_MS / 1000 * 0.9, \
            f"a {LATENCY_MS} ms latency toxic did not slow HTTPS through the proxy: {plain:.4f} s -> {slowed:.4f} s"
    finally:
        client.delete(name)
