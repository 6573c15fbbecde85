"""The recorder inside each Locust process: every request into its (phase, endpoint) cell and its second.

No Locust import: the user classes call ``record()``; the process writes one part file when the
test stops, and the runner merges the parts of every process into ``results.json``. Memory is
bounded by cells and seconds, never by requests (histograms, not lists).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from aisys_verify.load.histogram import Latencies
from aisys_verify.load.shapes import Shape

PART_PREFIX = "part-"


class Recorder:
    """Counts and latencies of one process. Times: ``perf_counter`` for latencies, epoch for phases."""

    def __init__(self, shape: Shape, role: str, raw: bool = False) -> None:
        self.shape = shape
        # self-tests only: every (endpoint, latency, failed) too, to check the histograms against exact values
        self.raw: list[tuple[str, float, bool]] | None = [] if raw else None
        self.role = role
        self._phase_ends = [(span.end, span.name) for span in shape.phases()]
        self._duration = shape.duration
        self.after_end = 0
        self.t0_epoch: float | None = None
        self.t0_perf = 0.0
        self.cells: dict[tuple[str, str], list[Any]] = {}      # (phase, endpoint) -> [total, failed, Latencies]
        self.seconds: dict[tuple[int, str], list[int]] = {}     # (epoch second, endpoint) -> [requests, failures]
        self.control: dict[int, tuple[int, float, float]] = {}  # epoch second -> (users, target users, target rate)
        self.lag = Latencies()                                  # open model: send time - intended start
        self.unsent = 0
        self.ended_epoch: float | None = None

    def start(self) -> None:
        if self.t0_epoch is None:
            self.t0_perf, self.t0_epoch = time.perf_counter(), time.time()

    def epoch(self, perf: float) -> float:
        return (self.t0_epoch or 0.0) + (perf - self.t0_perf)

    def phase_at(self, offset: float) -> str:
        for end, name in self._phase_ends:
            if offset < end:
                return name
        return self._phase_ends[-1][1]

    def record(self, endpoint: str, start_perf: float, latency: float, failed: bool) -> None:
        """One request: ``start_perf`` is its intended start (open model) or its send time (closed)."""
        offset = start_perf - self.t0_perf
        if offset >= self._duration:  # sent while Locust stops the users (up to a tick late): not part of the run
            self.after_end += 1
            return
        if self.raw is not None:
            self.raw.append((endpoint, latency, failed))
        key = (self.phase_at(offset), endpoint)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0, 0, Latencies()]
        cell[0] += 1
        if failed:
            cell[1] += 1
        else:
            cell[2].record(latency if latency > 0 else 0.0)
        second = (int((self.t0_epoch or 0.0) + offset), endpoint)
        counts = self.seconds.get(second)
        if counts is None:
            counts = self.seconds[second] = [0, 0]
        counts[0] += 1
        if failed:
            counts[1] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role, "pid": os.getpid(), "t0": self.t0_epoch, "ended": self.ended_epoch or time.time(),
            "cells": [{"phase": p, "endpoint": e, "total": c[0], "failed": c[1], "latencies": c[2].to_json()}
                      for (p, e), c in self.cells.items()],
            "seconds": [[s, e, c[0], c[1]] for (s, e), c in self.seconds.items()],
            "control": [[s, *v] for s, v in sorted(self.control.items())],
            "lag": self.lag.to_json(), "unsent": self.unsent, "after_end": self.after_end,
        }

    def write(self, run_dir: Path) -> Path:
        path = run_dir / f"{PART_PREFIX}{self.role}-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        tmp.replace(path)
        if self.raw is not None:
            (run_dir / f"raw-{self.role}-{os.getpid()}.json").write_text(json.dumps(self.raw), encoding="utf-8")
        return path


class Pacer:
    """The open model's schedule: intended start times from the shape's rate, shared by a process's users.

    A user takes the next slot and sleeps until it; when every user is busy (a stalled server), slots
    fall due unserved and are sent late, timed from when they were due (as wrk2 does).
    """

    def __init__(self, shape: Shape, share: float, recorder: Recorder) -> None:
        self.shape = shape
        self.share = share
        self.recorder = recorder
        self.offset = 0.0

    def next_slot(self) -> float | None:
        """The intended start (perf_counter) of the next request, or None when the shape has ended."""
        offset, duration = self.offset, self.shape.duration
        while offset < duration:
            rate = self.shape.level(offset) * self.share
            if rate > 0:
                self.offset = offset + 1.0 / rate
                return self.recorder.t0_perf + offset
            offset += 0.01  # a zero-rate stretch: look ahead in 10 ms steps
        self.offset = offset
        return None

    def count_unsent(self, now_perf: float) -> int:
        """Slots that fell due before now and were never sent (the run stopped first)."""
        end = min(now_perf - self.recorder.t0_perf, self.shape.duration)
        if self.offset >= end:
            return 0
        return round(self.shape.expected_count(self.offset, end) * self.share)
