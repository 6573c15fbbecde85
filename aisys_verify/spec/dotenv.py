"""Reader for a compose project's ``.env`` file, as Compose reads it for interpolation (see ``read_dotenv``).

Apart from ``spec.compose`` because it is a file format of its own: line syntax, quoting and escapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from aisys_verify.errors import SpecError
from aisys_verify.spec.expr import ExprError, interpolate
from aisys_verify.spec.source import Location, display_path

_DOTENV = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=|:\s)\s*(?P<value>.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}
MAX_DOTENV_BYTES = 1 << 20  # a .env is a few lines; anything larger is not one


def read_dotenv(path: str | os.PathLike[str], env: Mapping[str, str]) -> dict[str, str]:
    """The variables of a ``.env`` file, as Compose reads it for interpolation.

    ``NAME=value`` lines (``export`` allowed); ``#`` comments and blank lines; unquoted values end at
    `` #`` and are trimmed; 'single quotes' are literal; "double quotes" take \\n-style escapes.
    Unquoted and double-quoted values are interpolated with the lines above and ``env`` (which wins,
    as the shell does). A line Compose would refuse is a SpecError at ``.env:line``.
    """
    shown = display_path(path)
    try:
        if os.path.getsize(path) > MAX_DOTENV_BYTES:
            raise SpecError(f"'{shown}' is over {MAX_DOTENV_BYTES >> 20} MiB, too large for a .env file")
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SpecError(f"'{shown}' is not UTF-8 text", hint="a .env file is NAME=value lines") from exc
    except OSError as exc:
        raise SpecError(f"cannot read '{shown}': {exc.strerror}") from exc
    values: dict[str, str] = {}
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        loc = Location(shown, number, 1)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV.match(line)
        if not match:
            raise SpecError(f"cannot read this .env line: {line.strip()[:60]!r}", loc,
                            "write NAME=value (quote values with spaces or #)")
        value = match.group("value")
        quote = value[:1]
        if quote in ("'", '"'):
            text = value[1:]
            while not _closed(text, quote) and number < len(lines):  # a quoted value may span lines
                text += "\n" + lines[number]
                number += 1
            if not _closed(text, quote):
                raise SpecError(f"unterminated {quote} quote in .env value of {match.group('name')}", loc)
            end = _close_at(text, quote)
            body = text[:end]
            if quote == "'":
                values[match.group("name")] = body
                continue
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
        else:
            value = re.split(r"\s#", value, maxsplit=1)[0].strip()
        try:
            values[match.group("name")] = interpolate(value, {**values, **env}).value
        except ExprError as exc:
            raise SpecError(f"cannot interpolate the .env value of {match.group('name')}: {exc}", loc) from None
    return values


def _close_at(text: str, quote: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _closed(text: str, quote: str) -> bool:
    return _close_at(text, quote) >= 0
