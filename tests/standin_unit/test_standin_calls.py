"""Dependency calls: the circuit breaker, and Caller against a real ZeroMQ REP served by the test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq
import zmq.asyncio
from standin_support import free_ports

from aisys_verify.standin.calls import AddressBook, Caller, CallFailed, CallPolicy, CircuitBreaker, Endpoint

# --- CircuitBreaker ----------------------------------------------------------------------------------


def test_breaker_starts_closed_and_allows() -> None:
    breaker = CircuitBreaker(threshold=3, reset_after=5.0)
    assert breaker.state == "closed" and breaker.allow(0.0)


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=3, reset_after=5.0)
    for now in (1.0, 2.0):
        breaker.record(False, now)
        assert breaker.state == "closed" and breaker.allow(now)
    breaker.record(False, 3.0)
    assert breaker.state == "open" and breaker.opened_at == 3.0 and breaker.failures == 3
    assert not breaker.allow(3.0) and not breaker.allow(7.999)


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=3, reset_after=5.0)
    breaker.record(False, 1.0)
    breaker.record(False, 2.0)
    breaker.record(True, 3.0)
    breaker.record(False, 4.0)
    breaker.record(False, 5.0)
    assert breaker.state == "closed" and breaker.failures == 2


def test_breaker_half_opens_after_reset_after() -> None:
    breaker = CircuitBreaker(threshold=2, reset_after=5.0)
    breaker.record(False, 10.0)
    breaker.record(False, 10.0)
    assert not breaker.allow(14.9)
    assert breaker.allow(15.0)  # half-open: a trial call may go through
    assert breaker.allow(100.0)


def test_half_open_failure_reopens_and_success_closes() -> None:
    breaker = CircuitBreaker(threshold=2, reset_after=5.0)
    breaker.record(False, 0.0)
    breaker.record(False, 0.0)
    assert breaker.allow(5.0)
    breaker.record(False, 5.0)  # the trial failed: open again, for a new reset_after
    assert breaker.state == "open" and not breaker.allow(9.9) and breaker.allow(10.0)
    breaker.record(True, 10.0)
    assert breaker.state == "closed" and breaker.failures == 0 and breaker.opened_at is None
    assert breaker.allow(10.0)


# --- Caller against a real REP -------------------------------------------------------------------------


@dataclass
class RepServer:
    """A REP socket that counts requests and answers each after ``delay`` s with ``reply`` (or the
    request's action echoed); a delay longer than the caller's timeout makes the caller time out."""

    port: int
    delay: float = 0.0
    reply: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def rep_server(delay: float = 0.0, reply: Any = None) -> AsyncIterator[RepServer]:
    context = zmq.asyncio.Context()
    sock = context.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1", min_port=21000, max_port=32000)
    server = RepServer(port, delay, reply)

    async def loop() -> None:
        while True:
            raw = await sock.recv()
            server.requests.append(json.loads(raw))
            if server.delay:
                await asyncio.sleep(server.delay)
            answer = server.reply if server.reply is not None else {
                "status": "success", "echo": server.requests[-1].get("action")}
            await sock.send(json.dumps(answer).encode())

    task = asyncio.create_task(loop())
    try:
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close(0)
        context.term()


def make_caller(context: zmq.asyncio.Context, port: int, policy: CallPolicy | None = None) -> Caller:
    book = AddressBook(main={"Target": Endpoint("127.0.0.1", port)}, health={"Target": Endpoint("127.0.0.1", port)})
    return Caller("Caller", context, book, policy=policy)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_call_success_sends_the_envelope_and_returns_the_reply() -> None:
    async def scenario() -> None:
        async with rep_server() as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port)
                reply = await caller.call("Target", "get_context", session_id="s1")
                assert reply == {"status": "success", "echo": "get_context"}
                [request] = server.requests
                assert request["action"] == "get_context" and request["session_id"] == "s1"
                assert request["source_agent"] == "Caller" and len(request["request_id"]) == 36
                assert isinstance(request["timestamp"], float)
                assert caller.breakers["Target"].state == "closed"
            finally:
                context.term()

    run(scenario())


def test_a_non_object_reply_is_wrapped() -> None:
    async def scenario() -> None:
        async with rep_server(reply=["a", "b"]) as server:
            context = zmq.asyncio.Context()
            try:
                assert await make_caller(context, server.port).call("Target", "x") == {"status": "success",
                                                                                     "data": ["a", "b"]}
            finally:
                context.term()

    run(scenario())


def test_timeout_names_the_address_and_the_timeout() -> None:
    async def scenario() -> None:
        async with rep_server(delay=1.0) as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port, CallPolicy(timeout_s=0.15, retries=0))
                started = time.monotonic()
                with pytest.raises(CallFailed) as info:
                    await caller.call("Target", "slow")
                elapsed = time.monotonic() - started
                assert 0.1 < elapsed < 0.9
                assert info.value.target == "Target"
                assert f"tcp://127.0.0.1:{server.port}" in str(info.value)
                assert "0.15 s" in info.value.reason and "1 attempt" in info.value.reason
            finally:
                context.term()

    run(scenario())


@pytest.mark.parametrize("retries", [0, 2])
def test_retries_are_counted_by_the_server(retries: int) -> None:
    async def scenario() -> None:
        async with rep_server(delay=0.25) as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port, CallPolicy(timeout_s=0.1, retries=retries, backoff_s=0.01))
                with pytest.raises(CallFailed) as info:
                    await caller.call("Target", "slow")
                assert f"{retries + 1} attempt(s)" in info.value.reason
                # the REP answers one at a time: wait until it has drained every attempt, then count
                deadline = time.monotonic() + 3.0
                while len(server.requests) < retries + 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                assert len(server.requests) == retries + 1
                assert len({r["request_id"] for r in server.requests}) == 1  # a retry resends the same request
                assert caller.breakers["Target"].failures == 1  # one failed call, however many attempts
            finally:
                context.term()

    run(scenario())


def test_a_retry_that_succeeds_returns_the_reply() -> None:
    async def scenario() -> None:
        async with rep_server(delay=0.2) as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port, CallPolicy(timeout_s=0.1, retries=3, backoff_s=0.01))

                async def speed_up() -> None:  # the first attempt times out, later ones are answered in time
                    while not server.requests:
                        await asyncio.sleep(0.01)
                    server.delay = 0.0

                helper = asyncio.create_task(speed_up())
                reply = await caller.call("Target", "eventually")
                await helper
                assert reply["status"] == "success"
                assert caller.breakers["Target"].failures == 0
            finally:
                context.term()

    run(scenario())


def test_open_circuit_refuses_without_sending() -> None:
    async def scenario() -> None:
        async with rep_server(delay=1.0) as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port, CallPolicy(timeout_s=0.1, retries=0))
                caller.breakers["Target"] = CircuitBreaker(threshold=2, reset_after=60.0)
                for _ in range(2):
                    with pytest.raises(CallFailed):
                        await caller.call("Target", "slow")
                assert caller.breakers["Target"].state == "open"
                await asyncio.sleep(1.2)  # let the server drain what was sent
                sent = len(server.requests)
                assert sent == 2
                started = time.monotonic()
                with pytest.raises(CallFailed) as info:
                    await caller.call("Target", "refused")
                assert time.monotonic() - started < 0.05
                assert "circuit open" in info.value.reason and "2 failures" in info.value.reason
                await asyncio.sleep(0.2)
                assert len(server.requests) == sent
                assert all(r["action"] == "slow" for r in server.requests)
                # health probes bypass the breaker (they must see the target come back)
                server.delay = 0.0
                reply = await caller.call("Target", "health_check", health=True,
                                          policy=CallPolicy(timeout_s=3.0, retries=0))
                assert reply["status"] == "success"
            finally:
                context.term()

    run(scenario())


def test_half_open_circuit_lets_a_call_through_and_closes_on_success() -> None:
    async def scenario() -> None:
        async with rep_server() as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port)
                caller.breakers["Target"] = CircuitBreaker(threshold=1, reset_after=0.0, failures=1,
                                                           opened_at=time.monotonic())
                assert (await caller.call("Target", "x"))["status"] == "success"
                assert caller.breakers["Target"].state == "closed"
            finally:
                context.term()

    run(scenario())


def test_unknown_target_fails_without_a_socket() -> None:
    async def scenario() -> None:
        context = zmq.asyncio.Context()
        try:
            caller = make_caller(context, free_ports(1)[0])
            for health in (False, True):
                with pytest.raises(CallFailed) as info:
                    await caller.call("Nobody", "ping", health=health)
                assert info.value.target == "Nobody" and "no address" in info.value.reason
                assert "Nobody" in str(info.value)
        finally:
            context.term()

    run(scenario())


def test_nobody_listening_is_a_timeout_not_a_hang() -> None:
    async def scenario() -> None:
        context = zmq.asyncio.Context()
        try:
            port = free_ports(1)[0]
            caller = make_caller(context, port, CallPolicy(timeout_s=0.1, retries=1, backoff_s=0.01))
            with pytest.raises(CallFailed) as info:
                await caller.call("Target", "ping")
            assert f"tcp://127.0.0.1:{port}" in str(info.value) and "2 attempt(s)" in info.value.reason
        finally:
            context.term()

    run(scenario())


def test_per_target_policy_is_used() -> None:
    async def scenario() -> None:
        async with rep_server(delay=0.3) as server:
            context = zmq.asyncio.Context()
            try:
                book = AddressBook(main={"Target": Endpoint("127.0.0.1", server.port)})
                caller = Caller("Caller", context, book, policy=CallPolicy(timeout_s=5.0, retries=0),
                                policies={"Target": CallPolicy(timeout_s=0.1, retries=0)})
                started = time.monotonic()
                with pytest.raises(CallFailed):
                    await caller.call("Target", "slow")
                assert time.monotonic() - started < 1.0
            finally:
                context.term()

    run(scenario())


# --- the periodic health probe: one kept REQ socket per target while it is answered ----------------------


def test_probe_keeps_its_socket_while_answered_and_asks_the_health_socket() -> None:
    async def scenario() -> None:
        async with rep_server() as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port)
                first = await caller.probe("Target", "health_check", 1.0)
                kept = caller.probe_sockets["Target"]
                second = await caller.probe("Target", "health_check", 1.0)
                assert first == second == {"status": "success", "echo": "health_check"}
                assert caller.probe_sockets["Target"] is kept and not kept.closed  # no socket per probe
                assert [r["action"] for r in server.requests] == ["health_check", "health_check"]
                assert all(r["source_agent"] == "Caller" for r in server.requests)
                caller.close()
                assert kept.closed and not caller.probe_sockets
            finally:
                context.term()

    run(scenario())


def test_a_failed_probe_drops_its_socket_and_the_next_starts_afresh() -> None:
    async def scenario() -> None:
        async with rep_server(delay=0.4) as server:
            context = zmq.asyncio.Context()
            try:
                caller = make_caller(context, server.port)
                await caller.probe("Target", "health_check", 2.0)
                kept = caller.probe_sockets["Target"]
                with pytest.raises(CallFailed) as info:
                    await caller.probe("Target", "health_check", 0.1)
                assert "no reply within 0.1 s" in info.value.reason and f":{server.port}" in info.value.reason
                # a REQ that got no reply can never send again: it is closed, not kept
                assert kept.closed and "Target" not in caller.probe_sockets
                server.delay = 0.0
                reply = await caller.probe("Target", "health_check", 2.0)
                assert reply["status"] == "success" and caller.probe_sockets["Target"] is not kept
            finally:
                caller.close()
                context.term()

    run(scenario())


def test_probe_of_an_unknown_target_fails_without_a_socket() -> None:
    async def scenario() -> None:
        context = zmq.asyncio.Context()
        try:
            caller = Caller("Caller", context, AddressBook())
            with pytest.raises(CallFailed, match="no address"):
                await caller.probe("Nobody", "health_check", 0.1)
            assert not caller.probe_sockets
        finally:
            context.term()

    run(scenario())
