"""Nothing left behind: inspect a stack for fault residue, restore it, and stop every fault anywhere.

Residue is a toxic on any proxy, a disabled proxy, a paused group, or a pressure cgroup. The
chaos fixture checks after every test and the stack fixture at session end; a dirty stack is
restored and the run fails, naming what was left. ``emergency_stop()`` (``aisys-verify chaos
emergency-stop``) works from any shell from the state records alone: it resets each running
stack's Toxiproxy, resumes every recorded group process (SIGCONT) and paused container, and
removes pressure cgroups and their stress workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aisys_verify.faults import pressure

if TYPE_CHECKING:
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.stack.base import Stack


@dataclass
class Residue:
    toxics: dict[str, list[str]] = field(default_factory=dict)  # proxy -> toxic names
    disabled: list[str] = field(default_factory=list)  # proxy names
    paused: list[str] = field(default_factory=list)  # host/group
    cgroups: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.toxics or self.disabled or self.paused or self.cgroups)

    def describe(self) -> str:
        parts = []
        if self.toxics:
            shown = ", ".join(f"{p}: {', '.join(t)}" for p, t in list(self.toxics.items())[:5])
            parts.append(f"{sum(len(t) for t in self.toxics.values())} toxic(s) on {len(self.toxics)} proxy(ies) "
                         f"({shown}{', ...' if len(self.toxics) > 5 else ''})")
        if self.disabled:
            parts.append(f"{len(self.disabled)} disabled proxy(ies) ({', '.join(self.disabled[:5])}"
                         f"{', ...' if len(self.disabled) > 5 else ''})")
        if self.paused:
            parts.append(f"paused group(s): {', '.join(self.paused)}")
        if self.cgroups:
            parts.append(f"pressure cgroup(s): {', '.join(self.cgroups)}")
        return "; ".join(parts) or "clean"


def inspect(stack: Stack) -> Residue:
    residue = Residue()
    if stack.proxies:
        client = stack.toxiproxy_client
        residue.toxics = client.active_toxics()
        residue.disabled = sorted(name for name, body in client.proxies().items() if not body.get("enabled", True))
    residue.paused = [f"{h}/{g}" for h, g in stack.paused_groups()]
    stack_id = getattr(stack, "stack_id", None)
    residue.cgroups = [str(p) for p in pressure.leftover_cgroups() if stack_id and p.name.startswith(f"{stack_id}.")]
    return residue


def restore(stack: Stack) -> Residue:
    """Remove whatever residue there is; returns what was found (before the restore)."""
    residue = inspect(stack)
    if residue.toxics or residue.disabled:
        stack.toxiproxy_client.reset()
    for key in residue.paused:
        host, group = key.split("/", 1)
        stack.resume_group(host, group)
    if residue.cgroups:
        pressure.remove_leftovers()
    return residue


def emergency_stop() -> list[str]:
    """Stop every fault of every stack on this machine (any owner, any shell); lines saying what was done."""
    from aisys_verify.stack import state
    from aisys_verify.stack.toxiproxy import ToxiproxyClient, ToxiproxyError

    done: list[str] = []
    for record, live in state.list_stacks():
        if record.toxiproxy_api:
            host, port = record.toxiproxy_api.rsplit(":", 1)
            client = ToxiproxyClient(host, int(port), timeout=5.0)
            try:
                toxics = client.active_toxics()
                disabled = [n for n, b in client.proxies().items() if not b.get("enabled", True)]
                client.reset()
                done.append(f"stack {record.stack_id}: Toxiproxy reset ({sum(map(len, toxics.values()))} toxic(s) "
                            f"removed, {len(disabled)} proxy(ies) re-enabled)")
            except ToxiproxyError as exc:
                done.append(f"stack {record.stack_id}: Toxiproxy at {record.toxiproxy_api} not reachable ({exc})")
        resumed = 0
        for proc in live:
            if proc.role == "group" and state.process_state(proc.pid) in ("T", "t"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.pid, signal.SIGCONT)
                    resumed += 1
            elif proc.role == "stress":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if resumed:
            done.append(f"stack {record.stack_id}: resumed {resumed} paused group process(es)")
        if record.backend == "compose":
            done += _unpause_containers(record.stack_id)
    removed = pressure.remove_leftovers()
    if removed:
        done.append(f"removed {len(removed)} pressure cgroup(s) and their stress workers")
    return done


def _unpause_containers(stack_id: str) -> list[str]:
    from aisys_verify.errors import VerifyError
    from aisys_verify.stack.docker import LABEL_STACK, run_docker

    try:
        found = run_docker("ps", "--filter", f"label={LABEL_STACK}={stack_id}", "--filter", "status=paused",
                           "--format", "{{.ID}}", check=False, timeout=30).stdout.split()
    except VerifyError:
        return []
    for cid in found:
        run_docker("unpause", cid, check=False, timeout=30)
    return [f"stack {stack_id}: unpaused {len(found)} container(s)"] if found else []


# --- the plugin's policy: what a fixture does with residue ---------------------------------------------


def fault_residue(stack: Stack) -> str:
    """Toxics, disabled proxies, paused groups or pressure cgroups left behind: removed, and described
    ("" when clean)."""
    from aisys_verify.errors import VerifyError

    try:
        residue = restore(stack)
    except VerifyError as exc:
        return f"the hygiene check could not run: {exc}"
    return "" if residue.clean else residue.describe()


def session_residue(stack: Stack) -> str | None:
    """At the end of a session: why it fails when faults were left on the stack (they are removed), or None."""
    residue = fault_residue(stack)
    return f"faults left on the stack at the end of the session (now removed): {residue}" if residue else None


def chaos_teardown(chaos: Chaos, stack: Stack) -> str | None:
    """After a test's chaos: every fault reverted, the journal and its timeline attached (when any fault ran),
    the stack checked; why the test fails (a revert error, residue), or None."""
    errors = chaos.reset()
    if chaos.history:
        from aisys_verify.faults.timeline import timeline_svg
        from aisys_verify.report.allure import attach_json, attach_svg

        journal = chaos.journal()
        attach_json("chaos journal", journal)
        attach_svg("chaos timeline", timeline_svg(journal))
    residue = fault_residue(stack)
    if errors or residue:
        return "chaos teardown: " + "; ".join([*errors, *([f"left behind: {residue}"] if residue else [])])
    return None
