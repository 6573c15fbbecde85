"""aisys_verify.httpjson against a real local HTTP server: a 5xx is a reply, text stays text, no server raises."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aisys_verify.errors import HttpNoReply
from aisys_verify.httpjson import KeepAlive, http_direct, http_json, http_raw


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections alive unless told otherwise
    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._reply(503, json.dumps({"error": "overloaded", "echo": sent}).encode(), {"X-Trace-Id": "abc"})

    def do_GET(self) -> None:
        if self.path == "/missing":
            self._reply(404, b"nope", {})
        elif self.path == "/once":  # answers, then closes the kept-alive connection behind the client's back
            self._reply(200, b"once", {})
            self.close_connection = True
        else:
            self._reply(200, b"plain words", {})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_5xx_is_a_reply_with_its_json_and_lower_case_headers(server: str) -> None:
    reply = http_json("POST", f"{server}/dialogue/process", {"text": "hi"}, timeout=5)
    assert reply.status == 503
    assert reply.json_object() == {"error": "overloaded", "echo": {"text": "hi"}}
    assert reply.headers["x-trace-id"] == "abc"


def test_a_body_that_is_not_json_comes_back_as_text(server: str) -> None:
    reply = http_json("GET", f"{server}/health", timeout=5)
    assert (reply.status, reply.body, reply.json_object()) == (200, "plain words", {})


def test_no_server_raises_oserror() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused
        with pytest.raises(OSError, match="Connection refused"):
            http_json("GET", f"http://127.0.0.1:{port}/", timeout=2)


def test_http_raw_gives_bytes_and_a_4xx_with_urllibs_error_text(server: str) -> None:
    reply = http_raw("GET", f"{server}/missing", timeout=5)
    assert (reply.status, reply.body) == (404, b"nope")
    assert reply.status_error() == "HTTP Error 404: Not Found"
    assert http_raw("GET", f"{server}/health", timeout=5).status_error() is None


def test_http_direct_reads_the_port_itself(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    reply = http_direct("127.0.0.1", port, "/health", timeout=5)
    assert (reply.status, reply.body) == (200, b"plain words")


@pytest.fixture
def not_http() -> Iterator[int]:
    """A listener that answers every connection with a line that is not an HTTP status line."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"garbage that is not HTTP\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_a_listener_that_is_not_http_raises_httpnoreply_an_oserror(not_http: int) -> None:
    with pytest.raises(HttpNoReply) as caught:
        http_direct("127.0.0.1", not_http, "/health", timeout=5)
    assert isinstance(caught.value, OSError)
    assert caught.value.kind == "BadStatusLine"
    with pytest.raises(HttpNoReply, match="garbage"):  # urllib's path too: an OSError, never http.client's
        http_raw("GET", f"http://127.0.0.1:{not_http}/", timeout=5)


def test_keepalive_reuses_its_connection_and_resends_once_after_the_server_closed_it(server: str) -> None:
    client = KeepAlive()
    try:
        assert client.request("GET", server, "/health", timeout=5) == 200
        first = client.connections[server]
        assert client.request("GET", server, "/missing", timeout=5) == 404
        assert client.connections[server] is first  # kept alive: same connection
        assert client.request("GET", server, "/once", timeout=5) == 200  # server closes after this reply
        assert client.request("GET", server, "/health", timeout=5) == 200  # stale connection: sent again
    finally:
        client.close()
    assert client.connections == {}
