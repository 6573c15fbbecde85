"""Where ``pytest -m SUITE`` looks when no path is given: the suites folder, not the framework's own tests.

A repository keeps its framework tests in ``testpaths`` (``pytest`` alone runs them) and its executable
spec elsewhere (``suites/``). ``pytest -m e2e`` at the root should run the e2e suite, as the seed's users
type it, instead of deselecting every framework test and exiting 5. The rule: with no path on the command
line, a ``-m`` expression that selects a test carrying one suite marker and no unmarked test collects the
``aisys_suites`` ini paths instead of ``testpaths``. ``-m "not e2e"`` (which also selects unmarked tests)
and any explicit path keep pytest's own behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = {"and", "or", "not"}


def _evaluate(expression: str, markers: frozenset[str]) -> bool | None:
    """The truth of a ``-m`` expression for a test carrying ``markers``; None when it uses syntax this reader
    does not take (marker keyword arguments), so that the caller leaves pytest's selection alone."""
    words = _TOKEN.findall(expression)
    if "".join(words) != re.sub(r"\s+", "", expression) or not words:
        return None
    out = []
    for word in words:
        if word in ("(", ")") or word in _OPERATORS:
            out.append(word)
        elif re.fullmatch(r"[\w.:\-]+", word):
            out.append("True" if word in markers else "False")
        else:
            return None
    try:  # only True/False, and/or/not and parentheses reach eval: no name, call or attribute can
        value = eval(" ".join(out), {"__builtins__": {}}, {})
    except SyntaxError:
        return None
    return bool(value)


def selects_suites_only(expression: str, suite_markers: Iterable[str]) -> bool:
    """Does ``-m expression`` pick tests of some suite and no unmarked (framework) test?"""
    if not expression.strip():
        return False
    unmarked = _evaluate(expression, frozenset())
    if unmarked is None or unmarked:
        return False
    return any(_evaluate(expression, frozenset({name})) for name in suite_markers)
