"""The secret value type and per-run canaries, below every part that handles secrets (``security`` scans for
them, the compose backend in ``stack`` writes them for its containers); ``aisys_verify.security.secrets``
re-exports these names and documents them.

``Secret`` is not a ``str``: pytest's assertion diff, ``repr``, f-strings, ``json.dumps`` and pickling never
see the value; ``reveal()`` is the one way to it. ``canary(name)`` makes a random value per run.
"""

from __future__ import annotations

import hmac
import os
import secrets as _random
from pathlib import Path
from typing import NoReturn

from aisys_verify.errors import InvalidValue

CANARY_PREFIX = "aisys-canary"


class Secret:
    """A secret value; ``reveal()`` returns it, nothing else shows it."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidValue(f"secret {name!r}: the value must be a non-empty str")
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, '***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self.name))

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"secret {self.name!r} cannot be pickled: pass reveal() where it is really needed")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"secret {self.name!r} cannot be copied out: pass reveal() where it is really needed")


def canary(name: str) -> Secret:
    """A random value for this run, recognisable (``aisys-canary-<name>-...``) and never seen before."""
    return Secret(name, f"{CANARY_PREFIX}-{name}-{_random.token_hex(16)}")


def write_secret_file(secret: Secret, folder: Path) -> Path:
    """Write ``secret`` to ``folder/<name>`` (0600) for a ``*_FILE`` variable; return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / secret.name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret.reveal())
    return path


__all__ = ["CANARY_PREFIX", "Secret", "canary", "write_secret_file"]
