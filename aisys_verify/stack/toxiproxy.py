"""A real toxiproxy-server process and a thin client for the parts of its HTTP API the stack uses.

The server is Shopify's, built from the Go module proxy by ``scripts/system-deps``
(``go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0``, renamed
``toxiproxy-server``). Proxy and toxic management for faults lives in the chaos engine;
here: version, populate (declarative, idempotent), list, enable/disable, reset, delete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import ToxiproxyError as ToxiproxyError
from aisys_verify.faults.toxics import Toxic  # the typed toxics: a model importing nothing but errors
from aisys_verify.httpjson import JSON_HEADERS, http_raw
from aisys_verify.waiting import poll

TOXIPROXY_VERSION = "2.12.0"
SEARCH_PATH = ("/usr/local/bin", str(Path.home() / "go" / "bin"))


@dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str  # "host:port"
    upstream: str  # "host:port"
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled}


def find_server() -> str:
    found = shutil.which("toxiproxy-server") or next(
        (str(Path(d) / "toxiproxy-server") for d in SEARCH_PATH if (Path(d) / "toxiproxy-server").is_file()), None)
    if found is None:
        raise ToxiproxyError("toxiproxy-server is not installed: run scripts/system-deps (it builds Toxiproxy "
                             f"v{TOXIPROXY_VERSION} from the Go module proxy) or put it on PATH")
    return found


class ToxiproxyClient:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.base = f"http://{host}:{port}"
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        try:
            reply = http_raw(method, self.base + path, data, timeout=self.timeout, headers=JSON_HEADERS)
        except OSError as exc:
            raise ToxiproxyError(f"toxiproxy {method} {path}: {exc}") from None
        if reply.status >= 400:
            detail = reply.body.decode(errors="replace")[:500]
            raise ToxiproxyError(f"toxiproxy {method} {path}: HTTP {reply.status}: {detail}")
        return json.loads(reply.body) if reply.body.strip() else None

    def version(self) -> str:
        try:
            reply = http_raw("GET", self.base + "/version", timeout=self.timeout)
        except OSError as exc:
            raise ToxiproxyError(f"toxiproxy /version: {exc}") from None
        if (error := reply.status_error()) is not None:
            raise ToxiproxyError(f"toxiproxy /version: {error}")
        text: str = reply.body.decode().strip()
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
            return str(parsed.get("version", parsed)) if isinstance(parsed, dict) else str(parsed)
        return str(text)

    def populate(self, proxies: list[ProxySpec]) -> list[dict[str, Any]]:
        """Create or replace proxies in one call (unchanged ones keep their connections)."""
        reply = self.request("POST", "/populate", [p.to_json() for p in proxies])
        return list(reply.get("proxies", [])) if isinstance(reply, dict) else list(reply or [])

    def proxies(self) -> dict[str, dict[str, Any]]:
        return dict(self.request("GET", "/proxies") or {})

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.request("POST", f"/proxies/{name}", {"enabled": enabled})

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.request("POST", "/reset")

    def delete(self, name: str) -> None:
        self.request("DELETE", f"/proxies/{name}")

    # --- toxics (typed in aisys_verify.faults.toxics) ------------------------------------------------

    def toxics(self, proxy: str) -> list[Toxic]:
        return [Toxic.from_json(t) for t in self.request("GET", f"/proxies/{proxy}/toxics") or []]

    def add_toxic(self, proxy: str, toxic: Toxic) -> Toxic:
        return Toxic.from_json(self.request("POST", f"/proxies/{proxy}/toxics", toxic.to_json()))

    def update_toxic(self, proxy: str, toxic: Toxic) -> Toxic:
        return Toxic.from_json(self.request("POST", f"/proxies/{proxy}/toxics/{toxic.name}", toxic.to_json()))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.request("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def active_toxics(self) -> dict[str, list[str]]:
        """Proxy name -> names of its toxics, for every proxy that has any (hygiene checks)."""
        return {name: [t["name"] for t in body.get("toxics") or []]
                for name, body in self.proxies().items() if body.get("toxics")}


class ToxiproxyServer:
    """One toxiproxy-server process on ``host:port``, started and stopped by us."""

    def __init__(self, host: str, port: int, log: Path) -> None:
        self.host, self.port, self.log = host, port, log
        self.popen: subprocess.Popen[bytes] | None = None
        self.client = ToxiproxyClient(host, port)

    def start(self, timeout: float = 10.0) -> None:
        binary = find_server()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([binary, "-host", self.host, "-port", str(self.port)], stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, "LOG_LEVEL": os.environ.get("AISYS_TOXIPROXY_LOG",
                                                                                       "warn")})
        popen = self.popen
        if not poll(self._answers, timeout, 0.05, give_up=lambda: popen.poll() is not None).met:
            tail = self.log.read_text(errors="replace")[-800:]
            self.stop()
            raise ToxiproxyError(f"toxiproxy-server did not start on {self.host}:{self.port}: {tail}")

    def _answers(self) -> bool:
        try:
            self.client.version()
            return True
        except ToxiproxyError:
            return False

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
