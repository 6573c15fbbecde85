"""One blocking request/reply with an agent, from outside the agents (tests, probes, the CLI)."""

from __future__ import annotations

from typing import Any

from aisys_verify.standin import protocol


def request_once(url: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send ``message`` on a fresh REQ socket to ``url`` (tcp://host:port) and return the parsed reply;
    raise TimeoutError when none comes within ``timeout`` seconds."""
    raw = exchange(url, protocol.encode(message), timeout)
    if raw is None:
        raise TimeoutError(f"no reply from {url} within {timeout:g} s")
    return protocol.parse_reply(raw)


def exchange(url: str, frame: bytes, timeout: float) -> bytes | None:
    """Send one raw frame on a fresh REQ socket; the reply's bytes, or None when none came in ``timeout``.
    A fresh socket every time: a REQ that got no reply cannot send again."""
    import zmq

    from aisys_verify.standin.curve import process_keys, secure_client

    context: zmq.Context[Any] = zmq.Context.instance()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        secure_client(sock, process_keys())  # CurveZMQ when SECURE_ZMQ=1 here, as the real agents' clients
        sock.connect(url)
        sock.send(frame)
        if not sock.poll(int(timeout * 1000)):
            return None
        return bytes(sock.recv())
    finally:
        sock.close(0)


HEALTH_CHECK = {"action": "health_check", "source_agent": "aisys-verify"}
