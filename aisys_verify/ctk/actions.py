"""Chaos Toolkit actions (``type: python``, module ``aisys_verify.ctk.actions``): every fault of the ``Chaos``
API, standing a stack up or down, and the steady-state watch of our scenarios' ``runtime.during``.

A fault action applies the fault, proves it took effect (the efficacy evidence is the action's output),
and with ``duration_s`` > 0 holds it that long and reverts it (the output then has ``recovery_s``);
without, the fault stays on until a rollback (``aisys_verify.ctk.rollbacks.revert_all``), the control's
end of the experiment, or ``aisys-verify chaos emergency-stop``. The stack is the configuration's
``aisys_stack`` (a stack id from ``aisys-verify up``), or the one ``stand_up`` started in this run.
"""

from __future__ import annotations

import time
from typing import Any

from aisys_verify.faults import ctkstate as state

__all__ = ["bandwidth", "blackhole", "cpu_pressure", "hold", "isolate", "kill", "latency", "limit_data",
           "memory_pressure", "partition", "partition_hosts", "pause", "recover", "reset_peer", "restart", "slicer",
           "slow_close", "stand_down", "stand_up", "terminate", "toxic", "watch_steady_state"]

Configuration = dict[str, Any] | None


def _fault(name: str, args: dict[str, Any], duration_s: float, configuration: Configuration) -> dict[str, Any]:
    chaos = state.chaos_for(configuration)
    fault = getattr(chaos, name)(**args)
    out: dict[str, Any] = {"fault": fault.describe(), "applied_at": fault.applied_at}
    if fault.efficacy is not None:
        out["efficacy"] = {"effective": fault.efficacy.effective, "evidence": fault.efficacy.evidence,
                           "measured": fault.efficacy.measured}
    if duration_s > 0:
        time.sleep(duration_s)  # Ctrl-C lands here as KeyboardInterrupt; the control reverts the fault
        fault.revert()
        out["reverted_at"] = fault.reverted_at
        if fault.recovery_s is not None:
            out["recovery_s"] = fault.recovery_s
    return out


def latency(edge: str, ms: int, jitter_ms: int = 0, stream: str = "downstream", toxicity: float = 1.0,
            duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Add ``ms`` of latency (± ``jitter_ms``) on an edge (``Caller->Callee``, globs allowed)."""
    return _fault("latency", {"edge": edge, "ms": ms, "jitter_ms": jitter_ms, "stream": stream,
                              "toxicity": toxicity}, duration_s, configuration)


def bandwidth(edge: str, kb_per_s: int, stream: str = "downstream", duration_s: float = 0,
              configuration: Configuration = None) -> dict[str, Any]:
    """Limit an edge to ``kb_per_s`` KB/s."""
    return _fault("bandwidth", {"edge": edge, "kb_per_s": kb_per_s, "stream": stream}, duration_s, configuration)


def slow_close(edge: str, delay_ms: int, stream: str = "downstream", duration_s: float = 0,
               configuration: Configuration = None) -> dict[str, Any]:
    """Delay closing an edge's connections by ``delay_ms``."""
    return _fault("slow_close", {"edge": edge, "delay_ms": delay_ms, "stream": stream}, duration_s, configuration)


def blackhole(edge: str, close_after_ms: int = 0, stream: str = "downstream", duration_s: float = 0,
              configuration: Configuration = None) -> dict[str, Any]:
    """Swallow an edge's data (Toxiproxy ``timeout``), closing after ``close_after_ms`` (0: never)."""
    return _fault("blackhole", {"edge": edge, "close_after_ms": close_after_ms, "stream": stream}, duration_s,
                  configuration)


def reset_peer(edge: str, after_ms: int = 0, stream: str = "downstream", duration_s: float = 0,
               configuration: Configuration = None) -> dict[str, Any]:
    """Reset an edge's connections (TCP RST) after ``after_ms``."""
    return _fault("reset_peer", {"edge": edge, "after_ms": after_ms, "stream": stream}, duration_s, configuration)


def slicer(edge: str, average_size: int, size_variation: int = 0, delay_us: int = 0, stream: str = "downstream",
           duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Slice an edge's data into small packets."""
    return _fault("slicer", {"edge": edge, "average_size": average_size, "size_variation": size_variation,
                             "delay_us": delay_us, "stream": stream}, duration_s, configuration)


def limit_data(edge: str, limit_bytes: int, stream: str = "downstream", duration_s: float = 0,
               configuration: Configuration = None) -> dict[str, Any]:
    """Close an edge's connections after ``limit_bytes``."""
    return _fault("limit_data", {"edge": edge, "limit_bytes": limit_bytes, "stream": stream}, duration_s,
                  configuration)


def toxic(edge: str, toxic_type: str, attributes: dict[str, int], stream: str = "downstream", toxicity: float = 1.0,
          duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Any Toxiproxy toxic by its type and attributes."""
    return _fault("toxic", {"edge": edge, "toxic_type": toxic_type, "attributes": attributes, "stream": stream,
                            "toxicity": toxicity}, duration_s, configuration)


def partition(edge: str, duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Cut an edge (its proxy disabled)."""
    return _fault("partition", {"edge": edge}, duration_s, configuration)


def isolate(agent: str, duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Cut every edge into and out of an agent."""
    return _fault("isolate", {"agent": agent}, duration_s, configuration)


def partition_hosts(first: str, second: str, duration_s: float = 0,
                    configuration: Configuration = None) -> dict[str, Any]:
    """Cut every edge between two hosts."""
    return _fault("partition_hosts", {"first": first, "second": second}, duration_s, configuration)


def kill(group: str, host: str | None = None, duration_s: float = 0,
         configuration: Configuration = None) -> dict[str, Any]:
    """SIGKILL a group (``host/group``); reverting restarts it (needs a stack this process stood up)."""
    return _fault("kill", {"group": group, "host": host}, duration_s, configuration)


def terminate(group: str, host: str | None = None, duration_s: float = 0,
              configuration: Configuration = None) -> dict[str, Any]:
    """SIGTERM a group; reverting restarts it."""
    return _fault("terminate", {"group": group, "host": host}, duration_s, configuration)


def pause(group: str, host: str | None = None, duration_s: float = 0,
          configuration: Configuration = None) -> dict[str, Any]:
    """Freeze a group (SIGSTOP, docker pause); reverting resumes it."""
    return _fault("pause", {"group": group, "host": host}, duration_s, configuration)


def restart(group: str, host: str | None = None, configuration: Configuration = None) -> dict[str, Any]:
    """Kill a group and bring it back at once; ``recovery_s``: seconds until its agents were healthy."""
    return {"group": group, "recovery_s": state.chaos_for(configuration).restart(group, host)}


def cpu_pressure(group: str, host: str | None = None, cpu_percent: int = 20, workers: int = 1,
                 duration_s: float = 0, configuration: Configuration = None) -> dict[str, Any]:
    """Take ``cpu_percent`` of the CPU beside a group (stress workers in its cgroup)."""
    return _fault("cpu_pressure", {"group": group, "host": host, "cpu_percent": cpu_percent, "workers": workers},
                  duration_s, configuration)


def memory_pressure(group: str, host: str | None = None, megabytes: int = 64, duration_s: float = 0,
                    configuration: Configuration = None) -> dict[str, Any]:
    """Hold ``megabytes`` of memory beside a group."""
    return _fault("memory_pressure", {"group": group, "host": host, "megabytes": megabytes}, duration_s,
                  configuration)


def hold(seconds: float) -> dict[str, Any]:
    """Wait ``seconds`` (a scenario's ``pause_s`` step), faults staying as they are."""
    time.sleep(seconds)
    return {"held_s": seconds}


def stand_up(spec: list[str], backend: str = "local", spec_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """Stand the spec up in this process for the experiment (stopped by ``stand_down`` or the control at the end);
    the later activities act on it unless the configuration names another stack."""
    from aisys_verify.stack.base import StackOptions, backend_class

    stack = backend_class(backend)(list(spec), dict(spec_vars or {}), StackOptions(), progress=lambda line: None)
    stack.start()
    state.adopt(stack)
    return {"stack_id": stack.stack_id, "agents": len(stack.endpoints())}


def stand_down(configuration: Configuration = None) -> dict[str, Any]:
    """Revert this run's faults on the stack and stop it if this run stood it up."""
    stack_id = state.stack_id_of(configuration)
    return {"stack_id": stack_id, "stopped": state.release(stack_id)}


def watch_steady_state(probes: list[dict[str, Any]], interval_s: float = 1.0, abort_after: int = 0,
                       configuration: Configuration = None) -> dict[str, Any]:
    """Start probing ``probes`` (our scenario probes) every ``interval_s`` in the background, as our engine's
    ``runtime.during`` does; ``probes.held_during`` reports whether it broke ``abort_after`` times in a row."""
    state.watch_start(state.stack_for(configuration), probes, interval_s, abort_after)
    return {"watching": len(probes), "interval_s": interval_s}


def recover(timeout_s: float = 30.0, configuration: Configuration = None) -> dict[str, Any]:
    """End of our method: stop the watch, revert every fault still on, wait until every agent is healthy (our
    engine reverts faults before it checks the steady state after; Chaos Toolkit checks it before rollbacks)."""
    watched = state.watch_stop()
    stack_id = state.stack_id_of(configuration)
    done = state.revert_all_faults(stack_id).get(stack_id, {})
    seconds = state.chaos_for(configuration).wait_healthy(timeout=timeout_s)
    return {**done, "healthy_after_s": round(seconds, 3), "during": watched}
