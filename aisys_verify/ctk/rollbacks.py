"""Chaos Toolkit rollbacks (``type: python``, module ``aisys_verify.ctk.rollbacks``)."""

from __future__ import annotations

from typing import Any

from aisys_verify.faults import ctkstate as state

__all__ = ["reset_toxics", "resume_groups", "revert_all", "wait_healthy"]

Configuration = dict[str, Any] | None


def revert_all(configuration: Configuration = None) -> dict[str, Any]:
    """Revert every fault this run applied, then remove whatever residue the stack still shows (toxics, disabled
    proxies, paused groups, pressure cgroups)."""
    state.watch_stop()
    stack_id = state.stack_id_of(configuration)
    state.stack_for(configuration)  # attach, so the residue of another process's faults is removed too
    done: dict[str, Any] = state.revert_all_faults(stack_id).get(stack_id, {})
    return done


def reset_toxics(configuration: Configuration = None) -> dict[str, Any]:
    """Toxiproxy ``/reset``: every toxic removed, every proxy enabled."""
    stack = state.stack_for(configuration)
    stack.toxiproxy_client.reset()
    return {"stack_id": stack.stack_id, "reset": True}


def resume_groups(configuration: Configuration = None) -> dict[str, Any]:
    """Resume every paused group."""
    stack = state.stack_for(configuration)
    paused = list(stack.paused_groups())
    for host, group in paused:
        stack.resume_group(host, group)
    return {"resumed": [f"{h}/{g}" for h, g in paused]}


def wait_healthy(timeout_s: float = 30.0, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until every agent answers /health ok; the seconds it took (a failure names the laggards)."""
    return {"healthy_after_s": round(state.chaos_for(configuration).wait_healthy(timeout=timeout_s), 3)}
