"""Standing the spec up: backends (local processes now; compose next), Toxiproxy on every edge, cleanup."""

from aisys_verify.stack.local import AgentEndpoint, LocalStack, StackOptions, StackStartError

__all__ = ["AgentEndpoint", "LocalStack", "StackOptions", "StackStartError"]
