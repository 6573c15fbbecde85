"""Allure evidence that costs nothing when Allure is off.

Suites call ``step()``, ``attach_json()``, ``attach_text()`` and ``labels()`` unconditionally;
they turn into Allure steps, attachments and labels only when allure-pytest is installed and
``--alluredir`` is given. ``allure`` is imported lazily, never at plugin import.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CATEGORIES = [
    {"name": "Inconclusive (not enough evidence)", "matchedStatuses": ["failed", "broken"],
     "messageRegex": ".*(INCONCLUSIVE|inconclusive).*"},
    {"name": "Environment or set-up (the stack did not come up)", "matchedStatuses": ["failed", "broken"],
     "messageRegex": ".*(stack failed to start|StackStartError|not healthy after|redis-server|toxiproxy|Docker|"
                     "docker|did not start|no spec configured).*"},
    {"name": "Product defect (the system misbehaved)", "matchedStatuses": ["failed"]},
    {"name": "Test defect (the test itself broke)", "matchedStatuses": ["broken"]},
]


def _allure() -> Any | None:
    """The allure module when allure-pytest is recording this run, else None."""
    if "allure_pytest" not in sys.modules and "allure_pytest.plugin" not in sys.modules:
        return None
    try:
        import allure
        from allure_commons import plugin_manager  # is a listener (allure-pytest) registered?
    except ImportError:
        return None
    return allure if plugin_manager.list_name_plugin() else None


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    allure = _allure()
    if allure is None:
        yield
        return
    with allure.step(title):
        yield


def attach_text(name: str, text: str) -> None:
    allure = _allure()
    if allure is not None:
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def attach_json(name: str, payload: Any) -> None:
    allure = _allure()
    if allure is not None:
        allure.attach(json.dumps(payload, indent=2, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)


def labels(**values: str) -> None:
    """Labels such as host=, group=, agent=, suite= (shown as Allure labels and tags)."""
    allure = _allure()
    if allure is None:
        return
    for key, value in values.items():
        if key == "suite":
            allure.dynamic.suite(value)
        else:
            allure.dynamic.label(key, value)
            allure.dynamic.tag(f"{key}:{value}")


def write_run_files(results_dir: Path, environment: dict[str, str]) -> None:
    """categories.json (failure classes) and environment.properties, as Allure reads them."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    lines = [f"{k.replace(' ', '_')}={str(v).replace(chr(10), ' ')}" for k, v in sorted(environment.items())]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
