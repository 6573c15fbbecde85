"""The agent-level contract of PROTOCOL.md, per agent of the spec (pytest -m conformance; docs/conformance.md).

A package, so its modules never clash with same-named test modules elsewhere when suites and tests run in
one session.
"""
