"""CurveZMQ on the stand-ins' ZeroMQ sockets (SECURE_ZMQ): the allow-listed client is answered; an unknown
client key, a wrong server key and a plaintext client are refused, each judged on the server's own socket
monitor (the handshake outcome it logged), on the main and the health socket; a refused client's reconnects
are bounded; every agent of the secure hosts answers its health socket over CurveZMQ."""

from __future__ import annotations

import pytest

from aisys_verify.security import (
    CURVE_CASE_NAMES,
    CurveStand,
    HandshakeLog,
    check_curve_case,
    count_refused_handshakes,
    curve_attempt,
    curve_health,
)

pytestmark = pytest.mark.security
MAX_REFUSED_PER_S = 3.0  # the clients' reconnect interval is 500 ms: 2 a second, with slack for the edges


@pytest.mark.parametrize("case", CURVE_CASE_NAMES)
@pytest.mark.parametrize("socket", ["main", "health"])
def test_curve_case(aisys_curve_stand: CurveStand, socket: str, case: str, request: pytest.FixtureRequest) -> None:
    target = aisys_curve_stand.target
    url = target.main_url if socket == "main" else target.health_url
    log = HandshakeLog(target.log, socket)
    outcome = curve_attempt(case, url, aisys_curve_stand.keys, log, intruder=aisys_curve_stand.intruder)
    observed = check_curve_case(case, outcome, f"{target.agent} {socket} {url}")
    request.node.user_properties.append(("observed", observed))  # JUnit XML property
    print(observed)


def test_refused_client_reconnects_are_bounded(aisys_curve_stand: CurveStand) -> None:
    target = aisys_curve_stand.target
    hold_s = 2.0
    refused = count_refused_handshakes(target.health_url, aisys_curve_stand.keys, HandshakeLog(target.log, "health"),
                                       hold_s, intruder=aisys_curve_stand.intruder)
    print(f"{target.agent}: {refused} refused handshakes in {hold_s:g} s from one client with a wrong server key")
    assert 1 <= refused <= MAX_REFUSED_PER_S * hold_s, (
        f"{refused} refused handshakes in {hold_s:g} s: expected at least one and at most "
        f"{MAX_REFUSED_PER_S * hold_s:g} (the client's reconnect interval bounds a refused client's retries)")


def test_every_secure_agent_answers_over_curve(aisys_curve_stand: CurveStand) -> None:
    replies = curve_health(aisys_curve_stand.health_urls, aisys_curve_stand.keys)
    silent = sorted(k for k, v in replies.items() if v is None)
    assert not silent, f"{len(silent)} of {len(replies)} agents gave no health reply over CurveZMQ: {silent}"
