"""A team's own Locust file (an ``HttpUser`` with two ``@task``s, written as Locust's documentation writes
them) under our spike and arrival-rate shapes: each task is an endpoint, every task is recorded exactly (the
histograms hold the raw latencies; a task that waits 30 ms on the server never reads under 30 ms; the server
saw what was recorded), the shape is delivered, and an SLO verdict is drawn from it (and fails when the
objective is out of reach)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.errors import LoadError
from aisys_verify.load import RunOptions, load_scenario, parse_scenario, run_load
from aisys_verify.slo import SketchLatencies, SliKind, SloSpec, Status, judge_latency

SLOW_S = 0.03
LOCUSTFILE = '''
from locust import HttpUser, task, between


class QuickstartUser(HttpUser):
    wait_time = between(0.05, 0.1)

    @task
    def hello_world(self):
        self.client.get("/hello")

    @task(3)
    def view_items(self):
        self.client.get("/items")


class BrokenUser(HttpUser):
    @task
    def broken(self):
        self.client.get("/error")
'''


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[Counter[str]] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen[self.path] += 1
        if self.path == "/items":
            time.sleep(SLOW_S)
        status = 500 if self.path == "/error" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 adds SYN retransmits to latencies
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # Locust closing its connections at the end of a run: broken pipes, expected


@pytest.fixture
def server() -> Iterator[tuple[str, Counter[str]]]:
    _Handler.seen = Counter()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _scenario(folder: Path, **data: Any) -> Path:
    (folder / "loadtests").mkdir(exist_ok=True)
    (folder / "loadtests" / "locustfile.py").write_text(LOCUSTFILE)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump({"locustfile": "loadtests/locustfile.py", "timeout": 5, **data}))
    return path


def _raw(run_dir: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for file in run_dir.glob("raw-*.json"):
        for endpoint, latency, failed in json.loads(file.read_text()):
            if not failed:
                out.setdefault(endpoint, []).append(latency)
    return out


def _check_exact(results: Any, run_dir: Path, seen: Counter[str]) -> None:
    raw = _raw(run_dir)
    assert set(raw) == {"hello_world", "view_items"}, raw.keys()
    for endpoint, values in raw.items():
        total, failed = results.counts(endpoint=endpoint)
        assert failed == 0 and total == len(values), (endpoint, total, len(values))
        latencies = results.latencies(endpoint=endpoint)
        ordered = sorted(values)
        for q in (0.5, 0.9, 0.99):
            exact = ordered[max(0, math.ceil(len(ordered) * q) - 1)]  # nearest rank
            assert latencies.quantile(q) == pytest.approx(exact, rel=0.01), (endpoint, q)
    assert min(raw["view_items"]) >= SLOW_S  # a task is timed around its whole request
    assert sorted(raw["hello_world"])[len(raw["hello_world"]) // 2] < SLOW_S
    # the server saw every recorded request (and at most the ones cut off when the run stopped besides)
    for path, endpoint in (("/hello", "hello_world"), ("/items", "view_items")):
        recorded = results.counts(endpoint=endpoint)[0]
        assert recorded <= seen[path] <= recorded + 10, (path, recorded, seen[path])
    assert "/error" not in seen  # user_classes chose QuickstartUser only


@pytest.mark.integration
def test_a_plain_locust_file_runs_under_the_spike_shape(tmp_path: Path, server: tuple[str, Counter[str]]) -> None:
    url, seen = server
    scenario = load_scenario(_scenario(tmp_path, name="their-spike", user_classes=["QuickstartUser"], model="closed",
                                       shape={"kind": "spike", "baseline": 1, "peak": 4, "before": 2, "spike": 3,
                                              "after": 2}))
    results = run_load(scenario, url, tmp_path / "run", RunOptions(raw=True))
    _check_exact(results, tmp_path / "run", seen)
    assert results.conformance["ok"], results.conformance
    assert {p.name for p in results.phases} == {"baseline", "spike", "recovery"}
    assert results.counts(phase="spike")[0] > results.counts(phase="baseline")[0]
    objective = SloSpec("items_p90", "shop", SliKind.LATENCY, 0.9, latency_bound_s=1.0)
    assert judge_latency(objective, SketchLatencies(results.latencies(endpoint="view_items"))).status is Status.PASS
    # the verdict can fail: every view_items task waits SLOW_S on the server
    out_of_reach = SloSpec("items_p90", "shop", SliKind.LATENCY, 0.9, latency_bound_s=SLOW_S / 2)
    assert judge_latency(out_of_reach, SketchLatencies(results.latencies(endpoint="view_items"))).status is Status.FAIL


@pytest.mark.integration
def test_a_plain_locust_file_runs_under_the_arrival_rate_shape(tmp_path: Path,
                                                               server: tuple[str, Counter[str]]) -> None:
    url, seen = server
    scenario = load_scenario(_scenario(tmp_path, name="their-arrivals", user_classes={"QuickstartUser": 1},
                                       model="open", users=6, shape={"kind": "constant", "level": 12, "duration": 5}))
    results = run_load(scenario, url, tmp_path / "run", RunOptions(raw=True))
    _check_exact(results, tmp_path / "run", seen)
    assert results.conformance["ok"], results.conformance
    total = sum(results.counts(endpoint=e)[0] for e in ("hello_world", "view_items"))
    assert abs(total - 60) <= 3, total  # 12 tasks/s for 5 s, paced by our schedule, not their wait_time
    objective = SloSpec("hello_p90", "shop", SliKind.LATENCY, 0.9, latency_bound_s=1.0)
    verdict = judge_latency(objective, SketchLatencies(results.latencies(endpoint="hello_world")))
    assert verdict.status is not Status.FAIL, verdict.reason


@pytest.mark.integration
def test_a_failing_request_fails_its_task(tmp_path: Path, server: tuple[str, Counter[str]]) -> None:
    url, seen = server
    scenario = load_scenario(_scenario(tmp_path, name="broken", user_classes=["BrokenUser"], model="open", users=2,
                                       shape={"kind": "constant", "level": 5, "duration": 2}))
    results = run_load(scenario, url, tmp_path / "run")
    total, failed = results.counts(endpoint="broken")
    assert total >= 8 and failed == total, (total, failed)
    assert seen["/error"] >= total


def test_bad_locustfile_keys_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="either 'workloads' or 'locustfile'"):
        load_scenario(_scenario(tmp_path, shape={"kind": "constant", "level": 1, "duration": 1},
                                workloads={"http-get": 1}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"locustfile": "nope.py", "shape": {"kind": "constant", "level": 1, "duration": 1}}))
    with pytest.raises(LoadError, match=r"bad.yaml: locustfile: no such file"):
        load_scenario(bad)


_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(locustfile=_values | st.just("locustfile.py"), user_classes=_values)
def test_any_locustfile_keys_parse_or_raise_a_load_error(tmp_path_factory: pytest.TempPathFactory,
                                                         locustfile: Any, user_classes: Any) -> None:
    folder = tmp_path_factory.getbasetemp() / "parse"
    folder.mkdir(exist_ok=True)
    (folder / "locustfile.py").write_text(LOCUSTFILE)
    data = {"shape": {"kind": "constant", "level": 1, "duration": 1}, "locustfile": locustfile,
            "user_classes": user_classes}
    try:
        scenario = parse_scenario(data, str(folder / "s.yaml"))
    except LoadError as exc:  # any other exception fails the test
        refused = str(exc)
        assert refused.startswith(str(folder / "s.yaml")), refused  # the message names the file
        return
    if locustfile is None:  # as if absent: the built-in workloads
        assert scenario.locustfile == "" and scenario.workloads
        return
    assert scenario.locustfile == str((folder / "locustfile.py").resolve()) and not scenario.workloads
    assert all(name.isidentifier() and weight >= 0 for name, weight in scenario.user_classes)
