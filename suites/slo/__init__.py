"""The spec's SLOs asserted under load on the stood-up stack (pytest -m slo).

A package, so its modules never clash with same-named test modules elsewhere in one session.
"""
