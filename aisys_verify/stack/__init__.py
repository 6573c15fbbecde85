"""Standing the spec up: backends (local processes, compose), Toxiproxy on every edge, cleanup."""

from aisys_verify.stack.base import AgentEndpoint, StackOptions, StackStartError
from aisys_verify.stack.local import LocalStack

__all__ = ["AgentEndpoint", "LocalStack", "StackOptions", "StackStartError"]
