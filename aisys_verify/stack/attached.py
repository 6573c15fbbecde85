"""A stack another process runs (``aisys-verify up``), driven from here through its handle file.

The supervisor writes ``<workdir>/stack.json``: the spec, the endpoints, the Toxiproxy API and
the proxies, and each group's process (local backend) or container (compose backend). That is
enough to inject network faults and to pause and resume groups from any shell; killing and
restarting a group stays with the process that owns the stack (it holds the launcher), so an
attached stack does not offer ``kill``/``restart``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError, VerifyError
from aisys_verify.spec.loader import load_spec
from aisys_verify.stack.base import AgentEndpoint
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ProxySpec, ToxiproxyClient

HANDLE = "stack.json"


def write_handle(stack: Any) -> Path:
    """Write the handle of a running stack (LocalStack or ComposeStack) into its work folder."""
    groups = []
    for (host, group), pid in getattr(stack, "group_pids", {}).items():
        groups.append({"host": host, "group": group, "pid": pid})
    for (host, group) in getattr(stack, "services", {}):
        groups.append({"host": host, "group": group, "container": stack.group_container(host, group)})
    handle = {"stack_id": stack.stack_id, "backend": stack.record.backend, "spec": [str(s) for s in stack.spec],
              "spec_vars": dict(stack.spec_vars), "toxiproxy_api": stack.record.toxiproxy_api,
              "proxies": [asdict(p) for p in stack.proxies], "groups": groups,
              "endpoints": [asdict(e) for e in stack.endpoints()],
              "tls_client": str(stack.tls.client_file) if getattr(stack, "tls", None) else None}
    path = Path(stack.workdir) / HANDLE
    path.write_text(json.dumps(handle, indent=1), encoding="utf-8")
    return path


def attach(stack_id: str) -> AttachedStack:
    """The running stack ``stack_id`` (see ``aisys-verify status``)."""
    from aisys_verify.stack.state import list_stacks

    record = next((r for r, live in list_stacks() if r.stack_id == stack_id and live), None)
    if record is None:
        running = ", ".join(r.stack_id for r, live in list_stacks() if live) or "none"
        raise UsageError(f"no running stack {stack_id!r} (running: {running}; start one with 'aisys-verify up')")
    path = Path(record.workdir) / HANDLE
    if not path.is_file():
        raise UsageError(f"stack {stack_id} has no handle file {path}: it was not started by 'aisys-verify up' "
                         "(a pytest session's stack is driven from its own tests)")
    return AttachedStack(json.loads(path.read_text(encoding="utf-8")))


class AttachedStack:
    capabilities = frozenset({"pause", "partition"})
    started_s: float | None = None
    trace_dir: Path | None = None

    def __init__(self, handle: dict[str, Any]) -> None:
        self.handle = handle
        self.stack_id: str = handle["stack_id"]
        self.topology = load_spec(handle["spec"], handle.get("spec_vars") or {})
        self.proxies = [ProxiedEdge(ProxySpec(**p["proxy"]), p["caller"], p["callee"], p["socket"], p["cross_host"])
                        for p in handle["proxies"]]
        self._endpoints = {(e["host"], e["agent"]): AgentEndpoint(**e) for e in handle["endpoints"]}
        self._groups = {(g["host"], g["group"]): g for g in handle["groups"]}
        if handle.get("tls_client"):  # mTLS on: this process's HTTP clients present the stack's certificate
            from aisys_verify.tlsclient import trust

            trust(Path(handle["tls_client"]))
        if self.proxies:
            self.capabilities = self.capabilities | {"network"}
        if handle.get("backend") == "local":  # its proxies listen on this machine's loopback addresses
            self.capabilities = self.capabilities | {"observe-proxies"}

    def start(self) -> float:
        raise VerifyError("an attached stack is already running")

    def stop(self) -> None:
        """Nothing: the stack belongs to its supervisor ('aisys-verify down' stops it)."""

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        host, port = self.handle["toxiproxy_api"].rsplit(":", 1)
        return ToxiproxyClient(host, int(port))

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        found = self.topology.find_agent(agent, host)
        if found is None or (found.host, found.name) not in self._endpoints:
            raise VerifyError(f"no agent {agent!r}{' on ' + host if host else ''} in the spec")
        return self._endpoints[(found.host, found.name)]

    def endpoints(self) -> list[AgentEndpoint]:
        return list(self._endpoints.values())

    def log_path(self, host: str, group: str) -> Path:
        return Path(self.handle.get("workdir", ".")) / "logs" / host / f"{group}.process.log"

    def _signal(self, host: str, group: str, sig: int) -> None:
        entry = self._groups[(host, group)]
        if "pid" in entry:
            os.kill(int(entry["pid"]), sig)
        else:
            from aisys_verify.stack.docker import run_docker

            run_docker("pause" if sig == signal.SIGSTOP else "unpause", entry["container"], check=False)

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        if sig not in (signal.SIGSTOP, signal.SIGCONT):
            raise VerifyError("an attached stack cannot kill a group (its owner would not restart it): "
                              "run the scenario in the process that owns the stack")
        self._signal(host, group, sig)

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        raise VerifyError("an attached stack cannot restart a group")

    def pause_group(self, host: str, group: str) -> None:
        self._signal(host, group, signal.SIGSTOP)

    def resume_group(self, host: str, group: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._signal(host, group, signal.SIGCONT)

    def group_paused(self, host: str, group: str) -> bool:
        from aisys_verify.stack.state import process_state

        entry = self._groups[(host, group)]
        if "pid" in entry:
            return process_state(int(entry["pid"])) in ("T", "t")
        from aisys_verify.stack.docker import run_docker

        status = run_docker("inspect", "--format", "{{.State.Status}}", entry["container"], check=False).stdout
        return status.strip() == "paused"

    def paused_groups(self) -> list[tuple[str, str]]:
        return [key for key in self._groups if self.group_paused(*key)]
