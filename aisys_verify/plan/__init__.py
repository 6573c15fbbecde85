"""The plan layer: what runs, where, and which edges join it, computed from the spec alone.

Between the spec (``aisys_verify.spec``) and everything that runs it: the stand-ins
(``aisys_verify.standin``), the backends (``aisys_verify.stack``) and the fault engine
(``aisys_verify.faults``) all read the topology's run-time shape from here. Nothing here imports the
stand-ins, so the fault matrix or a start order can be computed without loading them.

* ``roles``: the role of each agent and each role's run-time calls (the spec's ``calls:`` overrides them);
* ``edges``: every run-time edge (dependency, call, registration, hub sync);
* ``run``: the run plan (addresses per host, Redis, HTTP ports, per-edge overrides);
* ``groups``: the groups to run per host and their agents;
* ``order``: the start graph (and its layers).
"""

from aisys_verify.plan.edges import CallEdge, call_edges, declared_calls, edges_by_caller
from aisys_verify.plan.groups import UNGROUPED, agents_of_group, group_of_agent, groups_to_run
from aisys_verify.plan.order import START_MODES, StartGraph, start_graph, start_layers
from aisys_verify.plan.roles import DEFAULT_ROLES, ROLE_CALLS, ROLES, RoleChoice, calls_of, role_for
from aisys_verify.plan.run import RunPlan, default_plan, describe, edge_addresses, resolve_http_ports

__all__ = ["DEFAULT_ROLES", "ROLES", "ROLE_CALLS", "START_MODES", "UNGROUPED", "CallEdge", "RoleChoice", "RunPlan",
           "StartGraph", "agents_of_group", "call_edges", "calls_of", "declared_calls", "default_plan", "describe",
           "edge_addresses", "edges_by_caller", "group_of_agent", "groups_to_run", "resolve_http_ports", "role_for",
           "start_graph", "start_layers"]
