"""Seconds per suite folder, summed from test reports."""

from __future__ import annotations

from types import SimpleNamespace

from aisys_verify.report.timing import per_folder


def test_durations_are_summed_per_folder_in_order_seen() -> None:
    reports = [SimpleNamespace(nodeid="suites/chaos/test_a.py::t[x]", duration=2.0, when="setup"),
               SimpleNamespace(nodeid="suites/chaos/test_a.py::t[x]", duration=1.5, when="call"),
               SimpleNamespace(nodeid="suites/e2e/test_b.py::u", duration=0.5, when="call"),
               SimpleNamespace(nodeid="suites/chaos/test_c.py::v", duration=0.25, when="teardown"),
               SimpleNamespace(nodeid="", duration=9.0, when="call"),  # a warning or a collect report
               SimpleNamespace(nodeid="suites/e2e", duration=None, when=None)]
    assert per_folder(reports) == {"suites/chaos": 3.75, "suites/e2e": 0.5}
