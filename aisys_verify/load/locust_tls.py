"""mTLS for the Locust users: a user class whose host a running stack serves with TLS presents the stack's client
certificate and trusts only the run's CA (imported only inside Locust processes, by the locustfile and userfile).

The Locust processes inherit ``AISYS_TLS_CLIENT`` (tlsclient; the runner adds the target stack's own file), so
they know the same TLS peers as the process that started them. Locust's FastHttpUser is unverified and presents
no certificate by default (``insecure``): for a listed peer it gets ``insecure = False`` and a context factory
giving the stack's client context; a team's requests-based HttpUser gets the same files as its session's
``verify`` and ``cert``. A peer no stack lists keeps Locust's own behaviour, and an ``http://`` host stays
plaintext (the TLS peer refuses it: no fallback).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from aisys_verify.tlsclient import ClientTls, client_for


class StackContextFactory:
    """What geventhttpclient calls for each connection pool (``factory(cafile=...)``): the stack's client context.
    An instance, not a function, so that a class attribute holding it is not bound as a method."""

    def __init__(self, tls: ClientTls) -> None:
        self.tls = tls

    def __call__(self, cafile: str | None = None) -> ssl.SSLContext:
        # cafile is geventhttpclient's default bundle (certifi): the run's CA replaces it, nothing else is trusted
        import gevent.ssl  # type: ignore[import-untyped]

        kind: type[ssl.SSLContext] = gevent.ssl.SSLContext
        return self.tls.context(kind)


def stack_tls(host: str | None) -> ClientTls | None:
    """The client files for ``host`` (a base URL) when a running stack serves it with TLS, else None."""
    if not host:
        return None
    parts = urlsplit(host)
    if parts.scheme != "https":
        return None
    return client_for(parts.hostname or "", parts.port or 443)


def _is(base: type, name: str, module: str) -> bool:
    """``base`` subclasses Locust's class ``name`` (by its MRO: importing Locust outside a Locust process would
    monkey-patch that process with gevent)."""
    return any(c.__name__ == name and c.__module__ == module for c in base.__mro__)


def tls_attrs(base: type, host: str | None) -> dict[str, Any]:
    """Class attributes for a subclass of ``base`` going to ``host``; {} when no stack serves it with TLS or the
    class brings its own TLS settings."""
    tls = stack_tls(host or getattr(base, "host", None))
    if tls is None:
        return {}
    if _is(base, "FastHttpUser", "locust.contrib.fasthttp"):
        if getattr(base, "ssl_context_factory", None) is not None:  # the team's own TLS: theirs to keep
            return {}
        return {"insecure": False, "ssl_context_factory": StackContextFactory(tls)}
    if _is(base, "HttpUser", "locust.user.users"):
        def __init__(self: Any, environment: Any) -> None:
            base.__init__(self, environment)  # type: ignore[misc]
            self.client.verify = str(tls.ca)
            self.client.cert = (str(tls.cert), str(tls.key))

        return {"__init__": __init__}
    return {}
