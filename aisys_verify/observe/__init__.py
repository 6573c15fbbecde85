"""Observability beside a stack: a real Prometheus scraping every agent and an Alertmanager receiving its
alerts (started, recorded and reaped with the stack), and the clients of their HTTP APIs. See
docs/observability.md. The SLO config's own PromQL is evaluated by ``aisys_verify.slo.promql``.
"""

from __future__ import annotations

from aisys_verify.observe.api import AlertmanagerClient, PrometheusClient, Sample
from aisys_verify.observe.attach import attach, detach, prometheus_for, wait_scraped
from aisys_verify.observe.config import ScrapeTarget, alertmanager_config, prometheus_config, slo_service_label
from aisys_verify.observe.servers import Observability, find_binary, for_stack

__all__ = [
           "AlertmanagerClient",
           "Observability",
           "PrometheusClient",
           "Sample",
           "ScrapeTarget",
           "alertmanager_config",
           "attach",
           "detach",
           "find_binary",
           "for_stack",
           "prometheus_config",
           "prometheus_for",
           "slo_service_label",
           "wait_scraped",
]
