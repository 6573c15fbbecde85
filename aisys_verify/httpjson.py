"""The one HTTP client of the package: every request to the gateway, agents' HTTP ports, Toxiproxy's
API, /metrics endpoints and the hub goes through here.

- ``http_json``: one JSON exchange; the body is JSON-encoded, and a body that is not JSON comes back as text.
- ``http_raw``: one exchange by URL, the body as bytes (Toxiproxy, /metrics, the probe).
- ``http_direct``: one GET to ``host:port`` without proxies or redirects (is an HTTP server there at all).
- ``KeepAlive``: one kept-alive connection per base URL, for a load driver's thread.

In all of them a 4xx/5xx is a reply, not an exception. Only failing to get any reply (refused, reset,
timed out, not HTTP) raises, and it raises OSError: ``http.client``'s own non-OS errors (a bad status
line from a listener that is not HTTP) are translated here into ``HttpNoReply`` (an OSError), so no
caller needs to know ``http.client``.

TLS: an ``https://`` URL, or a peer a running stack serves with TLS (``aisys_verify.tlsclient``), gets a
verified connection presenting the stack's client certificate; an ``http://`` URL is always plaintext
(a TLS peer refuses it: no silent fallback either way).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aisys_verify.errors import HttpNoReply
from aisys_verify.tlsclient import context_for

__all__ = ["HttpReply", "KeepAlive", "http_direct", "http_json", "http_raw"]

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: Any  # the parsed JSON, or the raw text when the body is not JSON (http_json); bytes otherwise
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    reason: str = ""  # the status line's phrase ("Not Found")

    def json_object(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    def status_error(self) -> str | None:
        """For a 4xx/5xx, the text urllib gives such a reply as an error ("HTTP Error 404: Not Found")."""
        return f"HTTP Error {self.status}: {self.reason}" if self.status >= 400 else None


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """OS errors pass as they are (their text is what callers already report); http.client's others become
    HttpNoReply with the same text."""
    try:
        yield
    except OSError:
        raise
    except http.client.HTTPException as exc:
        raise HttpNoReply(url, type(exc).__name__, str(exc)) from exc


def http_raw(method: str, url: str, data: bytes | None = None, *, timeout: float,
             headers: Mapping[str, str] | None = None) -> HttpReply:
    """One exchange by URL (urllib: proxies from the environment, redirects followed); ``body`` is bytes."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    parts = urlsplit(url)
    context = context_for(parts.hostname or "", parts.port) if parts.scheme == "https" else None
    with _translated(url):
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                status, raw, head, reason = response.status, response.read(), dict(response.headers), response.reason
        except urllib.error.HTTPError as exc:
            status, raw, head, reason = exc.code, exc.read(), dict(exc.headers or {}), str(exc.reason)
    return HttpReply(status, raw, {k.lower(): v for k, v in head.items()}, reason)


def http_json(method: str, url: str, body: Any = None, *, timeout: float,
              headers: Mapping[str, str] | None = None) -> HttpReply:
    """``body`` is JSON-encoded unless it is already bytes (or None: no body)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    raw = http_raw(method, url, data, timeout=timeout, headers={**JSON_HEADERS, **(headers or {})})
    try:
        parsed: Any = json.loads(raw.body)
    except ValueError:
        parsed = raw.body.decode("utf-8", "replace")
    return HttpReply(raw.status, parsed, raw.headers, raw.reason)


def http_direct(address: str, port: int, path: str = "/", *, timeout: float) -> HttpReply:
    """One GET straight to ``address:port`` (no proxy, no redirect): what answers on that port itself; over TLS
    when a running stack serves that port with TLS (tlsclient)."""
    conn = _connection(address, port, timeout, tls=context_for(address, port) is not None)
    try:
        with _translated(f"{'https' if isinstance(conn, http.client.HTTPSConnection) else 'http'}://"
                         f"{address}:{port}{path}"):
            conn.request("GET", path)
            response = conn.getresponse()
            return HttpReply(response.status, response.read(),
                             {k.lower(): v for k, v in response.getheaders()}, response.reason)
    finally:
        conn.close()


def _connection(address: str, port: int | None, timeout: float, *, tls: bool) -> http.client.HTTPConnection:
    """A plain connection, or a TLS one with the stack's client context for that peer (the default context,
    which trusts the system's CAs, for a peer no stack lists)."""
    if not tls:
        return http.client.HTTPConnection(address, port, timeout=timeout)
    return http.client.HTTPSConnection(address, port, timeout=timeout, context=context_for(address, port))


class KeepAlive:
    """One kept-alive HTTP connection per base URL (a load driver's thread reuses them); not thread-safe.

    A kept-alive connection the server has closed is not a failure of the request: the request is sent
    once more on a fresh connection. Any failure drops the connection; the next request opens a new one.
    """

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()

    def request(self, method: str, base: str, path: str, body: bytes | None = None, *, timeout: float,
                headers: Mapping[str, str] | None = None) -> int:
        """The status of one exchange on the connection kept for ``base`` (``http://host:port``); the reply's
        body is read and dropped."""
        parsed = urlsplit(base)
        for attempt in (1, 2):
            conn = self.connections.get(base)
            if conn is None:
                conn = _connection(parsed.hostname or "127.0.0.1", parsed.port, timeout, tls=parsed.scheme == "https")
                self.connections[base] = conn
            try:
                with _translated(base + path):
                    conn.request(method, path, body=body, headers=dict(headers or {}))
                    response = conn.getresponse()
                    response.read()
                    return response.status
            except (BrokenPipeError, ConnectionResetError):  # RemoteDisconnected is a ConnectionResetError
                self._drop(base)
                if attempt == 2:
                    raise
            except OSError:
                self._drop(base)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _drop(self, base: str) -> None:
        conn = self.connections.pop(base, None)
        if conn is not None:
            conn.close()
