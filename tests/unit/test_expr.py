"""Port expressions and compose interpolation (aisys_verify.spec.expr).

Interpolation is checked against the compose specification's rules
(https://github.com/compose-spec/compose-spec/blob/main/spec.md#interpolation):
``${VAR:-d}`` defaults when VAR is unset *or empty*, ``${VAR-d}`` only when unset;
``:?``/``?`` fail the same way; ``:+``/``+`` give the alternative when VAR is set
(and non-empty for ``:+``); ``$$`` is a literal ``$``; defaults may nest.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.spec.expr import ExprError, Substitution, interpolate, parse_port_expr

# --- port expressions --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "env", "number", "uses_offset"), [
    (7200, {}, 7200, False),
    (0, {}, 0, False),
    ("7200", {}, 7200, False),
    ("${PORT_OFFSET}+7200", {}, 7200, True),  # unset means 0, as the real launcher does
    ("${PORT_OFFSET}+7200", {"PORT_OFFSET": "1000"}, 8200, True),
    ("${PORT_OFFSET}+7200", {"PORT_OFFSET": ""}, 7200, True),
    ("7200+${PORT_OFFSET}", {"PORT_OFFSET": "5"}, 7205, True),
    ("$PORT_OFFSET+1", {"PORT_OFFSET": "20000"}, 20001, True),
    ("$PORT_OFFSET+1", {}, 1, True),
    ("${PORT_OFFSET:-5}+1", {}, 6, True),
    ("${PORT_OFFSET:-5}+1", {"PORT_OFFSET": "10"}, 11, True),
    ("${PORT_OFFSET-5}+1", {}, 6, True),
    (" ${PORT_OFFSET} + 7200 ", {"PORT_OFFSET": "1"}, 7201, True),
    ("${ PORT_OFFSET }+7200", {"PORT_OFFSET": "2"}, 7202, True),
    ("${A}+${B}+3", {"A": "1", "B": "-2"}, 2, True),
    ("${PORT_OFFSET}+7200", {"PORT_OFFSET": "-100"}, 7100, True),
])
def test_port_expressions(raw: object, env: dict[str, str], number: int, uses_offset: bool) -> None:
    expr = parse_port_expr(raw)
    assert expr.evaluate(env) == number
    assert expr.uses_offset is uses_offset
    assert expr.raw == str(raw)


def test_port_expression_parts() -> None:
    expr = parse_port_expr("${PORT_OFFSET:-5}+7200+$OTHER+3")
    assert expr.constant == 7203
    assert expr.variables == (("PORT_OFFSET", 5), ("OTHER", 0))


@pytest.mark.parametrize("value", ["abc", "", "+", "7200+", "+7200", "${PORT_OFFSET}-7200", "7200*2", "72.5",
                                   "${PORT_OFFSET", "${}+1", "$+1", "${1X}+1", "${PORT_OFFSET:?x}+1", "0x10",
                                   None, True, False, 7200.0, [7200], {"port": 7200}])
def test_garbage_port_expressions_are_expr_errors(value: object) -> None:
    with pytest.raises(ExprError):
        parse_port_expr(value)


@pytest.mark.parametrize("value", ["abc", "1.5", "0x10", "ten", " ", "1e3"])
def test_non_integer_variable_value_is_an_expr_error(value: str) -> None:
    expr = parse_port_expr("${PORT_OFFSET}+7200")
    with pytest.raises(ExprError, match="PORT_OFFSET"):
        expr.evaluate({"PORT_OFFSET": value})


def test_expr_error_is_a_value_error() -> None:
    assert issubclass(ExprError, ValueError)


def test_overlong_number_in_a_port_expression_is_an_expr_error() -> None:
    """Python refuses to convert strings of more than 4300 digits; that must surface as ExprError, which
    read_port turns into a SpecError, not as a bare ValueError escaping the loader."""
    with pytest.raises(ExprError):
        parse_port_expr("1" * 5000)
    with pytest.raises(ExprError):
        parse_port_expr("${PORT_OFFSET:-" + "1" * 5000 + "}+1")


@given(offset=st.integers(min_value=-10**12, max_value=10**12), n=st.integers(min_value=0, max_value=999_999_999))
def test_offset_plus_constant_evaluates_to_the_sum(offset: int, n: int) -> None:
    assert parse_port_expr(f"${{X}}+{n}").evaluate({"X": str(offset)}) == n + offset
    assert parse_port_expr(f"{n}+$X").evaluate({"X": str(offset)}) == n + offset


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans(), st.floats(),
                 st.lists(st.integers(), max_size=2)))
def test_parse_port_expr_raises_only_expr_error(value: object) -> None:
    try:
        parse_port_expr(value)
    except ExprError:
        pass


# --- compose interpolation ---------------------------------------------------------------------

UNSET: dict[str, str] = {}
EMPTY = {"VAR": ""}
SET = {"VAR": "value"}


@pytest.mark.parametrize(("raw", "env", "expected"), [
    ("plain", UNSET, "plain"),
    ("$$", UNSET, "$"),
    ("$$VAR", SET, "$VAR"),
    ("$${VAR}", SET, "${VAR}"),
    ("a$$$$b", UNSET, "a$$b"),
    ("${VAR}", SET, "value"),
    ("${VAR}", UNSET, ""),
    ("$VAR", SET, "value"),
    ("$VAR", UNSET, ""),
    ("$VAR/x", SET, "value/x"),
    ("$VAR.x", SET, "value.x"),
    ("$VARx", SET, ""),  # the name is VARx
    ("pre-${VAR}-post", SET, "pre-value-post"),
    # :- and -
    ("${VAR:-d}", UNSET, "d"),
    ("${VAR:-d}", EMPTY, "d"),
    ("${VAR:-d}", SET, "value"),
    ("${VAR-d}", UNSET, "d"),
    ("${VAR-d}", EMPTY, ""),
    ("${VAR-d}", SET, "value"),
    ("${VAR:-}", UNSET, ""),
    ("${VAR:-a b:c}", UNSET, "a b:c"),
    # :? and ? when satisfied
    ("${VAR:?msg}", SET, "value"),
    ("${VAR?msg}", SET, "value"),
    ("${VAR?msg}", EMPTY, ""),
    # :+ and +
    ("${VAR:+alt}", SET, "alt"),
    ("${VAR:+alt}", EMPTY, ""),
    ("${VAR:+alt}", UNSET, ""),
    ("${VAR+alt}", SET, "alt"),
    ("${VAR+alt}", EMPTY, "alt"),
    ("${VAR+alt}", UNSET, ""),
    # nesting
    ("${A:-${B:-c}}", {}, "c"),
    ("${A:-${B:-c}}", {"B": "b"}, "b"),
    ("${A:-${B:-c}}", {"A": "a", "B": "b"}, "a"),
    ("${A:-$B}", {"B": "b"}, "b"),
    ("${A:-x$${B}}", {}, "x${B}"),
    ("${A:+${B}-${C}}", {"A": "1", "B": "2", "C": "3"}, "2-3"),
    ("${A:-${B:-${C:-deep}}}", {}, "deep"),
])
def test_interpolation(raw: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(raw, env).value == expected


@pytest.mark.parametrize(("raw", "env"), [
    ("${VAR:?must be set}", UNSET),
    ("${VAR:?must be set}", EMPTY),
    ("${VAR?must be set}", UNSET),
])
def test_required_variable_raises_with_its_message(raw: str, env: dict[str, str]) -> None:
    with pytest.raises(ExprError, match="VAR is not set: must be set"):
        interpolate(raw, env)


def test_required_variable_without_message() -> None:
    with pytest.raises(ExprError, match="no message"):
        interpolate("${VAR:?}", {})


@pytest.mark.parametrize("raw", ["${", "${VAR", "x${A:-${B}", "$", "a $ b", "$1", "${}", "${1A}", "${A.B}",
                                 "${A B}", "$-", "${A:-$}", "${A:x}"])
def test_bad_syntax_is_an_expr_error(raw: str) -> None:
    with pytest.raises(ExprError):
        interpolate(raw, {"A": "1"})


def test_unclosed_brace_message() -> None:
    with pytest.raises(ExprError, match="unclosed"):
        interpolate("port ${PORT_OFFSET", {})


def test_substitution_positions() -> None:
    raw = "$$x${A}y$B ${C:-d}"
    result = interpolate(raw, {"A": "1", "B": "2"})
    assert result.value == "$x1y2 d"
    assert result.raw == raw
    assert result.substitutions == (
        Substitution("A", 3, 7, "1", True, True),
        Substitution("B", 8, 10, "2", True, True),
        Substitution("C", 11, 18, "d", False, False),
    )
    for sub in result.substitutions:
        assert raw[sub.start] == "$"
        assert raw[sub.end - 1] in "}AB"


def test_nested_substitutions_are_reported_once_at_top_level() -> None:
    result = interpolate("${A:-${B}}x", {"B": "b"})
    assert [(s.name, s.start, s.end) for s in result.substitutions] == [("A", 0, 10)]
    assert result.value == "bx"


def test_defined_and_bare_flags() -> None:
    subs = interpolate("${U} ${E} $U $E ${U:-d}", {"E": ""}).substitutions
    assert [(s.name, s.defined, s.bare) for s in subs] == [
        ("U", False, True), ("E", True, True), ("U", False, True), ("E", True, True), ("U", False, False)]


def test_deeply_nested_defaults_do_not_crash() -> None:
    """Nesting is legal to any depth; a deep one must interpolate or fail as ExprError, not RecursionError."""
    raw = "${A:-" * 3000 + "x" + "}" * 3000
    try:
        assert interpolate(raw, {}).value == "x"
    except ExprError:
        pass


# --- properties --------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
envs = st.dictionaries(names, st.text(max_size=10), max_size=5)


@given(env=envs, text=st.text().filter(lambda t: "$" not in t))
def test_text_without_dollar_is_unchanged(env: dict[str, str], text: str) -> None:
    result = interpolate(text, env)
    assert result.value == text
    assert result.substitutions == ()


@given(env=envs, parts=st.lists(st.text().filter(lambda t: "$" not in t), min_size=1, max_size=5))
def test_double_dollar_is_one_dollar(env: dict[str, str], parts: list[str]) -> None:
    assert interpolate("$$".join(parts), env).value == "$".join(parts)


@given(name=names, value=st.text(max_size=10).filter(lambda v: "$" not in v), default=st.text(
    alphabet=st.characters(blacklist_characters="${}"), max_size=10))
def test_default_operators_follow_the_compose_spec(name: str, value: str, default: str) -> None:
    for env in ({}, {name: ""}, {name: value}):
        current = env.get(name)
        assert interpolate(f"${{{name}:-{default}}}", env).value == (current or default)
        assert interpolate(f"${{{name}-{default}}}", env).value == (default if current is None else current)
        assert interpolate(f"${{{name}:+{default}}}", env).value == (default if current else "")
        assert interpolate(f"${{{name}+{default}}}", env).value == ("" if current is None else default)


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from(list("${}:-+?ABx_ 1\\")) | st.characters(), max_size=40), env=envs)
def test_interpolate_raises_only_expr_error(text: str, env: dict[str, str]) -> None:
    try:
        result = interpolate(text, env)
    except ExprError:
        return
    assert isinstance(result.value, str)
    for sub in result.substitutions:
        assert 0 <= sub.start < sub.end <= len(text)
        assert text[sub.start] == "$"
