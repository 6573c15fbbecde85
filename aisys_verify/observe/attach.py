"""The backends' hook: start the stack's Prometheus and Alertmanager once its agents are up, stop them with it.

``StackOptions.prometheus`` chooses: ``auto`` (default) starts both when they are installed (a note
otherwise: tests needing them then skip naming the capability), ``own`` requires them, ``off`` starts
nothing, and a URL uses a Prometheus that already runs (``--aisys-prometheus``) and starts nothing.
"""

from __future__ import annotations

from typing import Any

from aisys_verify.errors import CapabilityMissing, PrometheusError, StackStartError
from aisys_verify.observe.api import PrometheusClient
from aisys_verify.observe.servers import Observability, find_binary, for_stack

OBSERVE_CAPABILITIES = frozenset({"prometheus", "alertmanager"})


def attach(stack: Any, address: str, wait: bool = True) -> Observability | None:
    """Start the stack's own Prometheus and Alertmanager on ``address`` (its loopback address), as the options
    ask; set ``stack.observability`` and add the capabilities. A StackStartError when they do not start. With
    ``wait=False`` they start in the background (call ``ready(stack)`` once the agents are up)."""
    stack.observability = None
    choice = getattr(stack.options, "prometheus", "auto")
    if choice == "off" or choice.startswith(("http://", "https://")):
        return None
    if choice == "auto" and (find_binary("prometheus") is None or find_binary("alertmanager") is None):
        stack.progress("  no Prometheus/Alertmanager installed (scripts/system-deps installs them): the stack runs "
                       "without; PromQL and alert tests skip")
        return None
    observability = for_stack(stack, stack.workdir / "prometheus", address)
    stack.observability = observability
    try:
        observability.start(stack.record, wait=wait)
    except PrometheusError as exc:
        raise StackStartError(f"the stack's Prometheus did not start: {exc}", "", "prometheus") from exc
    stack.capabilities = stack.capabilities | OBSERVE_CAPABILITIES
    stack.progress(f"  Prometheus {observability.prometheus_url} ({len(observability.targets)} targets, "
                   f"{observability.interval_s:g} s scrapes), Alertmanager {observability.alertmanager_url}")
    return observability


def ready(stack: Any) -> None:
    """Until what ``attach(..., wait=False)`` started answers; StackStartError when it does not."""
    observability: Observability | None = getattr(stack, "observability", None)
    if observability is None:
        return
    try:
        observability.wait_ready()
    except PrometheusError as exc:
        raise StackStartError(f"the stack's Prometheus did not start: {exc}", "", "prometheus") from exc


def detach(stack: Any) -> None:
    """Stop what ``attach`` started (idempotent; safe when nothing was)."""
    observability: Observability | None = getattr(stack, "observability", None)
    if observability is not None:
        observability.stop()


def prometheus_for(stack: Any, url: str | None = None) -> PrometheusClient:
    """Where PromQL is read: ``url`` (``--aisys-prometheus``, an http(s) URL), else the one the external backend's
    inventory names (``prometheus:``), else the stack's own Prometheus;
    CapabilityMissing (a skip, or a failure under --aisys-strict-capabilities) when there is neither."""
    if url and url.startswith(("http://", "https://")):
        return PrometheusClient(url)
    if getattr(stack, "prometheus_url", None):  # the external backend's inventory names the deployment's
        return PrometheusClient(stack.prometheus_url)
    observability: Observability | None = getattr(stack, "observability", None)
    if observability is None:
        raise CapabilityMissing(f"the {type(stack).__name__} stack runs no Prometheus (none installed, or "
                                "--aisys-prometheus=off): give one with --aisys-prometheus=URL, or run "
                                "scripts/system-deps", "prometheus")
    observability.wait_targets()
    return observability.prometheus


def wait_scraped(stack: Any, moment: float, timeout: float = 10.0) -> bool:
    """Until the stack's own Prometheus has scraped every agent after ``moment`` (epoch seconds), so that a query
    at ``moment`` sees a run's last events; True at once for a Prometheus that is not the stack's own (its scrape
    schedule is its own: allow for it in the window)."""
    observability: Observability | None = getattr(stack, "observability", None)
    return True if observability is None else observability.last_scrape_after(moment, timeout)
