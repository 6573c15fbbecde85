"""Allure evidence that costs nothing when Allure is off.

Suites call ``step()``, ``attach_json()``, ``attach_text()`` and ``labels()`` unconditionally;
they turn into Allure steps, attachments and labels only when allure-pytest is recording this
run (``--alluredir``). ``allure`` is imported lazily, never at plugin import, and not at all
when nothing records.

The plugin adds the rest: the stand-up of ``aisys_stack`` as a step with one sub-step per
start layer (``StandUpSteps``) and the stack's summary, the agents' log tails on a failing
test, and ``categories.json`` (``CATEGORIES``) and ``environment.properties`` in the results.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


def _anywhere(*patterns: str) -> str:
    """A regex that matches a message containing any of ``patterns``, under both Allure 2 (whole-message
    match, ``.`` stops at newlines) and Allure 3 (search): hence ``[\\s\\S]*`` rather than ``.*``."""
    return r"[\s\S]*(" + "|".join(patterns) + r")[\s\S]*"


# What aisys-verify says when the stack, its tools or its spec are the problem, not the system under test
# (StackStartError, ToxiproxyError, ComposeError, ImageError and the fixtures' own pytest.fail messages).
ENVIRONMENT_PATTERNS = (
    "StackStartError", "ToxiproxyError", "ComposeError", "ImageError",
    "stack failed to (start|settle)", "did not start", "did not listen on", "did not answer on",
    "is not installed", "no progress from the launcher", "the launcher stopped before the stack was ready",
    "needs Docker", "no docker", "images missing or stale", "cannot build the images",
    "no spec configured", "the spec cannot be loaded", "exports no trace files",
)
# A test that could not decide (too few samples, a budget it could not measure) says so in its message.
INCONCLUSIVE_PATTERNS = ("[Ii]nconclusive", "INCONCLUSIVE")
# An exception in the test's own code, not an answer of the system.
TEST_DEFECT_PATTERNS = (
    r"^(TypeError|NameError|AttributeError|ImportError|ModuleNotFoundError|SyntaxError|UnboundLocalError)\b",
    "fixture '[^']+' not found",
)

# First match wins (Allure 2 and 3 alike). Allure 3 reads these from its config (scripts/report builds it
# from this file in the results); Allure 2 reads categories.json in the results as is.
CATEGORIES: list[dict[str, Any]] = [
    {"name": "Inconclusive (not enough evidence to decide)", "matchedStatuses": ["failed", "broken", "skipped"],
     "messageRegex": _anywhere(*INCONCLUSIVE_PATTERNS)},
    {"name": "Environment or set-up (the stack or its tools, not the system)",
     "matchedStatuses": ["failed", "broken"], "messageRegex": _anywhere(*ENVIRONMENT_PATTERNS)},
    {"name": "Test defect (the test's own code broke)", "matchedStatuses": ["broken"],
     "messageRegex": _anywhere(*TEST_DEFECT_PATTERNS)},
    {"name": "Product defect (the system misbehaved)", "matchedStatuses": ["failed", "broken"]},
]


def _allure() -> Any | None:
    """The allure module when allure-pytest is recording this run (``--alluredir``), else None."""
    if "allure_commons" not in sys.modules:  # nothing of Allure loaded: nothing records, import nothing
        return None
    try:
        import allure
        from allure_commons import plugin_manager
    except ImportError:
        return None
    # allure-pytest always registers its helpers; only a recording run registers a listener (attach_data)
    return allure if plugin_manager.hook.attach_data.get_hookimpls() else None


def active() -> bool:
    """Whether Allure records this run."""
    return _allure() is not None


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """An Allure step around the block (failed when the block raises); nothing when Allure is off."""
    allure = _allure()
    if allure is None:
        yield
        return
    with allure.step(title):
        yield


def attach_text(name: str, text: str) -> None:
    allure = _allure()
    if allure is not None:
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def attach_json(name: str, payload: Any) -> None:
    allure = _allure()
    if allure is not None:
        allure.attach(json.dumps(payload, indent=2, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)


def attach_svg(name: str, svg: str) -> None:
    """A picture (SVG text), shown inline by Allure."""
    allure = _allure()
    if allure is not None:
        allure.attach(svg, name=name, attachment_type=allure.attachment_type.SVG)


# Allure's own "host" label names the machine that ran the test (allure-pytest always adds it, and the
# timeline draws one lane per host), so the system's host (mainpc, pc2) gets a label of its own.
LABEL_NAMES = {"host": "system host"}


def labels(**values: str) -> None:
    """Labels such as host=, group=, agent=, suite= on the current test.

    ``suite`` is Allure's own suite label. ``host`` (the system's host: mainpc, pc2) becomes the label
    "system host", since Allure's "host" is the machine that ran the test; ``group``, ``agent`` and any
    other keyword become labels of that name. Each but ``suite`` is also a ``key:value`` tag (filters,
    search).
    """
    allure = _allure()
    if allure is None:
        return
    for key, value in values.items():
        if key == "suite":
            allure.dynamic.suite(value)
        else:
            allure.dynamic.label(LABEL_NAMES.get(key, key), value)
            allure.dynamic.tag(f"{key}:{value}")


# --- the stand-up as steps ------------------------------------------------------------------------

_HEADER = re.compile(r"^aisys-verify: (compose )?stack \S+ .*\b(\d+) start layers")
_CREATED = re.compile(r"^\s*created \d+ containers")
_LAYER = re.compile(r"^\s*layer (\d+)/(\d+) healthy in ")
_READY = re.compile(r"^aisys-verify: (compose )?stack \S+ ready in ")


class StandUpSteps:
    """A stack's stand-up as one Allure step with a sub-step per phase, driven by its progress lines.

    Both backends announce the plan (``stack ID on NET.x: ... K start layers``), then each start layer
    when it is healthy (``  layer k/K healthy in S s: ...``); compose also reports its containers
    (``  created N containers ...``). A phase runs from one line to the next, so its sub-step's duration
    is the phase's: "prepare" (leftovers, Toxiproxy, Redis, proxies), then "layer k/K: groups" for each
    layer (titled from ``layers()`` when the plan is announced). Every line also goes into a "stand-up log"
    attachment. When Allure is off it only keeps the lines.

    Use: ``steps = StandUpSteps(title, layers)``; pass ``steps.line`` (or call it) as the progress
    callback; ``with steps: stack.start()``.
    """

    def __init__(self, title: str, layers: Callable[[], Sequence[Sequence[tuple[str, str]]]] = lambda: ()) -> None:
        self.title = title
        self.layers = layers
        self.lines: list[str] = []
        self._outer: contextlib.AbstractContextManager[None] | None = None
        self._phase: contextlib.AbstractContextManager[None] | None = None
        self._plan: list[Sequence[tuple[str, str]]] = []
        self._compose = False
        self._thread: int | None = None

    def __enter__(self) -> StandUpSteps:
        self._thread = threading.get_ident()  # Allure's step stack is this thread's: lines from others are only kept
        if active():
            self._outer = step(self.title)
            self._outer.__enter__()
            self._open("prepare: leftovers reaped, Toxiproxy and Redis started, proxies created")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._outer is None:
            return
        self._close(exc_type, exc, tb)
        if self.lines:
            attach_text("stand-up log", "\n".join(self.lines))
        outer, self._outer = self._outer, None
        outer.__exit__(exc_type, exc, tb)

    def line(self, text: str) -> None:
        self.lines.append(text)
        if self._outer is None or threading.get_ident() != self._thread:
            return
        if match := _HEADER.match(text):
            self._close()
            self._compose = bool(match.group(1))
            with contextlib.suppress(Exception):
                self._plan = [list(layer) for layer in self.layers()]
            if not self._plan:
                self._plan = [[] for _ in range(int(match.group(2)))]
            if self._compose:
                self._open("create the containers, start Redis and Toxiproxy")
            else:
                self._open_layer(1)
        elif _CREATED.match(text):
            self._close()
            self._open_layer(1)
        elif match := _LAYER.match(text):
            self._close()
            done, total = int(match.group(1)), int(match.group(2))
            if done < total:
                self._open_layer(done + 1)
        elif _READY.match(text):
            self._close()
        elif self._phase is None:  # a line between phases (compose: all agents ok together): an instant step
            with step(text.strip()):
                pass

    def _open_layer(self, index: int) -> None:
        total = len(self._plan)
        groups = self._plan[index - 1] if 0 < index <= total else []
        names = ", ".join(f"{host}/{group}" for host, group in groups)
        self._open(f"start layer {index}/{total}" + (f": {names}" if names else ""))

    def _open(self, title: str) -> None:
        self._phase = step(title)
        self._phase.__enter__()

    def _close(self, exc_type: type[BaseException] | None = None, exc: BaseException | None = None,
               tb: TracebackType | None = None) -> None:
        phase, self._phase = self._phase, None
        if phase is None:
            return
        if exc is None:
            phase.__exit__(None, None, None)
            return
        with contextlib.suppress(BaseException):  # the step records the failure and re-raises it: the caller's
            phase.__exit__(exc_type, exc, tb)


def stack_summary(stack: Any, backend: str, started_at: float) -> dict[str, Any]:
    """What a report reader needs to know about a stood-up stack (attached as "stack summary")."""
    topology = stack.topology
    proxies = list(getattr(stack, "proxies", []))
    layers = list(getattr(stack, "layers", []))
    return {
        "stack_id": stack.stack_id,
        "backend": backend,
        "spec": [str(s) for s in getattr(stack, "spec", [])],
        "network": f"{stack.network}.x" if getattr(stack, "network", None) else None,
        "agents": len(topology.agents),
        "agents_per_host": {h.name: len(h.agents) for h in topology.hosts},
        "groups": sum(len(layer) for layer in layers),
        "start_layers": len(layers),
        "proxies": len(proxies),
        "cross_host_proxies": sum(1 for p in proxies if getattr(p, "cross_host", False)),
        "started_at": datetime.datetime.fromtimestamp(started_at, datetime.UTC).isoformat(timespec="seconds"),
        "stand_up_s": round(stack.started_s, 3) if stack.started_s is not None else None,
        "trace_dir": str(stack.trace_dir) if getattr(stack, "trace_dir", None) else None,
        "workdir": str(stack.workdir) if getattr(stack, "workdir", None) else None,
        # compose: each image its containers run, by image ID and registry digests (docs/security.md)
        "images": list(getattr(getattr(stack, "record", None), "images", None) or []),
    }


def attach_stack_logs(stack: Any, since: float | None = None, lines: int = 20) -> list[str]:
    """The stack's logs, for a failing test: returns the names of the attachments made.

    * "agent logs": each agent's own JSON log (``<workdir>/logs/<host>/<Agent>.log``), only the lines
      logged at or after ``since`` (epoch seconds: the test's start), the last ``lines`` per agent, agents
      with nothing in that window left out;
    * "group process logs": the last ``lines`` of every group process's output (crashes, tracebacks).
    """
    made = []
    workdir = getattr(stack, "workdir", None)
    logs = Path(workdir) / "logs" if workdir else None
    agent_tails = []
    for agent in stack.topology.agents if logs else ():
        path = logs / agent.host / f"{agent.name}.log"
        with contextlib.suppress(OSError):
            kept = [line for line in path.read_text(errors="replace").splitlines() if _logged_since(line, since)]
            if kept:
                agent_tails.append(f"== {agent.host}/{agent.name} ==\n" + "\n".join(kept[-lines:]))
    if logs is not None:
        window = "since the test started" if since is not None else "whole run"
        made.append(f"agent logs ({window}, last {lines} lines per agent)")
        attach_text(made[-1], "\n\n".join(agent_tails) if agent_tails else
                    f"no agent logged anything {window} (agents log failed calls and handler errors); "
                    f"every agent's whole log is in {logs}/<host>/<Agent>.log while the stack is up")
    groups = sorted({tuple(g) for layer in getattr(stack, "layers", []) for g in layer}
                    | set(getattr(stack, "group_pids", {})))
    group_tails = []
    for host, group in groups:
        with contextlib.suppress(Exception):  # a group that never started, or a compose log that cannot be read
            text = stack.log_path(host, group).read_text(errors="replace").splitlines()[-lines:]
            group_tails.append(f"== {host}/{group} ==\n" + "\n".join(text))
    if group_tails:
        made.append(f"group process logs (last {lines} lines per group)")
        attach_text(made[-1], "\n\n".join(group_tails))
    return made


def _logged_since(line: str, since: float | None) -> bool:
    """A JSON log line with "ts" at or after ``since``; lines without a timestamp are kept."""
    if since is None:
        return bool(line.strip())
    try:
        return float(json.loads(line)["ts"]) >= since
    except (ValueError, KeyError, TypeError):
        return bool(line.strip())


def write_run_files(results_dir: Path, environment: dict[str, str]) -> None:
    """categories.json (failure classes) and environment.properties, as Allure reads them; and the
    phantom teardowns of allure-pytest under pytest >= 9.1 removed (``drop_phantom_teardowns``)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    drop_phantom_teardowns(results_dir)
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    lines = [f"{_property_key(k)}={_property_value(v)}" for k, v in sorted(environment.items())]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _property_key(key: str) -> str:
    return re.sub(r"[\s=:#!]", "_", key)


def _property_value(value: object) -> str:
    """A .properties value: one line, backslashes escaped (the format reads ``\\`` as an escape)."""
    return " ".join(str(value).replace("\\", "\\\\").split())


def drop_phantom_teardowns(results_dir: Path) -> int:
    """Remove the "<fixture>::<lambda>" teardowns with no status from the results' containers.

    From pytest 9.1 every fixture carries an internal finalizer that allure-pytest (2.16.x) wraps as a
    teardown but pytest never calls through the wrapper, so each fixture shows an extra teardown with
    status "unknown" in every test (allure-framework/allure-python#918). Returns how many were removed.
    """
    removed = 0
    for path in results_dir.glob("*-container.json"):
        try:
            container = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        afters = container.get("afters") or []
        kept = [a for a in afters if a.get("status") or not str(a.get("name", "")).endswith("::<lambda>")]
        if len(kept) != len(afters):
            removed += len(afters) - len(kept)
            container["afters"] = kept
            path.write_text(json.dumps(container), encoding="utf-8")
    return removed
