"""A small asyncio HTTP/1.1 server for the agents' HTTP side (/health, /metrics, the web gateway's API).

Standard library only, keep-alive, bounded header and body sizes; a malformed
request gets a 400 and the connection is closed, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aisys_verify.errors import HttpBadRequest as _BadRequest

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1 << 20
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 422: "Unprocessable Entity", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload: Any) -> HttpResponse:
        return cls(status, json.dumps(payload, default=str).encode())


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def serve(handler: Handler, host: str, port: int, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    """Serve ``handler`` on host:port; ``tls``: HTTPS with that context (aisys_verify.security.tls)."""
    if tls is not None:
        _send_handshake_alerts()
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequest as exc:
                    await _write(writer, HttpResponse.of_json(exc.status, {"error": str(exc)}), close=True)
                    return
                if request is None:
                    return
                try:
                    response = await handler(request)
                except Exception as exc:  # a handler bug must not kill the connection loop silently
                    response = HttpResponse.of_json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
                close = request.headers.get("connection", "").lower() == "close"
                await _write(writer, response, close)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, host, port, reuse_address=True, limit=MAX_HEADER_BYTES,
                                      ssl=tls, ssl_handshake_timeout=5.0 if tls else None)


def _send_handshake_alerts() -> None:
    """asyncio's TLS transport aborts a failed handshake without sending the alert OpenSSL wrote, so a
    refused client (no certificate, unknown CA, expired) sees only an EOF and sslyze cannot tell that a
    client certificate is required: send what is pending first. Idempotent; stand-in processes only."""
    from asyncio import sslproto

    original = getattr(sslproto.SSLProtocol, "_on_handshake_complete", None)
    if original is None or getattr(original, "_aisys_alerts", False):  # another Python's internals: leave them
        return

    def on_handshake_complete(self: sslproto.SSLProtocol, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            with contextlib.suppress(Exception):
                self._process_outgoing()  # type: ignore[attr-defined]
        original(self, handshake_exc)

    on_handshake_complete._aisys_alerts = True  # type: ignore[attr-defined]
    sslproto.SSLProtocol._on_handshake_complete = on_handshake_complete  # type: ignore[method-assign]


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _BadRequest(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise _BadRequest(413, f"request head over {MAX_HEADER_BYTES} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest(400, "chunked request bodies are not supported: send Content-Length")
    raw_length = headers.get("content-length", "0")
    if not raw_length.isdigit() or len(raw_length) > 12:  # int() would also take '+5' and '1_0'
        raise _BadRequest(400, "bad Content-Length")
    length = int(raw_length)
    if length < 0 or length > MAX_BODY_BYTES:
        raise _BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    body = await reader.readexactly(length) if length else b""
    try:
        url = urlsplit(parts[1])
    except ValueError:
        raise _BadRequest(400, "malformed request target") from None
    if parts[2] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"  # HTTP/1.0 closes after each response unless asked otherwise
    return HttpRequest(parts[0].upper(), url.path, parse_qs(url.query), headers, body)


async def _write(writer: asyncio.StreamWriter, response: HttpResponse, close: bool) -> None:
    reason = REASONS.get(response.status, "Unknown")
    head = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}", f"Connection: {'close' if close else 'keep-alive'}"]
    head += [f"{k}: {v}" for k, v in response.headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()


async def fetch(host: str, port: int, method: str, path: str, body: Any = None, timeout: float = 2.0,
                headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """One HTTP/1.1 request (Connection: close), over TLS with ``tls``; raises OSError or TimeoutError when no
    answer comes."""
    payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(payload)}",
            "Connection: close", "Content-Type: application/json", *(f"{k}: {v}" for k, v in (headers or {}).items())]

    async def exchange() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        status_line, _, rest = raw.partition(b"\r\n")
        _, _, response_body = rest.partition(b"\r\n\r\n")
        parts = status_line.split(b" ")
        if len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"malformed HTTP response from {host}:{port}")
        return int(parts[1]), response_body

    return await asyncio.wait_for(exchange(), timeout)
