"""The session stack under ``SECURE_ZMQ=1`` (the real agents' switch, read by the stack's stand-ins and by this
process's clients): every agent answers a CurveZMQ health request and refuses a plaintext one. Run with the e2e
suite, ``SECURE_ZMQ=1 pytest suites/e2e suites/security/test_stack_curve.py -m "e2e or security"``; skipped
when CurveZMQ is off (the suite's default)."""

from __future__ import annotations

import pytest

from aisys_verify import Stack
from aisys_verify.security import curve_health, plaintext_health, process_keys

pytestmark = pytest.mark.security


def test_session_stack_speaks_only_curvezmq(request: pytest.FixtureRequest) -> None:
    if process_keys() is None:  # checked first: no stack is stood up for a skip
        pytest.skip("SECURE_ZMQ is not 1: the session stack runs plaintext ZeroMQ")
    aisys_stack: Stack = request.getfixturevalue("aisys_stack")
    keys = process_keys()  # this process's clients' keys: those of the stack it started
    assert keys is not None
    urls = {f"{ep.host}/{ep.agent}": ep.health_url for ep in aisys_stack.endpoints()}
    secure = curve_health(urls, keys)
    silent = sorted(k for k, v in secure.items() if v is None)
    assert not silent, f"{len(silent)} of {len(urls)} agents gave no health reply over CurveZMQ: {silent[:10]}"
    plain = plaintext_health(urls, timeout=1.0)
    answered = sorted(k for k, v in plain.items() if v is not None)
    assert not answered, f"{len(answered)} of {len(urls)} agents answered a PLAINTEXT client: {answered[:10]}"
    print(f"{len(urls)} agents: all answered over CurveZMQ, none in plaintext")
