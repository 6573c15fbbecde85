"""How a stand-in finds the agents it calls: its address book, built from the plan layer's edges and run plan.

The topology knowledge (edges, run plan, groups) lives in ``aisys_verify.plan``; the names re-exported
here keep older imports (tests, suites) working.
"""

from __future__ import annotations

from collections.abc import Iterable

from aisys_verify.plan.edges import CallEdge, call_edges
from aisys_verify.plan.groups import UNGROUPED, agents_of_group, groups_to_run
from aisys_verify.plan.run import RunPlan, default_plan, describe, edge_addresses, resolve_http_ports
from aisys_verify.spec.model import Agent, Topology
from aisys_verify.standin.calls import AddressBook, Endpoint


def address_book(topology: Topology, plan: RunPlan, caller: Agent,
                 edges: Iterable[CallEdge] | None = None) -> AddressBook:
    """The caller's address book: main, health and HTTP endpoint of every agent it dials (of ``edges``;
    default: the topology's), through the proxy where the plan puts one."""
    book = AddressBook()
    for name, sockets in edge_addresses(topology, plan, caller, edges).items():
        book.main[name] = Endpoint(*sockets["main"])
        book.health[name] = Endpoint(*sockets["health"])
        book.http[name] = Endpoint(*sockets["http"])
    return book


__all__ = ["UNGROUPED", "CallEdge", "RunPlan", "address_book", "agents_of_group", "call_edges", "default_plan",
           "describe", "groups_to_run", "resolve_http_ports"]
