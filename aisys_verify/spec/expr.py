"""Expressions found in spec values.

Two languages live in the real spec:

* startup_config port expressions, ``"${PORT_OFFSET}+7200"``: a sum of integers
  and variables, evaluated by the real launcher after replacing an unset
  variable with 0. :func:`parse_port_expr` reads them.
* compose interpolation, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` ...
  per the compose specification. :func:`interpolate` implements it, including
  ``$$`` escapes and nested defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aisys_verify.errors import ExprError as ExprError

# numbers are bounded to 9 digits: a port expression never needs more, and int() of
# thousands of digits is slow and, past 4300, refused by Python itself
_VAR = r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::?-\s*(-?\d{1,9})\s*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
_TERM = re.compile(rf"\s*(?:(\d{{1,9}})|{_VAR})\s*")


@dataclass(frozen=True)
class PortExpr:
    """A parsed port expression: ``constant`` plus the sum of ``variables``."""

    raw: str
    constant: int
    variables: tuple[tuple[str, int], ...]  # (name, default when unset)

    @property
    def uses_offset(self) -> bool:
        return bool(self.variables)

    def evaluate(self, env: Mapping[str, str]) -> int:
        total = self.constant
        for name, default in self.variables:
            value = env.get(name)
            if value is None or value == "":
                total += default
                continue
            try:
                total += int(value)
            except ValueError:
                raise ExprError(f"variable {name}={value!r} is not an integer") from None
        return total


def parse_port_expr(value: object) -> PortExpr:
    """Parse an int or a string like ``"${PORT_OFFSET}+7200"``; raise ExprError when it is neither."""
    if isinstance(value, bool) or value is None:
        raise ExprError(f"expected a port number or '${{PORT_OFFSET}}+N', got {value!r}")
    if isinstance(value, int):
        return PortExpr(str(value), value, ())
    if not isinstance(value, str):
        raise ExprError(f"expected a port number or '${{PORT_OFFSET}}+N', got a {type(value).__name__}")
    constant = 0
    variables: list[tuple[str, int]] = []
    for part in value.split("+"):
        match = _TERM.fullmatch(part)
        if not match:
            raise ExprError(f"cannot evaluate {value!r}: expected terms like 7200 or ${{PORT_OFFSET}} joined by '+'")
        number, braced, default, bare = match.groups()
        if number is not None:
            constant += int(number)
        else:
            # the real launcher replaces an unset variable with 0 before evaluating
            variables.append((braced or bare, int(default) if default else 0))
    return PortExpr(value, constant, tuple(variables))


# --- compose interpolation -------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Substitution:
    """One ``${...}`` replaced in a string: where it sat and what it became."""

    name: str
    start: int
    end: int
    value: str
    defined: bool
    bare: bool  # no default, alternative or error operator: unset means empty


@dataclass(frozen=True)
class Interpolated:
    raw: str
    value: str
    substitutions: tuple[Substitution, ...]


def interpolate(raw: str, env: Mapping[str, str]) -> Interpolated:
    """Interpolate one compose string; raise ExprError for bad syntax or a ``:?`` error."""
    out: list[str] = []
    subs: list[Substitution] = []
    _interpolate_into(raw, 0, len(raw), env, out, subs, top=True)
    return Interpolated(raw, "".join(out), tuple(subs))


MAX_NESTING = 32  # ${A:-${B:-...}} deeper than this is not a real spec; refuse before Python's recursion limit


def _interpolate_into(s: str, i: int, end: int, env: Mapping[str, str], out: list[str],
                      subs: list[Substitution], top: bool, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise ExprError(f"interpolation nested deeper than {MAX_NESTING} levels")
    while i < end:
        ch = s[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if i + 1 < end and s[i + 1] == "$":  # $$ is a literal dollar
            out.append("$")
            i += 2
            continue
        if i + 1 < end and s[i + 1] == "{":
            close = _matching_brace(s, i + 1, end)
            body = s[i + 2:close]
            value, name, defined = _expand(body, env, depth)
            if top:
                bare = _NAME.fullmatch(body.strip()) is not None
                subs.append(Substitution(name, i, close + 1, value, defined, bare))
            out.append(value)
            i = close + 1
            continue
        match = _NAME.match(s, i + 1, end)
        if match:
            name = match.group(0)
            bare_value = env.get(name)
            if top:
                subs.append(Substitution(name, i, match.end(), bare_value or "", bare_value is not None, True))
            out.append(bare_value or "")
            i = match.end()
            continue
        raise ExprError(f"invalid interpolation at position {i} in {s!r}: use $$ for a literal '$'")


def _matching_brace(s: str, open_at: int, end: int) -> int:
    depth = 0
    for j in range(open_at, end):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ExprError(f"unclosed '${{' in {s!r}")


_OPS = (":-", ":?", ":+", "-", "?", "+")


def _expand(body: str, env: Mapping[str, str], depth: int) -> tuple[str, str, bool]:
    match = _NAME.match(body)
    if not match:
        raise ExprError(f"invalid variable name in '${{{body}}}'")
    name = match.group(0)
    rest = body[match.end():]
    value: str | None = env.get(name)
    if not rest:
        return value or "", name, value is not None
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise ExprError(f"invalid interpolation '${{{body}}}': expected one of {', '.join(_OPS)} after the name")
    arg_raw = rest[len(op):]
    nested: list[str] = []
    _interpolate_into(arg_raw, 0, len(arg_raw), env, nested, [], top=False, depth=depth + 1)
    arg = "".join(nested)
    unset_or_empty = not value
    unset = value is None
    missing = unset_or_empty if op.startswith(":") else unset
    if op in (":-", "-"):
        return (arg if missing else value or ""), name, not missing
    if op in (":?", "?"):
        if missing:
            raise ExprError(f"required variable {name} is not set: {arg or 'no message'}")
        return value or "", name, True
    # :+ and + give the alternative when the variable IS set
    return ("" if missing else arg), name, not unset
