"""Grafana dashboards from SLOs: one dashboard per SLO group (the SLOs of one service, which slo-config.yaml
names after the docker group), no Grafana server needed.

Each SLO gets a row of panels:

* a stat panel with the SLO's own query (as the SLO file writes it) over its window, coloured at the
  objective (green on the good side of it, red on the other);
* for SLOs with an error budget, a time series of the burn rate over each window of the alert policy,
  read from the recording rules of aisys_verify.slo.alerts (``slo:sli_error:ratio_rate1h{slo="..."}``
  divided by the budget), with the policy's factors as threshold lines;
* for an SLO a run cannot judge (``unjudged``), a text panel with the reason instead.

The Prometheus data source is a dashboard variable (``${datasource}``), so the JSON imports into any Grafana.
:func:`validate_dashboards` checks the files against Grafana's dashboard schema offline with
``grafana-validate`` (native/grafana-validate: Grafana's schema as the Grafana Foundation SDK generates it
from Grafana's own kinds; built by scripts/build-grafana-validate).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aisys_verify.errors import CapabilityMissing, DashboardInvalid
from aisys_verify.slo.alerts import SRE_WORKBOOK_WINDOWS, promql_duration, record_name
from aisys_verify.slo.budget import BurnAlert
from aisys_verify.slo.model import SliKind, SloSpec

__all__ = ["dashboards", "validate_dashboards", "write_dashboards"]

SCHEMA_VERSION = 39  # the dashboard JSON model version these panels are written in (Grafana 10.x/11.x)
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_VALIDATOR = Path(__file__).resolve().parents[2] / "build" / "grafana-validate" / "grafana-validate"


def _uid(text: str) -> str:
    """A dashboard uid (at most 40 characters of [a-zA-Z0-9-_])."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", f"aisys-slo-{text}")[:40]


def _percent_query(slo: SloSpec) -> bool:
    return bool(re.search(r"\*\s*100\s*$", slo.query.strip()))


def _stat(slo: SloSpec, panel_id: int, y: int) -> dict[str, Any]:
    """The SLO's own query, coloured at the objective."""
    scale = 100.0 if _percent_query(slo) else 1.0
    if slo.kind is SliKind.LATENCY:
        unit, good_low, limit = "s", True, slo.latency_bound_s or 0.0
    elif slo.kind is SliKind.ERROR_RATE:
        unit, good_low, limit = ("percent" if scale == 100 else "percentunit"), True, (1 - slo.objective) * scale
    elif slo.kind is SliKind.GAUGE:
        unit, good_low, limit = ("percent" if scale == 100 else "none"), True, slo.objective
    else:
        unit, good_low, limit = ("percent" if scale == 100 else "percentunit"), False, slo.objective * scale
    below, above = ("green", "red") if good_low else ("red", "green")
    steps: list[dict[str, Any]] = [{"color": below, "value": None}, {"color": above, "value": round(limit, 9)}]
    if slo.kind is SliKind.GAUGE and slo.lower_level is not None:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": slo.lower_level},
                 {"color": "red", "value": slo.objective}]
    return {
        "id": panel_id, "type": "stat", "title": f"{slo.name}: {slo.objective_text()}",
        "description": f"{slo.description} (defined at {slo.source})".strip(),
        "gridPos": {"h": 6, "w": 8, "x": 0, "y": y}, "datasource": dict(_DATASOURCE),
        "targets": [{"refId": "A", "datasource": dict(_DATASOURCE), "expr": slo.query.strip(), "instant": True,
                     "legendFormat": slo.name}],
        "fieldConfig": {"defaults": {"unit": unit, "decimals": 3,
                                     "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "area", "justifyMode": "auto",
                    "orientation": "auto", "textMode": "auto", "wideLayout": True,
                    "showPercentChange": False, "percentChangeColorMode": "standard"},
    }


def _burn(slo: SloSpec, windows: Sequence[BurnAlert], period_s: float | None, panel_id: int,
          y: int) -> dict[str, Any]:
    """The burn rate over each alert window, with the policy's factors as threshold lines."""
    period = period_s if period_s is not None else slo.period_s
    spans = sorted({w for row in windows for w in (row.long_window_s, row.short_window_s)})
    budget = slo.budget
    targets = [{"refId": chr(ord("A") + i), "datasource": dict(_DATASOURCE),
                "expr": f'{record_name(w)}{{slo="{slo.name}"}} / {budget!r}',
                "legendFormat": f"burn rate over {promql_duration(w)}"} for i, w in enumerate(spans)]
    factors = sorted({round(row.rate(period), 6) for row in windows})
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": "orange" if i < len(factors) - 1 else "red", "value": f} for i, f in enumerate(factors)]
    return {
        "id": panel_id, "type": "timeseries", "title": f"{slo.name}: error budget burn rate",
        "description": "Bad fraction over each alert window divided by the error budget "
                       f"({budget:g}); 1 spends the budget exactly over the period. Threshold lines: the "
                       f"alert factors ({', '.join(f'{f:g}x' for f in factors)}).",
        "gridPos": {"h": 6, "w": 16, "x": 8, "y": y}, "datasource": dict(_DATASOURCE), "targets": targets,
        "fieldConfig": {"defaults": {"unit": "x", "min": 0,
                                     "custom": {"thresholdsStyle": {"mode": "line"}},
                                     "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                               "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def _text(slo: SloSpec, panel_id: int, y: int) -> dict[str, Any]:
    return {"id": panel_id, "type": "text", "title": f"{slo.name}: not judged",
            "gridPos": {"h": 3, "w": 24, "x": 0, "y": y},
            "options": {"mode": "markdown", "content": f"**{slo.name}** ({slo.source}): {slo.unjudged}",
                        "code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False}}}


def dashboards(slos: Iterable[SloSpec], *, windows: Sequence[BurnAlert] = SRE_WORKBOOK_WINDOWS,
               period_s: float | None = None) -> dict[str, dict[str, Any]]:
    """{service: dashboard JSON model}: one dashboard per SLO group (service), a row of panels per SLO."""
    groups: dict[str, list[SloSpec]] = {}
    for slo in slos:
        groups.setdefault(slo.service, []).append(slo)
    out: dict[str, dict[str, Any]] = {}
    for service, members in groups.items():
        panels: list[dict[str, Any]] = []
        y = 0
        for slo in members:
            if slo.unjudged:
                panels.append(_text(slo, len(panels) + 1, y))
                y += 3
                continue
            panels.append(_stat(slo, len(panels) + 1, y))
            if slo.kind is not SliKind.GAUGE:
                panels.append(_burn(slo, windows, period_s, len(panels) + 1, y))
            y += 6
        out[service] = {
            "uid": _uid(service), "title": f"SLOs: {service}",
            "description": f"Generated by aisys-verify from {len(members)} SLO(s) of service {service}; burn "
                           "rates read the recording rules of 'aisys-verify slo rules'.",
            "tags": ["aisys-verify", "slo"], "timezone": "browser", "editable": True, "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "1m",
            "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
            "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
            "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                     "query": "prometheus", "hide": 0, "refresh": 1, "regex": "",
                                     "skipUrlSync": False, "multi": False, "includeAll": False,
                                     "options": []}]},
            "annotations": {"list": []}, "links": [], "panels": panels,
        }
    return out


def write_dashboards(slos: Iterable[SloSpec], out: str | os.PathLike[str], **kwargs: Any) -> list[Path]:
    """Write each dashboard as ``out/slo-<service>.json``; the paths written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for service, board in dashboards(slos, **kwargs).items():
        path = folder / f"slo-{re.sub(r'[^A-Za-z0-9_.-]', '_', service)}.json"
        path.write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def validator() -> str:
    """The grafana-validate executable: ``$AISYS_GRAFANA_VALIDATE``, build/grafana-validate/, or PATH."""
    found = os.environ.get("AISYS_GRAFANA_VALIDATE") or (str(_VALIDATOR) if _VALIDATOR.is_file() else None) \
        or shutil.which("grafana-validate")
    if not found:
        raise CapabilityMissing("grafana-validate is not built: run scripts/build-grafana-validate (Go, from the "
                                "Go module proxy) or set AISYS_GRAFANA_VALIDATE", "grafana-validate")
    return found


def validate_dashboards(paths: Sequence[str | os.PathLike[str]], timeout: float = 60.0) -> str:
    """Check dashboard files against Grafana's dashboard schema; DashboardInvalid names each problem."""
    command = [validator(), *map(str, paths)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DashboardInvalid(", ".join(map(str, paths)), [f"no verdict within {timeout:g} s"]) from exc
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line and "valid (" not in line]
        raise DashboardInvalid(", ".join(map(str, paths)), lines or [f"exit code {done.returncode}"])
    return done.stdout.strip()
