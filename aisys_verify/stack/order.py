"""Start order: moved to the plan layer (``aisys_verify.plan.order``); re-exported for older imports."""

from __future__ import annotations

from aisys_verify.plan.groups import group_of_agent
from aisys_verify.plan.order import START_MODES, StartGraph, start_graph, start_layers

__all__ = ["START_MODES", "StartGraph", "group_of_agent", "start_graph", "start_layers"]
