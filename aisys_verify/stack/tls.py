"""TLS on a whole stack's HTTP side (``StackOptions.tls``, ``--aisys-tls`` / ``AISYS_TLS``): what the stack mints,
writes and hands to its processes and clients. Local and compose share it (OwnStack._start_tls).

With a selection such as ``all=required`` (or ``pc2=required,mainpc/Agent=optional``, standin.tls.parse_selection):

- the run's PKI goes to ``<workdir>/secrets/pki`` (aisys_verify.pki_mint.make_pki; it refuses a git tree):
  one server certificate per selected agent whose SANs are every address a client uses for it (the agent's
  own, the stack's proxy addresses, the backend's published one, ``localhost``), one client certificate;
- the TLS plan ``<workdir>/secrets/tls-plan.json`` (standin.tls), named to the group processes by
  ``AISYS_STANDIN_TLS``: each selected agent serves HTTPS with the client authentication asked;
- the client file ``<workdir>/secrets/tls-client.json`` (aisys_verify.tlsclient), named by ``AISYS_TLS_CLIENT``
  in this process and the launcher: every HTTP client of the framework then speaks TLS to those peers.

Toxiproxy works on TCP, so TLS passes through a proxy unchanged: the proxy addresses are in the SANs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.pki_mint import TestPki, make_pki
from aisys_verify.spec.model import Topology
from aisys_verify.standin.tls import TLS_ENV, TlsEndpoint, auth_for, write_tls_plan
from aisys_verify.tlsclient import TLS_CLIENT_ENV, forget, trust, write_client_tls

__all__ = ["CLIENT_NAME", "StackTls", "compose_environ", "mint_stack_tls", "plan_auth"]

CLIENT_NAME = "aisys-verify"  # the client identity every framework client presents


@dataclass
class StackTls:
    """A running stack's TLS: its PKI, the files it wrote, and per agent the client authentication asked for
    (``requested``, from the selection) and the one the plan serves (``served``)."""

    pki: TestPki
    plan: Path
    client_file: Path
    requested: dict[str, str]
    served: dict[str, str]
    peers: set[tuple[str, int]] = field(default_factory=set)

    def serves(self, agent_key: str) -> bool:
        return agent_key in self.served

    def environ(self) -> dict[str, str]:
        """The variables of the stack's processes: the plan (servers) and the client file (health gate)."""
        return {TLS_ENV: str(self.plan), TLS_CLIENT_ENV: str(self.client_file)}

    def add_peers(self, peers: Iterable[tuple[str, int]]) -> None:
        """More addresses clients reach TLS ports at (compose's published ones), written to the client file."""
        self.peers |= set(peers)
        self._write_client()

    def _write_client(self) -> None:
        client = self.pki.client(CLIENT_NAME)
        write_client_tls(self.client_file, self.pki.ca, client.cert, client.key, self.peers)
        trust(self.client_file)

    def close(self) -> None:
        forget(self.client_file)


def plan_auth(agent_key: str, requested: str) -> str:
    """The client authentication the plan writes for an agent: the one asked for (one place, so a mutation
    test can make the stack write something weaker and see the e2e check fail)."""
    return requested


def mint_stack_tls(folder: Path, topology: Topology, selection: Mapping[str, str], sans: Mapping[str, Sequence[str]],
                   peers: Mapping[str, Sequence[tuple[str, int]]]) -> StackTls | None:
    """Mint and write everything into ``folder`` (``<workdir>/secrets``) for the agents ``selection`` picks;
    ``sans``: agent key -> the names on its certificate; ``peers``: agent key -> (address, port) clients use.
    None when the selection picks no agent."""
    requested = {a.key: auth for a in topology.agents if (auth := auth_for(selection, a.key)) is not None}
    if not requested:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    pki = make_pki(folder / "pki", {key: [*dict.fromkeys([*sans[key], "localhost", "127.0.0.1"])]
                                    for key in requested}, clients=(CLIENT_NAME,))
    served = {key: plan_auth(key, auth) for key, auth in requested.items()}
    endpoints = {key: TlsEndpoint(pki.server(key).cert, pki.server(key).key, pki.ca, auth)
                 for key, auth in served.items()}
    plan = write_tls_plan(folder / "tls-plan.json", endpoints)
    tls = StackTls(pki, plan, folder / "tls-client.json", requested, served,
                   {p for key in requested for p in peers.get(key, ())})
    tls._write_client()
    return tls


def compose_environ(stack: Any) -> dict[str, str]:
    """A ComposeStack's TLS, minted on the first call (its render has named every container by then): the
    variables of its group containers, {} when TLS is off. SANs: the agent's alias on the stack network, the
    Toxiproxy service (proxied paths), the host's published address; peers: the alias (the containers' own
    healthcheck) and the published address (this process)."""
    from aisys_verify.stack.compose_names import TOXIPROXY_SERVICE

    def sans(agent: Any) -> list[str]:
        return [stack.plan.address_of(agent.key, agent.host), TOXIPROXY_SERVICE, stack.toxiproxy_address,
                stack.host_addresses[agent.host]]

    def peers(agent: Any) -> list[tuple[str, int]]:
        ports = stack.http_tls_ports(agent)
        return [(a, p) for a in (stack.plan.address_of(agent.key, agent.host), stack.host_addresses[agent.host])
                for p in ports]

    env: dict[str, str] = stack._start_tls(sans, peers)
    if env and stack.tls is not None:
        container_readable(stack.tls)
    return env


def container_readable(tls: StackTls) -> None:
    """The stand-in image runs as its own unprivileged user: what TLS wrote must be readable by it. Folders get
    traverse-only for others, files read; the stack's work folder (0700, mkdtemp) still keeps other users of
    this machine out of all of it."""
    folder = tls.plan.parent
    folder.chmod(0o711)
    for path in [tls.pki.folder, *tls.pki.folder.rglob("*")]:
        path.chmod(0o711 if path.is_dir() else 0o644)
    for path in (tls.plan, tls.client_file):
        path.chmod(0o644)
