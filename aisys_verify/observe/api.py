"""Clients of the Prometheus and Alertmanager HTTP APIs (through aisys_verify.httpjson).

Only what the framework reads: instant queries, series and label values (to say why a query selects
nothing), targets (to know the last scrape), rules, a config reload; Alertmanager's alert list.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aisys_verify.errors import PrometheusError
from aisys_verify.httpjson import http_raw


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def _number(text: str) -> float:
    # Prometheus writes NaN, +Inf and -Inf as strings; float() reads all three
    return float(text)


class PrometheusClient:
    """One Prometheus server's HTTP API at ``url`` (``http://127.0.0.1:9090``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str] | None = None, method: str = "GET") -> Any:
        url = f"{self.url}{path}" + (f"?{urlencode(params)}" if params else "")
        try:
            reply = http_raw(method, url, b"" if method == "POST" else None, timeout=self.timeout)
        except OSError as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer {path}: {exc}",
                                  hint="is it running? (the stack's own, or --aisys-prometheus)") from None
        try:
            body = json.loads(reply.body) if reply.body.strip() else {}
        except ValueError:
            body = {"error": reply.body.decode(errors="replace")[:300]}
        if reply.status >= 400 or (isinstance(body, dict) and body.get("status") == "error"):
            detail = body.get("error", "") if isinstance(body, dict) else str(body)[:300]
            raise PrometheusError(f"Prometheus {path} failed (HTTP {reply.status}): {detail}",
                                  query=(params or {}).get("query", ""))
        return body.get("data") if isinstance(body, dict) and "data" in body else body

    def ready(self) -> bool:
        try:
            return http_raw("GET", f"{self.url}/-/ready", timeout=2.0).status == 200
        except OSError:
            return False

    def query(self, expr: str, at: float | None = None) -> list[Sample] | float:
        """An instant query: a vector (list of samples) or a scalar."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return _number(result[1])
        if kind != "vector":
            raise PrometheusError(f"query returned a {kind}, not a vector or scalar", query=expr)
        return [Sample(dict(r["metric"]), _number(r["value"][1])) for r in result]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single number an aggregating query gives, or None when it selects nothing (or gives NaN)."""
        got = self.query(expr, at)
        if isinstance(got, float):
            return None if math.isnan(got) else got
        if not got:
            return None
        if len(got) > 1:
            raise PrometheusError(f"query gave {len(got)} series where one number was expected", query=expr)
        return None if math.isnan(got[0].value) else got[0].value

    def series(self, selector: str, start: float, end: float) -> list[dict[str, str]]:
        """The label sets of every series ``selector`` selects between ``start`` and ``end`` (epoch seconds)."""
        data = self._get("/api/v1/series", {"match[]": selector, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        return [dict(item) for item in data or []]

    def series_count(self, selector: str, start: float, end: float) -> int:
        return len(self.series(selector, start, end))

    def label_values(self, label: str, metric: str | None = None) -> list[str]:
        params = {"match[]": metric} if metric else None
        return [str(v) for v in self._get(f"/api/v1/label/{label}/values", params) or []]

    def targets(self) -> list[dict[str, Any]]:
        return list((self._get("/api/v1/targets") or {}).get("activeTargets", []))

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in (self._get("/api/v1/rules") or {}).get("groups", []) for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        return list((self._get("/api/v1/alerts") or {}).get("alerts", []))

    def reload(self) -> None:
        """Re-read the configuration and rule files (needs --web.enable-lifecycle, which ours has)."""
        self._get("/-/reload", method="POST")


class AlertmanagerClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def ready(self) -> bool:
        try:
            return http_raw("GET", f"{self.url}/-/ready", timeout=2.0).status == 200
        except OSError:
            return False

    def alerts(self, active: bool = True) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (API v2); ``active`` only: firing and not silenced or inhibited."""
        query = "?active=true&silenced=false&inhibited=false" if active else ""
        try:
            reply = http_raw("GET", f"{self.url}/api/v2/alerts{query}", timeout=self.timeout)
        except OSError as exc:
            raise PrometheusError(f"Alertmanager at {self.url} did not answer: {exc}") from None
        if reply.status >= 400:
            raise PrometheusError(f"Alertmanager /api/v2/alerts: HTTP {reply.status}: "
                                  f"{reply.body.decode(errors='replace')[:300]}")
        return list(json.loads(reply.body))
