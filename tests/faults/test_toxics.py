"""Toxics mirror Toxiproxy's model: validation, default names, JSON, and a real server applying them."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.faults.echo import EchoServer, round_trips
from aisys_verify.faults.toxics import TOXIC_TYPES, Stream, Toxic, ToxicError
from aisys_verify.stack.toxiproxy import ProxySpec, ToxiproxyServer

VALID = {
    "latency": {"latency": 100, "jitter": 10}, "bandwidth": {"rate": 100}, "slow_close": {"delay": 50},
    "timeout": {"timeout": 0}, "reset_peer": {"timeout": 10}, "limit_data": {"bytes": 1024},
    "slicer": {"average_size": 64, "size_variation": 32, "delay": 10},
}


def test_every_toxic_type_of_the_server_is_covered() -> None:
    assert set(VALID) == set(TOXIC_TYPES)


@pytest.mark.parametrize("kind", sorted(VALID))
@pytest.mark.parametrize("stream", list(Stream))
def test_valid_toxics_round_trip_through_json(kind: str, stream: Stream) -> None:
    toxic = Toxic(kind, stream, 0.5, VALID[kind])
    assert toxic.name == f"{kind}_{stream.value}"  # Toxiproxy's own default name
    assert Toxic.from_json(toxic.to_json()) == toxic


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"type": "packet_storm"}, "unknown toxic type 'packet_storm'"),
    ({"type": "latency", "attributes": {}}, "latency needs latency"),
    ({"type": "latency", "attributes": {"latency": 10, "delay": 5}}, "latency has no attribute 'delay'"),
    ({"type": "latency", "attributes": {"latency": -1}}, "latency.latency must be at least 0 ms"),
    ({"type": "latency", "attributes": {"latency": 1.5}}, "must be a whole number of ms"),
    ({"type": "bandwidth", "attributes": {"rate": True}}, "must be a whole number of KB/s"),
    ({"type": "latency", "toxicity": 1.5, "attributes": {"latency": 1}}, "toxicity must be a probability"),
    ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, "smaller than average_size"),
])
def test_invalid_toxics_are_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ToxicError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Toxic(**kwargs)  # type: ignore[arg-type]


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.integers(), st.floats(), st.text(max_size=5),
                                                       st.none(), st.booleans()), max_size=4),
       st.sampled_from(sorted(TOXIC_TYPES)), st.floats(allow_nan=True))
def test_any_input_is_a_toxic_or_a_toxic_error(attributes: dict[str, object], kind: str, toxicity: float) -> None:
    try:
        Toxic(kind, Stream.UPSTREAM, toxicity, attributes)  # type: ignore[arg-type]
    except ToxicError:
        pass


@pytest.fixture(scope="module")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ToxiproxyServer, str]]:
    net = f"127.{random.randint(10, 250)}.{random.randint(1, 250)}"
    server = ToxiproxyServer(f"{net}.1", 8474, Path(tmp_path_factory.mktemp("toxiproxy")) / "log")
    server.start()
    echo = EchoServer(f"{net}.2")
    try:
        server.client.populate([ProxySpec("echo", f"{net}.3:20001", f"{echo.host}:{echo.port}")])
        yield server, f"{net}.3"
    finally:
        echo.close()
        server.stop()


@pytest.mark.integration
def test_a_latency_toxic_delays_and_its_removal_restores(toxiproxy: tuple[ToxiproxyServer, str]) -> None:
    server, address = toxiproxy
    client = server.client
    base = statistics.median(round_trips(address, 20001, 10))
    added = client.add_toxic("echo", Toxic.latency(100, stream=Stream.UPSTREAM))
    assert added.name == "latency_upstream"
    assert client.toxics("echo") == [added]
    try:
        delayed = statistics.median(round_trips(address, 20001, 5))
    finally:
        client.remove_toxic("echo", added.name)
    assert delayed - base >= 0.095, f"a 100 ms toxic added only {(delayed - base) * 1000:.1f} ms"
    assert client.active_toxics() == {}
    after = statistics.median(round_trips(address, 20001, 10))
    assert after < 0.05, f"the toxic is gone but round trips still take {after * 1000:.1f} ms"


@pytest.mark.integration
def test_reset_removes_every_toxic(toxiproxy: tuple[ToxiproxyServer, str]) -> None:
    client = toxiproxy[0].client
    client.add_toxic("echo", Toxic.bandwidth(10))
    client.add_toxic("echo", Toxic.reset_peer(after_ms=100, stream=Stream.UPSTREAM))
    assert sorted(client.active_toxics()["echo"]) == ["bandwidth_downstream", "reset_peer_upstream"]
    client.reset()
    assert client.active_toxics() == {}
