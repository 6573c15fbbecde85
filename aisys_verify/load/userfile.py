"""A team's own Locust users under our engine (scenario key ``locustfile``). Imported only inside Locust processes.

The file is imported as it is; each chosen ``User`` class is subclassed so that its ``@task`` functions run
under our pacing (the open model's Pacer slot before each task, ``wait_time`` 0) and are timed and recorded
by our Recorder with the task's name as the endpoint: the latency of a task is from its intended start (open
model) or its start (closed) to its end, and it failed when it raised or when a request inside it failed
(Locust's ``request`` event with an exception). Their own ``wait_time`` stays in the closed model.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import User, constant, events
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser

from aisys_verify.errors import LoadError
from aisys_verify.load.locust_tls import tls_attrs
from aisys_verify.load.users import Context, _Paced

MODULE = "aisys_user_locustfile"
_failed: set[int] = set()  # greenlets whose current task saw a failed request


def _on_request(exception: BaseException | None = None, **_: Any) -> None:
    if exception is not None:
        _failed.add(id(gevent.getcurrent()))


def _record(endpoint: str, begin: float, me: int, raised: bool) -> None:
    Context.record(endpoint, begin, time.perf_counter() - begin, raised or me in _failed)
    _failed.discard(me)


def _wrap(fn: Callable[[Any], Any]) -> Callable[[Any], None]:
    endpoint = fn.__name__

    def run(user: Any) -> None:
        begin = _Paced._begin()
        if begin is None:
            return
        me = id(gevent.getcurrent())
        _failed.discard(me)
        try:
            fn(user)
        except (gevent.GreenletExit, StopUser, InterruptTaskSet):
            _failed.discard(me)
            raise  # the user or the run is stopping: this task never finished
        except (RescheduleTask, RescheduleTaskImmediately):
            _record(endpoint, begin, me, False)
            raise
        except Exception:  # a task that raised failed; Locust logs it as it always does
            _record(endpoint, begin, me, True)
            raise
        _record(endpoint, begin, me, False)

    run.__name__ = run.__qualname__ = endpoint
    return run


def user_classes(scenario: dict[str, Any], host: str | None, open_model: bool, module_name: str) -> list[type]:
    """The scenario's user classes from its locustfile, wrapped (see the module docstring)."""
    path = str(scenario["locustfile"])
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path}: cannot import this Locust file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    found = {name: cls for name, cls in vars(module).items() if isinstance(cls, type) and issubclass(cls, User)
             and cls.__module__ == MODULE and not cls.__dict__.get("abstract", False)}
    chosen = dict(scenario.get("user_classes") or {}) or dict.fromkeys(found, 0)
    missing = sorted(set(chosen) - set(found))
    if missing or not chosen:
        raise LoadError(f"{path}: no User class {', '.join(missing) or '(none defined)'}; it defines: "
                        f"{', '.join(sorted(found)) or 'none'}")
    events.request.add_listener(_on_request)  # type: ignore[no-untyped-call]
    out: list[type] = []
    for name, weight in chosen.items():
        base = found[name]
        functions = [t for t in base.tasks if callable(t) and not isinstance(t, type)]
        if not functions or len(functions) != len(base.tasks):
            raise LoadError(f"{path}: {name}: only @task functions are run under aisys-verify (no TaskSet classes); "
                            f"it has {len(base.tasks)} task(s), {len(functions)} of them functions")
        attrs: dict[str, Any] = {"abstract": False, "__module__": module_name}
        if host:
            attrs["host"] = host
        if weight:
            attrs["weight"] = int(weight)
        if open_model:
            attrs["wait_time"] = constant(0)  # the Pacer's slots set the arrivals
        attrs |= tls_attrs(base, host)  # mTLS when a running stack serves the host with TLS
        cls: Any = type(name, (base,), attrs)
        wrapped: dict[Any, Callable[[Any], None]] = {}
        cls.tasks = [wrapped.setdefault(t, _wrap(t)) for t in functions]  # after the metaclass, which appends
        out.append(cls)
    return out
