"""Reading one YAML (or JSON) file a user gives by path: a chaos scenario, a load scenario, a Chaos Toolkit
experiment. One reader, so each kind fails the same way: the path, what could not be read, and why, as the
caller's own error class (never a bare OSError or yaml.YAMLError)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.errors import VerifyError

__all__ = ["read_yaml"]


def read_yaml(path: Path, error: Callable[[str], VerifyError], what: str = "file") -> Any:
    """The document in ``path``; ``error("<path>: cannot read the <what> (...)")`` when the file cannot be read,
    ``error("<path>: not valid YAML: ...")`` when it does not parse."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
