"""aisys_verify.httpjson against a real local HTTP server: a 5xx is a reply, text stays text, no server raises."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aisys_verify.httpjson import http_json


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._reply(503, json.dumps({"error": "overloaded", "echo": sent}).encode(), {"X-Trace-Id": "abc"})

    def do_GET(self) -> None:
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
