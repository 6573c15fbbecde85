"""The results of one load run, as files: ``RUN_DIR/results.json`` (+ ``timeseries.csv``).

This is the contract between the load engine and its readers (the SLO engine, the report):
per (phase, endpoint) cell, the exact counts and a Latencies histogram (0.1 % relative error);
per second and endpoint, a time series of requests, failures, users and the shape's targets.
A request counts as failed when it raised, timed out, got HTTP >= 500, or a ZeroMQ reply with
status "error"; failed requests are counted but their latencies are not in ``latencies()``.

Nothing here imports Locust: it is safe in the pytest process.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import LoadResultsError
from aisys_verify.load.histogram import Latencies

__all__ = ["Cell", "EndpointInfo", "Latencies", "LoadResults", "Phase", "read_results", "write_results"]

FORMAT = "aisys-load-results/1"
RESULTS_FILE = "results.json"
TIMESERIES_FILE = "timeseries.csv"
TIMESERIES_KEYS = ("t", "endpoint", "requests", "failures", "users", "target_users", "target_rate")


@dataclass(frozen=True)
class Phase:
    """A named interval of the run in epoch seconds; phases come from the scenario's shape."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class EndpointInfo:
    """What a request targets. ``name`` is stable: "gateway:POST /dialogue/process",
    "zmq:pc2/MemoryOrchestratorService:store_memory"; ``agent``/``host`` map it to the spec."""

    name: str
    host: str
    agent: str
    kind: str  # "http" | "zmq"


@dataclass
class Cell:
    """One (phase, endpoint) cell: every request counted, the successful ones' latencies recorded."""

    phase: str
    endpoint: str
    total: int = 0
    failed: int = 0
    latencies: Latencies = field(default_factory=Latencies)


class LoadResults:
    """A load run read back from its folder (see ``read_results``)."""

    def __init__(self, run_dir: Path, data: Mapping[str, Any], cells: Sequence[Cell]) -> None:
        self.run_dir = run_dir
        self.scenario: str = str(data["scenario"])
        self.shape: str = str(data["shape"])
        self.model: str = str(data["model"])
        self.started_at: float = float(data["started_at"])
        self.ended_at: float = float(data["ended_at"])
        self.phases: tuple[Phase, ...] = tuple(Phase(str(p["name"]), float(p["start"]), float(p["end"]))
                                               for p in data["phases"])
        self.endpoints: tuple[EndpointInfo, ...] = tuple(
            EndpointInfo(str(e["name"]), str(e["host"]), str(e["agent"]), str(e["kind"])) for e in data["endpoints"])
        self.saturated: bool = bool(data["saturated"])
        self.generator: dict[str, Any] = dict(data.get("generator") or {})      # CPU samples, workers, host
        self.conformance: dict[str, Any] = dict(data.get("conformance") or {})  # delivered vs target shape
        self.schedule: dict[str, Any] = dict(data.get("schedule") or {})        # open model: lag, unsent slots
        self.extra: dict[str, Any] = dict(data.get("extra") or {})
        self._cells = tuple(cells)
        self._series: list[dict[str, float | str]] = [dict(row) for row in data.get("timeseries") or ()]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self._cells

    def _select(self, phase: str | None, endpoint: str | None) -> list[Cell]:
        if phase is not None and phase not in {p.name for p in self.phases}:
            raise LoadResultsError(f"{self.run_dir}: no phase '{phase}' in this run; its phases are "
                                   f"{', '.join(p.name for p in self.phases) or '(none)'}")
        if endpoint is not None and endpoint not in {e.name for e in self.endpoints}:
            raise LoadResultsError(f"{self.run_dir}: no endpoint '{endpoint}' in this run; its endpoints are "
                                   f"{', '.join(e.name for e in self.endpoints) or '(none)'}")
        return [c for c in self._cells
                if (phase is None or c.phase == phase) and (endpoint is None or c.endpoint == endpoint)]

    def latencies(self, phase: str | None = None, endpoint: str | None = None) -> Latencies:
        """Latencies (seconds) of the successful requests of a phase and endpoint; None means all."""
        merged = Latencies()
        for cell in self._select(phase, endpoint):
            merged = merged.merge(cell.latencies)
        return merged

    def counts(self, phase: str | None = None, endpoint: str | None = None) -> tuple[int, int]:
        """(total, failed) requests of a phase and endpoint; None means all."""
        cells = self._select(phase, endpoint)
        return sum(c.total for c in cells), sum(c.failed for c in cells)

    def timeseries(self) -> list[dict[str, float | str]]:
        """Per second and endpoint: t (epoch second), endpoint, requests, failures, users, target_users,
        target_rate (NaN where the shape sets no rate)."""
        return [dict(row) for row in self._series]

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    def summary(self) -> dict[str, Any]:
        """A small dict for reports and logs: per endpoint counts, rate and latency quantiles (ms)."""
        out: dict[str, Any] = {"scenario": self.scenario, "shape": self.shape, "model": self.model,
                               "duration_s": round(self.duration, 3), "saturated": self.saturated, "endpoints": {}}
        for info in self.endpoints:
            total, failed = self.counts(endpoint=info.name)
            lat = self.latencies(endpoint=info.name)
            row: dict[str, Any] = {"requests": total, "failed": failed,
                                   "rps": round(total / self.duration, 2) if self.duration > 0 else None}
            if lat.count:
                row |= {f"p{int(q * 1000) / 10:g}_ms": round(lat.quantile(q) * 1e3, 3) for q in (0.5, 0.9, 0.99)}
                row["max_ms"] = round(lat.max * 1e3, 3)
            out["endpoints"][info.name] = row
        return out

    def __repr__(self) -> str:
        total, failed = self.counts()
        return (f"LoadResults({self.scenario!r}, shape={self.shape}, model={self.model}, requests={total}, "
                f"failed={failed}, saturated={self.saturated}, run_dir={str(self.run_dir)!r})")


def write_results(run_dir: str | os.PathLike[str], *, scenario: str, shape: str, model: str, started_at: float,
                  ended_at: float, phases: Iterable[Phase], endpoints: Iterable[EndpointInfo],
                  cells: Iterable[Cell], timeseries: Iterable[Mapping[str, float | str]] = (),
                  saturated: bool = False, generator: Mapping[str, Any] | None = None,
                  conformance: Mapping[str, Any] | None = None, schedule: Mapping[str, Any] | None = None,
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``results.json`` and ``timeseries.csv`` into run_dir (created); returns the results.json path.

    Also the way tests write synthetic results: build Cells with ``Latencies.of([...])``.
    """
    if model not in ("open", "closed"):
        raise LoadResultsError(f"model must be 'open' or 'closed', got {model!r}")
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    series = [dict(row) for row in timeseries]
    data = {
        "format": FORMAT, "scenario": scenario, "shape": shape, "model": model,
        "started_at": started_at, "ended_at": ended_at, "saturated": bool(saturated),
        "phases": [asdict(p) for p in phases], "endpoints": [asdict(e) for e in endpoints],
        "cells": [{"phase": c.phase, "endpoint": c.endpoint, "total": c.total, "failed": c.failed,
                   "latencies": c.latencies.to_json()} for c in cells],
        "generator": dict(generator or {}), "conformance": dict(conformance or {}),
        "schedule": dict(schedule or {}), "extra": dict(extra or {}),
        "timeseries": [{k: _json_number(v) for k, v in row.items()} for row in series],
    }
    path = folder / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)  # readers never see half a file
    with (folder / TIMESERIES_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TIMESERIES_KEYS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(series)
    return path


def _json_number(value: float | str) -> float | str | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_results(path: str | os.PathLike[str]) -> LoadResults:
    """Read a run folder or its results.json. Raises LoadResultsError naming the file and the bad key."""
    given = Path(path)
    file = given / RESULTS_FILE if given.is_dir() else given
    if not file.is_file():
        raise LoadResultsError(f"{file}: no load results here (a run folder holds {RESULTS_FILE}; "
                               "run 'aisys-verify load run SCENARIO' to make one)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadResultsError(f"{file}: not readable as JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LoadResultsError(f"{file}: not a load results file (expected \"format\": \"{FORMAT}\")")
    for key in ("scenario", "shape", "model", "started_at", "ended_at", "phases", "endpoints", "saturated", "cells"):
        if key not in data:
            raise LoadResultsError(f"{file}: key '{key}' is missing")
    cells = []
    for i, raw in enumerate(data["cells"]):
        try:
            cells.append(Cell(str(raw["phase"]), str(raw["endpoint"]), int(raw["total"]), int(raw["failed"]),
                              Latencies.from_json(raw["latencies"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise LoadResultsError(f"{file}: cells[{i}]: {exc}") from exc
    series = [{k: (math.nan if v is None else v) for k, v in row.items()} for row in data.get("timeseries") or ()]
    try:
        return LoadResults(file.parent, data | {"timeseries": series}, cells)
    except (KeyError, TypeError, ValueError) as exc:
        raise LoadResultsError(f"{file}: bad phases, endpoints or times: {exc!r}") from exc
