"""A real HTTPS server requiring a client certificate from a run's CA (the stand-ins' server context), for the tests
of the framework's TLS clients: it records who was answered (the client certificate's common name) and each
refused handshake's reason as OpenSSL gave it on the server's side."""

from __future__ import annotations

import contextlib
import http.server
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.pki_mint import TestPki, make_pki
from aisys_verify.standin.tls import TlsEndpoint, server_context
from aisys_verify.tlsclient import TLS_CLIENT_ENV, forget, write_client_tls

CLIENT = "aisys-verify"


@dataclass
class MtlsServer:
    pki: TestPki
    port: int
    client_file: Path  # tls-client.json naming 127.0.0.1:port as a TLS peer (not yet trusted)
    answered: list[str] = field(default_factory=list)  # the client certificate's CN of each request answered
    refused: list[str] = field(default_factory=list)  # the server-side reason of each failed handshake

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    record: MtlsServer

    def get_request(self) -> tuple[Any, Any]:
        try:
            return super().get_request()  # accept() on the TLS socket: the handshake
        except ssl.SSLError as exc:
            self.record.refused.append(str(exc.reason or exc))
            raise


@contextlib.contextmanager
def mtls_server(folder: Path) -> Iterator[MtlsServer]:
    """The server on 127.0.0.1 (GET anything: 200 ``{"status": "ok"}``); the process's ``AISYS_TLS_CLIENT`` is
    restored at the end."""
    pki = make_pki(folder / "pki", {"srv": ["127.0.0.1"]}, clients=(CLIENT,))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept alive, as load drivers expect

        def do_GET(self) -> None:
            peer = self.connection.getpeercert()
            subject = dict(item[0] for item in peer.get("subject", ())) if peer else {}
            server.record.answered.append(str(subject.get("commonName", "")))
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    context = server_context(TlsEndpoint(pki.server("srv").cert, pki.server("srv").key, pki.ca, "required"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    client = pki.client(CLIENT)
    server.record = MtlsServer(pki, port, write_client_tls(folder / "tls-client.json", pki.ca, client.cert,
                                                           client.key, [("127.0.0.1", port)]))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # shutdown() waits a poll
    thread.start()
    saved = os.environ.get(TLS_CLIENT_ENV)
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
        forget(server.record.client_file)
        if saved is not None:
            os.environ[TLS_CLIENT_ENV] = saved
