"""``StackOptions(interpose=False)``: the real spec stands up with no Toxiproxy proxy on any edge,
every agent dialling the others directly, and everything healthy."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from stack_support import SYSTEM_SPEC, http_json

from aisys_verify.stack import LocalStack, StackOptions
from aisys_verify.stack.base import probe_health

pytestmark = pytest.mark.integration


def test_without_interposition_there_are_no_proxies_and_everything_is_healthy(tmp_path: Path) -> None:
    stack = LocalStack([str(SYSTEM_SPEC)], options=StackOptions(interpose=False, workdir=tmp_path / "stack"),
                       progress=lambda line: None)
    try:
        stack.start()
        assert stack.proxies == []
        assert stack.toxiproxy_client.proxies() == {}
        assert stack.plan.overrides == {} and stack.plan.redis_overrides == {}
        health = probe_health(stack)
        assert len(health) == 77
        assert {k: v.get("status") for k, v in health.items() if v.get("status") != "ok"} == {}
        gw = stack.endpoint("UnifiedWebAgent", "pc2")
        status, body = http_json(gw.address, gw.http_port, "POST", "/dialogue/process",
                                 {"text": "Hi, my name is Ada", "session_id": f"direct-{uuid.uuid4().hex[:8]}"})
        assert (status, body.get("status"), body.get("degraded")) == (200, "ok", False), body
    finally:
        stack.stop()
    assert not stack.record.path.exists()
