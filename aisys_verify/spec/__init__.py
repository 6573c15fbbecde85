"""The deployment spec: readers for the real formats and the immutable Topology they produce."""

from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Agent, DockerGroup, Edge, EdgeKind, Host, Slo, SloType, Topology
from aisys_verify.spec.source import Location

__all__ = ["Agent", "DockerGroup", "Edge", "EdgeKind", "Host", "Location", "Slo", "SloType", "Topology", "load_spec"]
