"""The client side of a stack's TLS: which peers (address, port) serve HTTPS, and the context a client of
this process presents to them (the stack's CA, its client certificate).

A stack with TLS on writes ``<workdir>/secrets/tls-client.json``::

    {"ca": ".../pki/ca.pem", "cert": ".../client/aisys-verify.pem", "key": "...", "peers": ["127.9.4.2:8080", ...]}

and names it in ``AISYS_TLS_CLIENT`` (files joined by os.pathsep: several stacks of one run), so this
process, its launcher's health gate and a subprocess such as ``aisys-verify probe`` all find it.
``aisys_verify.httpjson`` asks ``context_for(address, port)`` for every connection: a listed peer gets a
verified TLS connection with the client certificate. Nothing falls back to plaintext: an ``http://`` URL
to a TLS peer is sent in plaintext and refused by the peer, which is the error the caller sees.

A leaf module (stdlib only): the HTTP client, the stack backends and the probe all import it.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from aisys_verify.errors import UsageError

__all__ = ["TLS_CLIENT_ENV", "ClientTls", "client_for", "context_for", "forget", "trust", "write_client_tls"]

TLS_CLIENT_ENV = "AISYS_TLS_CLIENT"


@dataclass(frozen=True)
class ClientTls:
    """What a client presents to one stack's TLS peers."""

    ca: Path
    cert: Path
    key: Path
    peers: frozenset[tuple[str, int]]

    def context(self, kind: type[ssl.SSLContext] = ssl.SSLContext) -> ssl.SSLContext:
        """``kind``: the context class (gevent's in a Locust process, whose sockets are gevent's)."""
        ctx = kind(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name (SAN)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def write_client_tls(path: Path, ca: Path, cert: Path, key: Path, peers: Iterable[tuple[str, int]]) -> Path:
    path.write_text(json.dumps({"ca": str(ca), "cert": str(cert), "key": str(key),
                                "peers": sorted(f"{a}:{p}" for a, p in set(peers))}, indent=1), encoding="utf-8")
    return path


@lru_cache(maxsize=16)
def _load(path: str) -> tuple[ClientTls, ssl.SSLContext]:
    """One file, read once (a stack writes it before naming it; it never changes afterwards)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        peers = frozenset((p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in raw["peers"])
        tls = ClientTls(Path(raw["ca"]), Path(raw["cert"]), Path(raw["key"]), peers)
        return tls, tls.context()
    except (OSError, ValueError, KeyError, IndexError, ssl.SSLError) as exc:
        raise UsageError(f"{TLS_CLIENT_ENV}: {path}: cannot read the stack's client TLS file ({exc}); unset it or "
                         "point it at <workdir>/secrets/tls-client.json of a running stack") from exc


def _files() -> list[str]:
    return [p for p in os.environ.get(TLS_CLIENT_ENV, "").split(os.pathsep) if p.strip()]


def _peer(address: str, port: int | None) -> tuple[ClientTls, ssl.SSLContext] | None:
    if port is None:
        return None
    for path in _files():
        tls, ctx = _load(path)
        if (address, port) in tls.peers:
            return tls, ctx
    return None


def context_for(address: str, port: int | None) -> ssl.SSLContext | None:
    """The client context for a TLS peer of a stack this process knows, else None (plain HTTP there)."""
    found = _peer(address, port)
    return None if found is None else found[1]


def client_for(address: str, port: int | None) -> ClientTls | None:
    """The files a client presents to a TLS peer of a stack this process knows (for a client that builds its own
    context, such as the Locust users), else None."""
    found = _peer(address, port)
    return None if found is None else found[0]


def trust(path: Path) -> ClientTls:
    """Name the stack's client TLS file in this process's ``AISYS_TLS_CLIENT`` (its subprocesses inherit it); read
    afresh (a stack rewrites it when it learns more peers)."""
    _load.cache_clear()
    tls, _ = _load(str(path))
    files = _files()
    if str(path) not in files:
        os.environ[TLS_CLIENT_ENV] = os.pathsep.join([*files, str(path)])
    return tls


def forget(path: Path) -> None:
    """The stack has stopped: drop its file from ``AISYS_TLS_CLIENT``."""
    files = [p for p in _files() if p != str(path)]
    if files:
        os.environ[TLS_CLIENT_ENV] = os.pathsep.join(files)
    else:
        os.environ.pop(TLS_CLIENT_ENV, None)
