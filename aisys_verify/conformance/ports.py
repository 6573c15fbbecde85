"""The agent listens on the spec's ``port`` and ``health_check_port``, and it is the agent that answers there.

Who answers a port is read from its health reply (``aisys_verify.health``): the ideal shape's ``agent``
field, the real reply's ``"<Name> is healthy"`` message, or ``health_details.port``. When nothing
listens, the readiness key tells the two start defects apart (PROTOCOL.md §4): a key whose record names
another port is an agent that bound that port instead (``binds_wrong_port``); no key at all is an agent
that is not running (``double_bind`` makes it exit at start with EADDRINUSE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed
from aisys_verify.health import read_reply

if TYPE_CHECKING:
    from aisys_verify.stack.base import Stack

CHECK = "listens"
CONTRACT = ("the agent listens on the spec's port and health_check_port (main socket bound on tcp://*:<port>, "
            "PROTOCOL.md §4), and what answers there is that agent")


def identity(reply: Any) -> tuple[str | None, int | None]:
    """(agent name, port it says it serves) from a health reply of either shape; None where it does not say."""
    if not isinstance(reply, Mapping):
        return None, None
    name = read_reply(reply).agent
    details = reply.get("health_details")
    port = details.get("port") if isinstance(details, Mapping) else None
    return name, port if isinstance(port, int) and not isinstance(port, bool) else None


def running(target: wire.Target) -> bool:
    """Anything listening on either of the agent's spec ports."""
    ep = target.endpoint
    return wire.listening(ep.address, ep.port) or wire.listening(ep.address, ep.health_port)


def main_is_http(target: wire.Target) -> bool:
    """The main port serves HTTP, not ZeroMQ: the real ObservabilityHub does (PROTOCOL.md §5), so ZeroMQ frames
    are not its protocol there (a ZeroMQ socket drops an HTTP request at its first bytes: False)."""
    return wire.http_get(target.endpoint.address, target.endpoint.port, "/health", 0.5) is not None


HTTP_MAIN = "its main port serves HTTP, not ZeroMQ (as the real ObservabilityHub's, PROTOCOL.md §5)"


def not_running_reason(target: wire.Target) -> str:
    return f"nothing listens on {target.name}'s spec ports {target.endpoint.port}/{target.endpoint.health_port} " \
           "(see its 'listens' check)"


def check_listens(target: wire.Target, options: ConformanceOptions, stack: Stack | None = None) -> CheckResult:
    ep = target.endpoint
    main_open, health_open = wire.listening(ep.address, ep.port), wire.listening(ep.address, ep.health_port)
    if not main_open and not health_open:
        return _silent(target, stack)
    problems: list[str] = []
    defects: list[str] = []
    if not main_open:
        problems.append(f"nothing listens on its spec port {ep.port}")
    if not health_open:
        problems.append(f"nothing listens on its spec health_check_port {ep.health_port}")
    if health_open:
        reply = wire.parse(wire.exchange(ep.health_url, b'{"action": "health_check"}', options.health_deadline_s))
        name, port = identity(reply)
        if reply is None:
            problems.append(f"its health port {ep.health_port} accepts connections but sent no JSON health reply "
                            f"within {options.health_deadline_s:g} s")
        elif name is not None and name != target.name:
            problems.append(f"its health port {ep.health_port} is answered by {name}, not {target.name}")
            defects.append("binds_wrong_port")
        elif port is not None and port != ep.port:
            problems.append(f"the agent on its health port says it serves port {port}, not the spec's {ep.port}")
            defects.append("binds_wrong_port")
    if main_open:
        reply = wire.parse(wire.exchange(ep.main_url, b'{"action": "ping"}', options.main_deadline_s))
        name, _ = identity(reply)
        if name is not None and name != target.name:
            problems.append(f"its main port {ep.port} is answered by {name}, not {target.name}")
            defects.append("binds_wrong_port")
    if problems:
        return failed(CHECK, target.key, f"{target.name}: " + "; ".join(problems), CONTRACT,
                      dict.fromkeys(defects))
    return passed(CHECK, target.key, f"listens on {ep.port} (main) and {ep.health_port} (health) as {target.name}")


def _silent(target: wire.Target, stack: Stack | None) -> CheckResult:
    """Nothing on either spec port: bound elsewhere (its ready record says where) or not running at all."""
    ep = target.endpoint
    key = wire.read_ready_key(target)
    did = f"{target.name}: nothing listens on its spec port {ep.port} nor its health_check_port {ep.health_port}"
    if key is not None and key.exists:
        bound = key.port
        if bound is not None and bound != ep.port:
            answering = " (and it answers there)" if wire.listening(ep.address, bound) else ""
            return failed(CHECK, target.key, f"{did}; its readiness key {wire.READY_KEY.format(name=target.name)} "
                          f"says it bound port {bound}{answering}", CONTRACT, ["binds_wrong_port"], bound_port=bound)
        return failed(CHECK, target.key, f"{did}, yet its readiness key exists ({key.value!r:.120}): it runs "
                      "somewhere other than the spec's ports", CONTRACT, ["binds_wrong_port"])
    log = _start_failure(target, stack)
    if key is None:
        state = "its host's Redis could not be read, so whether it runs elsewhere is unknown"
    else:
        state = "no readiness key: the agent is not running"
    return failed(CHECK, target.key, f"{did}; {state}{log}", CONTRACT, ["double_bind"])


def _start_failure(target: wire.Target, stack: Stack | None) -> str:
    """The agent's own last words in its group's log, where the backend keeps one (black-box: a log file)."""
    if stack is None:
        return ""
    try:
        path = stack.log_path(*target.group)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
    except (OSError, ValueError):
        return ""
    mine = [line for line in lines if target.name in line and ("exited at start" in line or "EADDRINUSE" in line)]
    if not mine:
        return ""
    line = mine[-1]
    # the launcher's JSON event lines hold every member's reason: show this agent's, from its own words on
    start = line.find("exited at start", max(0, line.find(target.name)))
    shown = line[start:] if start >= 0 else line.strip()
    end = shown.find("EADDRINUSE")
    shown = shown[:end + len("EADDRINUSE")] if end >= 0 else shown[:200]
    return f" (its group's log: {shown.strip()!r})"
