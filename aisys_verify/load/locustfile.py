"""The locustfile the runner hands to ``python -m locust -f``: never imported by pytest (gevent).

It reads the run's plan (``$AISYS_LOAD_PLAN``, written by ``aisys_verify.load.runner``), exposes the
scenario's user classes with their weights and one LoadTestShape, records every request through the
Recorder, and writes this process's part file when the test stops.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import LoadTestShape, constant, events

from aisys_verify.load import users
from aisys_verify.load.locust_tls import tls_attrs
from aisys_verify.load.recorder import Pacer, Recorder
from aisys_verify.load.shapes import Shape

PLAN: dict[str, Any] = json.loads(Path(os.environ["AISYS_LOAD_PLAN"]).read_text(encoding="utf-8"))
ROLE = os.environ.get("AISYS_LOAD_ROLE", "local")  # local | master | worker
RUN_DIR = Path(PLAN["run_dir"])
SCENARIO = PLAN["scenario"]
SHAPE = Shape.build(SCENARIO["shape"]["kind"], {k: v for k, v in SCENARIO["shape"].items() if k != "kind"})
OPEN = SCENARIO["model"] == "open"
SCHEDULE_GRACE_S = 1.0

RECORDER = Recorder(SHAPE, f"{ROLE}-{os.environ.get('AISYS_LOAD_WORKER', '0')}",
                    raw=os.environ.get("AISYS_LOAD_RAW") == "1")
# the master runs no users: it has no schedule to keep
PACER = Pacer(SHAPE, float(os.environ.get("AISYS_LOAD_SHARE", "1")), RECORDER) if OPEN and ROLE != "master" else None
users.Context.install(PLAN, RECORDER, PACER)

if SCENARIO.get("locustfile"):  # a team's own users, wrapped so that our pacing and recording apply
    from aisys_verify.load.userfile import user_classes

    for _cls in user_classes(SCENARIO, PLAN.get("host"), OPEN, __name__):
        globals()[_cls.__name__] = _cls
    del _cls
for _name, _options in SCENARIO["workloads"].items():
    _base = users.WORKLOAD_CLASSES[_name]
    _cls = type(_base.__name__, (_base,), {"abstract": False, "weight": int(_options["weight"]),
                                          "host": PLAN.get("host"), "__module__": __name__,
                                          "network_timeout": float(SCENARIO["timeout"]),
                                          "connection_timeout": float(SCENARIO["timeout"]),
                                          "wait_time": constant(0 if OPEN else float(SCENARIO.get("think_time") or 0)),
                                          **tls_attrs(_base, PLAN.get("host"))})  # mTLS to a stack's TLS peer
    globals()[_base.__name__] = _cls  # Locust runs the User classes it finds in this module's namespace
    del _name, _options, _base, _cls  # ... so no second name may point at one


class AisysShape(LoadTestShape):
    """The scenario's shape: closed model, the level is the user count; open model, a constant pool of
    users while the Pacer sets the arrival rate. Stops (None) at the end of the shape."""

    def tick(self) -> tuple[int, float] | None:
        t: float = self.get_run_time()  # type: ignore[no-untyped-call]
        if OPEN and t < SHAPE.duration + SCHEDULE_GRACE_S:
            # workers start their schedules when the master's spawn message reaches them, a little later than
            # the master's clock: the pool stays a moment longer so that they finish them
            pool = int(SCENARIO["users"])
            return pool, float(max(pool, 100))
        if t >= SHAPE.duration:
            return None
        if OPEN:
            pool = int(SCENARIO["users"])
            return pool, float(max(pool, 100))
        level = round(SHAPE.level(t))
        spawn = float(SCENARIO.get("spawn_rate") or max(level, 100))
        return level, spawn


def _control(environment: Any) -> None:
    """Once a second (master or single process): the actual users and the shape's targets."""
    start = RECORDER.t0_perf
    k = 0
    while True:
        offset = k + 0.5  # mid-second: a ramp's target there is the second's mean
        if k >= math.ceil(SHAPE.duration):
            return
        gevent.sleep(max(0.0, start + k + 1 - time.perf_counter()))
        level = SHAPE.level(offset)
        target_users = float(SCENARIO["users"]) if OPEN else float(round(level))
        RECORDER.control[int((RECORDER.t0_epoch or 0) + k)] = (
            int(environment.runner.user_count), target_users, level if OPEN else float("nan"))
        k += 1


def _on_start(environment: Any, **_: Any) -> None:
    RECORDER.start()
    if ROLE != "worker":
        gevent.spawn(_control, environment)


def _on_stop(environment: Any, **_: Any) -> None:
    if RECORDER.t0_epoch is None:
        return
    RECORDER.ended_epoch = time.time()
    if PACER is not None:
        RECORDER.unsent = PACER.count_unsent(time.perf_counter())
    RECORDER.write(RUN_DIR)


def _on_quit(environment: Any, **_: Any) -> None:
    if RECORDER.t0_epoch is not None and RECORDER.ended_epoch is None:
        _on_stop(environment)


events.test_start.add_listener(_on_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_stop)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quit)  # type: ignore[no-untyped-call]
