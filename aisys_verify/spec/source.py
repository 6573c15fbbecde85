"""YAML loading that remembers where every value came from.

Mappings and sequences are loaded as :class:`YMap` and :class:`YSeq`, plain
``dict`` and ``list`` subclasses that also hold the :class:`Location` of each
entry. Merge keys (``<<``) are expanded here, to the YAML merge-key spec, so a
merged value keeps the location of the anchor that defined it and the result does
not depend on the PyYAML version. Scalars are ordinary Python values, resolved by
PyYAML's safe rules. Every read is bounded (:class:`YamlLimits`): size, nesting,
and what aliases expand to, so an alias bomb is a one-line SpecError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aisys_verify.errors import SpecError, SpecNotFound

try:  # libyaml is 5-10x faster; the pure-Python loader gives identical nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a spec file; line and column are 1-based, as editors show them."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.path
        return f"{self.path}:{self.line}:{self.column}" if self.column else f"{self.path}:{self.line}"


class YMap(dict[Any, Any]):
    """A mapping from a YAML file, with the location of itself and of each value."""

    __slots__ = ("key_locs", "loc")

    def __init__(self, loc: Location) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[Any, Location] = {}

    def loc_of(self, key: Any) -> Location:
        """Where the value of ``key`` is: at the value for scalars, at the key for mappings and lists."""
        return self.key_locs.get(key, self.loc)


class YSeq(list[Any]):
    """A sequence from a YAML file, with the location of itself and of each item."""

    __slots__ = ("item_locs", "loc")

    def __init__(self, loc: Location) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Location] = []

    def loc_of(self, index: int) -> Location:
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc


@dataclass(frozen=True)
class DuplicateKey:
    """A key given twice in one mapping: YAML keeps the last silently, which hides mistakes."""

    key: str
    first: Location
    second: Location


@dataclass(frozen=True)
class YamlDocument:
    path: str
    data: Any
    duplicates: tuple[DuplicateKey, ...]


def display_path(path: str | os.PathLike[str]) -> str:
    """Paths in messages: relative to the working directory when that is shorter."""
    p = Path(path)
    try:
        rel = os.path.relpath(p)
    except ValueError:  # another drive on Windows
        return str(p)
    return rel if len(rel) < len(str(p)) else str(p)


@dataclass(frozen=True)
class YamlLimits:
    """What one spec file may cost to read: the bounds that make an alias bomb a one-line error.

    YAML aliases let a few hundred bytes stand for 10**9 values (the "billion laughs"); every consumer
    that walks the data as a tree (compose interpolation, ``freeze``) would expand them. So the values a
    file expands to are counted (aliases shared, as built, so counting is linear in the file), and a file
    is refused when they exceed ``max(floor, ratio x what the file writes)``: a file without aliases always
    passes, template-heavy compose files (a block merged into every service) stay far below the ratio,
    and a bomb fails fast. Text pasted through aliases is bounded the same way. Bounding what a file can
    expand to also bounds the time everything after the reader spends on it.
    """

    max_bytes: int = 16 * 1024 * 1024  # hand-written specs are kilobytes; 16 MiB is far beyond any
    max_depth: int = 200  # nesting; a recursive alias is caught on its own, this guards the recursion
    expand_floor: int = 100_000  # values any file may expand to through aliases
    expand_ratio: int = 10  # ... or this many times the nodes it writes, when that is more
    text_floor: int = 16 * 1024 * 1024  # characters of string values, counted through aliases
    text_ratio: int = 10  # ... or this many times the file's length


DEFAULT_LIMITS = YamlLimits()

MERGE_TAG = "tag:yaml.org,2002:merge"
VALUE_TAG = "tag:yaml.org,2002:value"  # the '=' key of the value type: read as the string '='


def load_yaml(path: str | os.PathLike[str], limits: YamlLimits = DEFAULT_LIMITS) -> YamlDocument:
    """Load one YAML file into located values, within ``limits``; any failure becomes a one-line SpecError.

    This is the one YAML reader of the spec loader: every spec file (manifest, startup configs, compose
    files and what they include, SLO configs, facts) goes through it or through :func:`parse_yaml`.
    """
    shown = display_path(path)
    try:
        size = Path(path).stat().st_size
        if size > limits.max_bytes and Path(path).is_file():
            raise SpecError(f"'{shown}' is {size:,} bytes, more than the {limits.max_bytes:,} a spec file may be",
                            Location(shown), "spec files are hand-written YAML; check this is the right file")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecNotFound(f"no such file '{shown}'", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise SpecError(f"'{shown}' is a directory, expected a YAML file") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"'{shown}' is not UTF-8 text", hint="spec files are YAML text") from exc
    except OSError as exc:
        raise SpecError(f"cannot read '{shown}': {exc.strerror}") from exc
    return parse_yaml(text, shown, limits)


def parse_yaml(text: str, shown: str, limits: YamlLimits = DEFAULT_LIMITS) -> YamlDocument:
    """Parse ``text`` (shown in messages as ``shown``) within ``limits``; see :func:`load_yaml`."""
    if len(text) > limits.max_bytes:
        raise SpecError(f"'{shown}' is {len(text):,} characters, more than the {limits.max_bytes:,} a spec file "
                        "may be", Location(shown), "spec files are hand-written YAML; check this is the right file")
    try:
        # composing is linear in the text: an alias becomes a second reference to its anchor's node
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(shown, mark.line + 1, mark.column + 1) if mark else Location(shown)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "undefined alias" in problem:
            raise SpecError(f"{problem}: an alias (*name) refers to an anchor (&name) that is not defined above it",
                            loc, "define the anchor before its first use, or fix the name") from exc
        raise SpecError(f"malformed YAML: {problem}", loc, "fix the YAML syntax at that line") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"malformed YAML: {exc}", Location(shown)) from exc
    except (MemoryError, RecursionError) as exc:  # the bounds above should make this unreachable
        raise SpecError(f"'{shown}' is too large or too deeply nested to read", Location(shown)) from exc
    if node is None:
        return YamlDocument(shown, None, ())
    builder = _Builder(shown, limits)
    data = builder.build(node)
    _Expansion(limits, builder.written, len(text)).check(data)
    return YamlDocument(shown, data, tuple(builder.duplicates))


class _Builder:
    """Builds located values from the node graph; aliases share what their anchor built.

    Merge keys (``<<``) are done here, to the YAML merge-key spec (yaml.org/type/merge.html), rather than
    by PyYAML's ``flatten_mapping``, whose order for ``<<: [*a, *b]`` changed between PyYAML 6.0.3 and 6.0.4:
    the mapping's own keys win over merged ones wherever they are written; of a list of mappings, the
    earlier wins (as Compose reads it); a merged value keeps the location of the anchor that defined it.
    A mapping with two ``<<`` keys uses the last one, as with any duplicate key, and reports it (SPEC002).
    """

    def __init__(self, shown: str, limits: YamlLimits) -> None:
        self.shown = shown
        self.limits = limits
        self.constructor = yaml.constructor.SafeConstructor()
        self.duplicates: list[DuplicateKey] = []
        self.depth = 0
        self.written = 0  # nodes the text writes, an alias counting once: the base of the expansion budget
        self.built: dict[int, Any] = {}  # aliases share one node: build (and check) it once
        self.building: set[int] = set()  # containers being built: meeting one again is a recursive alias

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.shown, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node) -> Any:
        self.written += 1
        if id(node) in self.built:
            return self.built[id(node)]
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.building:
            raise SpecError("a recursive alias: this node contains itself", self.loc(node),
                            "an alias cannot refer to an anchor around it")
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise SpecError(f"YAML nests deeper than {self.limits.max_depth} levels", self.loc(node))
        self.building.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                result: Any = self.build_map(node)
            else:
                result = YSeq(self.loc(node))
                for item in node.value:
                    result.append(self.build(item))
                    result.item_locs.append(self.loc(item))
            self.built[id(node)] = result
            return result
        finally:
            self.building.discard(id(node))
            self.depth -= 1

    def scalar(self, node: yaml.Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError(f"cannot read value: {exc.problem}", self.loc(node)) from exc
        except Exception as exc:  # PyYAML's constructors raise KeyError, IndexError, ... on bad tagged scalars
            tag = node.tag.rsplit(":", 1)[-1]
            raise SpecError(f"cannot read value {node.value!r} as {tag}", self.loc(node),
                            "remove the explicit !!tag or fix the value") from exc

    def key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise SpecError("a mapping key must be a plain value, not a list or mapping", self.loc(node))
        self.written += 1
        key = node.value if node.tag == VALUE_TAG else self.scalar(node)
        try:
            hash(key)
        except TypeError as exc:  # pragma: no cover - scalars are hashable
            raise SpecError("unhashable mapping key", self.loc(node)) from exc
        return key

    def build_map(self, node: yaml.MappingNode) -> YMap:
        # first the mapping's own keys, which every merged key must give way to wherever '<<' is written
        keys: dict[int, Any] = {}
        merge: tuple[yaml.Node, yaml.Node] | None = None
        seen: dict[Any, Location] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                if merge is not None:
                    self.duplicates.append(DuplicateKey("<<", self.loc(merge[0]), self.loc(key_node)))
                merge = (key_node, value_node)
                continue
            key = keys[id(key_node)] = self.key(key_node)
            if key in seen:
                self.duplicates.append(DuplicateKey(str(key), seen[key], self.loc(key_node)))
            seen[key] = self.loc(key_node)
        # then the values in written order, the merged keys where '<<' stands (as PyYAML puts them first
        # when '<<' comes first, which is how it is usually written)
        result = YMap(self.loc(node))
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                if merge is not None and key_node is merge[0]:
                    self._merge_into(result, merge, seen)
                continue
            key = keys[id(key_node)]
            result[key] = self.build(value_node)
            # a scalar is located at its value (the port, not 'port:'); a mapping or list at its key,
            # which is where an editor shows the node ('ServiceRegistry:', not its first child)
            is_scalar = isinstance(value_node, yaml.ScalarNode)
            result.key_locs[key] = self.loc(value_node if is_scalar else key_node)
        return result

    def _merge_into(self, result: YMap, merge: tuple[yaml.Node, yaml.Node], own: dict[Any, Location]) -> None:
        """Add the merged mappings' keys that the mapping does not set itself; earlier sources win."""
        value_node = merge[1]
        self.written += 1
        if isinstance(value_node, yaml.MappingNode):
            sources = [value_node]
        elif isinstance(value_node, yaml.SequenceNode):
            sources = list(value_node.value)
        else:
            raise SpecError("bad merge key: expected a mapping or list of mappings for merging, but found a "
                            "scalar", self.loc(value_node), "'<<' takes a mapping or a list of mappings")
        for source_node in sources:
            if not isinstance(source_node, yaml.MappingNode):
                raise SpecError(f"bad merge key: expected a mapping for merging, but found "
                                f"{'a list' if isinstance(source_node, yaml.SequenceNode) else 'a scalar'}",
                                self.loc(source_node), "'<<' takes a mapping or a list of mappings")
            source = self.build(source_node)
            for key, value in source.items():
                if key not in own and key not in result:
                    result[key] = value
                    result.key_locs[key] = source.loc_of(key)


class _Expansion:
    """Counts what the built data expands to when walked as a tree, and refuses more than the limits allow."""

    def __init__(self, limits: YamlLimits, written: int, text_len: int) -> None:
        self.max_values = max(limits.expand_floor, limits.expand_ratio * written)
        self.max_text = max(limits.text_floor, limits.text_ratio * text_len)
        self.written = written
        self.sizes: dict[int, tuple[int, int]] = {}  # id of a YMap/YSeq -> (values, characters) below it

    def check(self, data: Any) -> None:
        self.size(data)

    def size(self, value: Any) -> tuple[int, int]:
        if isinstance(value, str):
            return 1, len(value)
        if not isinstance(value, (YMap, YSeq)):
            return 1, 0
        known = self.sizes.get(id(value))
        if known is not None:
            return known
        values, text = 1, 0
        items = value.items() if isinstance(value, YMap) else enumerate(value)
        for key, item in items:
            n, t = self.size(item)
            values += n + (1 if isinstance(value, YMap) else 0)
            text += t + (len(key) if isinstance(key, str) else 0)
        self.sizes[id(value)] = (values, text)
        if values > self.max_values:  # the first container over the limit is the innermost one: name it
            raise SpecError(f"YAML aliases expand this to more than {self.max_values:,} values (the file writes "
                            f"{self.written:,}): not read, as an alias bomb would exhaust memory", value.loc,
                            "write the values out, or nest fewer aliases")
        if text > self.max_text:
            raise SpecError(f"YAML aliases expand this to more than {self.max_text:,} characters of text: not "
                            "read, as an alias bomb would exhaust memory", value.loc,
                            "write the values out, or nest fewer aliases")
        return values, text
