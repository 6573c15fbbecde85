"""Located YAML loading (aisys_verify.spec.source): locations, merge keys, duplicates, and errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.errors import SpecError, SpecNotFound
from aisys_verify.spec.source import Location, YMap, YSeq, load_yaml, parse_yaml

NESTED = """\
top:
  name: alpha
  ports:
    - 7200
    - "${PORT_OFFSET}+7201"
    - {a: 1, b: [x, y]}
  inner:
    deep:
      leaf: true
list:
- first
-   second
"""


def test_locations_are_one_based_for_nested_maps_and_lists() -> None:
    data = parse_yaml(NESTED, "n.yaml").data
    assert isinstance(data, YMap)
    assert data.loc == Location("n.yaml", 1, 1)
    top = data["top"]
    assert isinstance(top, YMap)
    # a mapping or list value is located at its key (where an editor shows it), and knows its own start
    assert data.loc_of("top") == Location("n.yaml", 1, 1)
    assert top.loc == Location("n.yaml", 2, 3)
    # a scalar value is located at the value itself
    assert top.loc_of("name") == Location("n.yaml", 2, 9)
    ports = top["ports"]
    assert isinstance(ports, YSeq)
    assert top.loc_of("ports") == Location("n.yaml", 3, 3)
    assert ports.loc == Location("n.yaml", 4, 5)
    assert [ports.loc_of(i) for i in range(3)] == [
        Location("n.yaml", 4, 7), Location("n.yaml", 5, 7), Location("n.yaml", 6, 7)]
    flow = ports[2]
    assert flow.loc == Location("n.yaml", 6, 7)
    assert flow.loc_of("a") == Location("n.yaml", 6, 11)
    assert flow.loc_of("b") == Location("n.yaml", 6, 14)
    assert flow["b"].loc_of(1) == Location("n.yaml", 6, 21)
    assert top.loc_of("inner") == Location("n.yaml", 7, 3)
    assert top["inner"].loc_of("deep") == Location("n.yaml", 8, 5)
    assert top["inner"]["deep"].loc_of("leaf") == Location("n.yaml", 9, 13)
    assert data.loc_of("list") == Location("n.yaml", 10, 1)
    assert data["list"].loc_of(0) == Location("n.yaml", 11, 3)
    assert data["list"].loc_of(1) == Location("n.yaml", 12, 5)
    assert ports == [7200, "${PORT_OFFSET}+7201", {"a": 1, "b": ["x", "y"]}]


def test_loc_of_unknown_key_or_index_falls_back_to_the_container() -> None:
    data = parse_yaml(NESTED, "n.yaml").data
    assert data["top"].loc_of("missing") == data["top"].loc
    assert data["list"].loc_of(7) == data["list"].loc
    assert data["list"].loc_of(-1) == data["list"].loc


def test_location_str() -> None:
    assert str(Location("a.yaml")) == "a.yaml"
    assert str(Location("a.yaml", 3)) == "a.yaml:3"
    assert str(Location("a.yaml", 3, 7)) == "a.yaml:3:7"
    assert Location("a", 2, 1) < Location("a", 10, 1) < Location("b", 1, 1)


def test_scalars_are_plain_python_values() -> None:
    data = parse_yaml("i: 1\nf: 1.5\nb: yes\nn: ~\ns: '7'\nd: 2024-01-02\n", "s.yaml").data
    assert data == {"i": 1, "f": 1.5, "b": True, "n": None, "s": "7", "d": __import__("datetime").date(2024, 1, 2)}


MERGE = """\
defaults: &defaults
  required: true
  port: 7200
extra: &extra
  port: 9999
  role: worker
one:
  <<: *defaults
  name: one
two:
  <<: *defaults
  port: 7300
three:
  <<: [*defaults, *extra]
four:
  <<: [*extra, *defaults]
"""


def test_merge_key_single_anchor_keeps_the_anchors_location() -> None:
    doc = parse_yaml(MERGE, "m.yaml")
    one = doc.data["one"]
    assert one == {"required": True, "port": 7200, "name": "one"}
    assert one.loc_of("required") == Location("m.yaml", 2, 13)  # defined at the anchor
    assert one.loc_of("port") == Location("m.yaml", 3, 9)
    assert one.loc_of("name") == Location("m.yaml", 9, 9)
    assert "<<" not in one
    assert doc.duplicates == ()


def test_merge_key_own_keys_override_merged_ones() -> None:
    two = parse_yaml(MERGE, "m.yaml").data["two"]
    assert two["port"] == 7300
    assert two.loc_of("port") == Location("m.yaml", 12, 9)
    assert two.loc_of("required") == Location("m.yaml", 2, 13)


def test_merge_list_earlier_mappings_win() -> None:
    data = parse_yaml(MERGE, "m.yaml").data
    assert data["three"] == {"required": True, "port": 7200, "role": "worker"}
    assert data["three"].loc_of("port") == Location("m.yaml", 3, 9)
    assert data["three"].loc_of("role") == Location("m.yaml", 6, 9)
    assert data["four"]["port"] == 9999
    assert data["four"].loc_of("port") == Location("m.yaml", 5, 9)


def test_merged_keys_overridden_are_not_duplicates() -> None:
    assert parse_yaml(MERGE, "m.yaml").duplicates == ()


def test_a_merged_mapping_referenced_again_reports_no_false_duplicate() -> None:
    """'mid' merges 'base' and overrides one of its keys; using 'mid' again through an alias must not turn
    that override into a 'key given twice' (PyYAML's flatten_mapping rewrites the shared node in place)."""
    text = "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  a: 3\nuse: *mid\n"
    doc = parse_yaml(text, "x.yaml")
    assert doc.data["use"] == {"a": 3}
    assert doc.duplicates == ()


def test_duplicate_keys_are_reported_with_both_locations() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "d.yaml")
    assert doc.data == {"a": 3, "b": {"c": 2}}
    assert {(d.key, d.first, d.second) for d in doc.duplicates} == {
        ("c", Location("d.yaml", 3, 3), Location("d.yaml", 4, 3)),
        ("a", Location("d.yaml", 1, 1), Location("d.yaml", 5, 1)),
    }


def test_same_key_in_different_mappings_is_no_duplicate() -> None:
    assert parse_yaml("a: {x: 1}\nb: {x: 2}\n", "d.yaml").duplicates == ()


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: [1, 2\nb: 3\n", 2, "malformed YAML"),
    ("a: 1\n  b: 2\n", 2, "malformed YAML"),
    ("a:\n\tb: 1\n", 2, "malformed YAML"),
    ("a: *nope\n", 1, "undefined alias"),
    ("x: 1\ny:\n  <<: 3\n", 3, "bad merge key"),
    ("x: 1\ny:\n  <<: [1, 2]\n", 3, "bad merge key"),
    ("a: !!binary xx\n", 1, "cannot read"),
    ("a: !custom 1\n", 1, "cannot read"),
    ("a: 2024-13-45\n", 1, "cannot read"),
    ("? [1, 2]\n: x\n", 1, "mapping key must be a plain value"),
    ("a: 1\n---\nb: 2\n", 2, "malformed YAML"),
])
def test_bad_yaml_is_a_spec_error_naming_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "bad.yaml")
    err = info.value
    assert words in err.message
    assert err.location is not None
    assert err.location.path == "bad.yaml"
    assert err.location.line == line
    assert err.one_line().startswith(f"bad.yaml:{line}:")
    assert "\n" not in err.one_line().split(" (")[0]


@pytest.mark.parametrize("text", ["a: !!timestamp soon\n", "a: !!bool maybe\n", "a: !!int\n", "a: !!float ''\n",
                                  "a: !!bool\n", "? !!timestamp x\n: 1\n"])
def test_explicitly_tagged_bad_scalar_is_a_spec_error(text: str) -> None:
    """PyYAML's constructors fail on these with AttributeError, KeyError or IndexError rather than
    ConstructorError/ValueError; the loader must still turn them into a located SpecError."""
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "tag.yaml")
    assert info.value.one_line().startswith("tag.yaml:1:")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "&a [x, [*a]]\n"])
def test_recursive_alias_does_not_hang(text: str) -> None:
    start = time.monotonic()
    with pytest.raises(SpecError, match="recursive alias"):
        parse_yaml(text, "r.yaml")
    assert time.monotonic() - start < 5


def test_recursive_merge_does_not_hang() -> None:
    start = time.monotonic()
    try:
        parse_yaml("a: &a\n  <<: *a\n  b: 1\n", "r.yaml")
    except SpecError:
        pass
    assert time.monotonic() - start < 5


def test_very_deep_nesting_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="deeper than 200"):
        parse_yaml("[" * 1000 + "]" * 1000, "deep.yaml")


def test_empty_text_is_none() -> None:
    for text in ("", "\n", "# only a comment\n", "---\n"):
        doc = parse_yaml(text, "e.yaml")
        assert doc.data is None
        assert doc.duplicates == ()


# --- files --------------------------------------------------------------------------------------

def test_load_yaml_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    doc = load_yaml(path)
    assert doc.data == {"a": 1}
    assert Path(doc.path).resolve() == path.resolve()
    assert Path(doc.data.loc.path).resolve() == path.resolve()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    assert load_yaml(path).data is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecNotFound) as info:
        load_yaml(tmp_path / "nope.yaml")
    assert "no such file" in info.value.one_line()
    assert "nope.yaml" in info.value.one_line()
    assert isinstance(info.value, SpecError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_yaml(tmp_path)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="is not UTF-8 text") as info:
        load_yaml(path)
    assert "latin1.yaml" in info.value.one_line()


def test_malformed_file_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("ok: 1\nlist: [1, 2\nnext: 3\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    line = info.value.one_line()
    where = line.split(": malformed")[0]
    file, lineno, _col = where.rsplit(":", 2)
    assert Path(file).resolve() == path.resolve()
    assert lineno == "3"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    with pytest.raises(SpecError, match="cannot read"):
        load_yaml(path)


def test_display_path_relative_when_shorter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.yaml").write_text("a: 1\n")
    monkeypatch.chdir(tmp_path)
    assert load_yaml(tmp_path / "sub" / "f.yaml").path == os.path.join("sub", "f.yaml")


# --- properties -------------------------------------------------------------------------------

yaml_chars = st.sampled_from([*":-[]{}&*!<>|#'\"?,%@` \n\t", "  ", "- ", ": ", "<<: ", "&a ", "*a", "!!str ",
                              "!!binary ", "!!timestamp ", "---\n"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(yaml_chars | st.text(max_size=3), max_size=30).map("".join)))
def test_parse_yaml_raises_only_spec_error(text: str) -> None:
    try:
        doc = parse_yaml(text, "x.yaml")
    except SpecError as exc:
        message = exc.one_line()
    else:
        assert doc.path == "x.yaml"
        return
    assert message.startswith("x.yaml")
