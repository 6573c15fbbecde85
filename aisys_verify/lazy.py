"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names in ``__all__`` and, for the names defined in its inner modules, which
module holds each; the name is imported from there on first use and then kept as a plain global. So
``import aisys_verify`` (or a subpackage) stays cheap and free of side effects: no PyYAML, ZeroMQ, Redis,
Locust or Allure until a name that needs them is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose globals are ``namespace``: ``exports`` maps a public
    name to the module holding it, relative to ``package`` (``"chaos"`` for ``aisys_verify.faults.chaos``)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value  # the next lookup is an ordinary global
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
