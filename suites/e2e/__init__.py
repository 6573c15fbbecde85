"""End-to-end journeys through the stood-up stack (pytest -m e2e).

A package, so its modules (test_dialogue, ...) never clash with same-named test modules
elsewhere in the repository when suites and tests run in one session.
"""
