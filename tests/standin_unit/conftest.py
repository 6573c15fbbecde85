"""Fixtures for the stand-in unit tests: one in-process group (every role) on a private redis-server.

The group runs on an event loop in a background thread, so tests (and hypothesis) talk to it
with blocking ZeroMQ and HTTP clients exactly as an outside client would. Everything started
here is stopped in ``finally`` blocks, whatever the tests did.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from standin_support import GROUP, HOST, Lab, LoopThread, RedisServer, free_ports, make_plan, write_lab_spec

from aisys_verify.spec.loader import load_spec
from aisys_verify.standin.group import GroupRuntime


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab")
    redis = RedisServer(root / "redis", free_ports(1)[0])
    loop: LoopThread | None = None
    runtime: GroupRuntime | None = None
    context: zmq.Context[Any] = zmq.Context()
    try:
        ports = write_lab_spec(root / "spec", redis.port)
        topology = load_spec([root / "spec"])
        plan = make_plan(topology, redis.port, root)
        loop = LoopThread()
        runtime = GroupRuntime(topology, plan, HOST, GROUP)
        loop.run(runtime.start())
        lab = Lab(root, topology, plan, ports, loop, runtime, redis, context)
        lab.wait_healthy()
        yield lab
    finally:
        try:
            if runtime is not None and loop is not None:
                loop.stop_group(runtime)
        finally:
            if loop is not None:
                loop.close()
            context.destroy(linger=0)
            redis.stop()
