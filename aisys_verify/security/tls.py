"""TLS on the stand-ins' HTTP side: which agents serve HTTPS (and whether they require a client
certificate), the contexts both ends use, and one attempt judged after a read.

Selection: the *TLS plan* (aisys_verify.standin.tls, re-exported here), a JSON file in the stack's
secrets folder named by the ``AISYS_STANDIN_TLS`` variable of the group processes, keyed by agent or host.

Why judge after a read: under TLS 1.3 the server checks the client certificate after the client
considers the handshake done, so a refused certificate shows only on the first read: as the alert
from a server that sends one (``TLSV13_ALERT_CERTIFICATE_REQUIRED``), as an EOF in violation of the
protocol from asyncio's TLS transport, which aborts the connection without flushing its alert.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.errors import InvalidValue
from aisys_verify.security.pki import Credential
from aisys_verify.standin.tls import (
    CLIENT_AUTH as CLIENT_AUTH,
)
from aisys_verify.standin.tls import (
    TLS_ENV as TLS_ENV,
)
from aisys_verify.standin.tls import (
    TlsEndpoint as TlsEndpoint,
)
from aisys_verify.standin.tls import (
    server_context as server_context,
)
from aisys_verify.standin.tls import (
    server_context_for as server_context_for,
)
from aisys_verify.standin.tls import (
    write_tls_plan as write_tls_plan,
)


def client_context(ca: Path | None, credential: Credential | None = None, *, check_hostname: bool = True,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca`` and presenting ``credential`` (None: no client certificate).
    ``max_version`` below TLS 1.2 lowers OpenSSL's security level so the old protocol is really offered."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    if ca is not None:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if credential is not None:
        ctx.load_cert_chain(credential.cert, credential.key)
    if max_version is not None:
        with warnings.catch_warnings():  # offering a deprecated version is the point of the case
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = max_version
        if max_version < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.0/1.1 only at level 0
    return ctx


@dataclass(frozen=True)
class Outcome:
    """One attempt: ``accepted`` when an HTTP status line came back; else ``stage`` says where it ended
    (``connect``, ``handshake``, ``read``, ``timeout``) and ``detail`` what was observed (the TLS alert)."""

    accepted: bool
    stage: str
    detail: str
    status: int | None = None

    def shown(self) -> str:
        if self.accepted:  # an HTTP status, or what another protocol's valid case read (Redis: +PONG)
            return f"HTTP {self.status}" if self.status is not None else self.detail
        return f"refused at {self.stage}: {self.detail}"


def failure_reason(exc: BaseException) -> str:
    """An exception as a matrix verdict's reason: the TLS alert name for an SSLError, else type and message."""
    if isinstance(exc, ssl.SSLError):
        return f"{type(exc).__name__} {exc.reason or ''} ({exc.strerror or exc})".strip()
    return f"{type(exc).__name__}: {exc}"


def attempt(address: str, port: int, path: str, *, context: ssl.SSLContext | None, server_hostname: str | None = None,
            timeout: float = 5.0) -> Outcome:
    """Connect, handshake (``context`` None: plaintext), send ``GET path``, and read to the end: the verdict
    comes from what was read, never from a timeout (a ``timeout`` outcome is inconclusive, not a refusal)."""
    if timeout <= 0:
        raise InvalidValue(f"timeout must be positive, got {timeout}")
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return Outcome(False, "connect", failure_reason(exc))
    stage = "handshake"
    sock: socket.socket = raw
    try:
        if context is not None:
            # ragged EOFs raise: a server that drops the connection after the handshake (asyncio's TLS
            # transport aborts without sending its alert) shows as SSLEOFError, not as an empty reply
            sock = context.wrap_socket(raw, server_hostname=server_hostname or address, suppress_ragged_eofs=False)
        stage = "read"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError as exc:
        return Outcome(False, "timeout", failure_reason(exc))
    except OSError as exc:  # ssl.SSLError is an OSError: the alert, a reset, an EOF in the middle
        return Outcome(False, stage, failure_reason(exc))
    finally:
        sock.close()
        raw.close()
    head = data.split(b"\r\n", 1)[0].split(b" ")
    if len(head) >= 2 and head[0].startswith(b"HTTP/") and head[1].isdigit():
        return Outcome(True, "read", head[0].decode(), int(head[1]))
    shown = data[:16].hex() if data else "nothing"
    return Outcome(False, "read", f"connection closed without an HTTP reply ({len(data)} bytes: {shown})")
