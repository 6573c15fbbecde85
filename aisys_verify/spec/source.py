"""YAML loading that remembers where every value came from.

Mappings and sequences are loaded as :class:`YMap` and :class:`YSeq`, plain
``dict`` and ``list`` subclasses that also hold the :class:`Location` of each
entry. Merge keys (``<<``) are expanded with YAML's own rules, so a merged value
keeps the location of the anchor that defined it. Scalars are ordinary Python
values, resolved by PyYAML's safe rules.
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


def load_yaml(path: str | os.PathLike[str]) -> YamlDocument:
    """Load one YAML file into located values; any failure becomes a one-line SpecError."""
    shown = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecNotFound(f"no such file '{shown}'", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise SpecError(f"'{shown}' is a directory, expected a YAML file") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"'{shown}' is not UTF-8 text", hint="spec files are YAML text") from exc
    except OSError as exc:
        raise SpecError(f"cannot read '{shown}': {exc.strerror}") from exc
    return parse_yaml(text, shown)


def parse_yaml(text: str, shown: str) -> YamlDocument:
    try:
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
    builder = _Builder(shown)
    data = builder.build(node) if node is not None else None
    return YamlDocument(shown, data, tuple(builder.duplicates))


class _Builder:
    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.constructor = yaml.constructor.SafeConstructor()
        self.duplicates: list[DuplicateKey] = []
        self.depth = 0
        self.built: dict[int, Any] = {}  # aliases share one node: build (and check) it once

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.shown, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node) -> Any:
        self.depth += 1
        if self.depth > 200:  # a recursive alias (&a [*a]) would otherwise never end
            raise SpecError("YAML nests deeper than 200 levels (a recursive alias?)", self.loc(node))
        try:
            if id(node) in self.built:
                return self.built[id(node)]
            if isinstance(node, yaml.MappingNode):
                result: Any = self.build_map(node)
            elif isinstance(node, yaml.SequenceNode):
                result = YSeq(self.loc(node))
                for item in node.value:
                    result.append(self.build(item))
                    result.item_locs.append(self.loc(item))
            else:
                return self.scalar(node)
            self.built[id(node)] = result
            return result
        finally:
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

    def build_map(self, node: yaml.MappingNode) -> YMap:
        own = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        try:
            self.constructor.flatten_mapping(node)  # YAML merge-key semantics, done by PyYAML itself
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            loc = Location(self.shown, mark.line + 1, mark.column + 1) if mark else self.loc(node)
            raise SpecError(f"bad merge key: {exc.problem}", loc, "'<<' takes a mapping or a list of mappings") from exc
        result = YMap(self.loc(node))
        seen: dict[Any, Location] = {}
        own_ids = {id(k) for k, _ in own}
        for key_node, value_node in node.value:
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None and not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("a mapping key must be a plain value, not a list or mapping", self.loc(key_node))
            try:
                hash(key)
            except TypeError as exc:  # pragma: no cover - scalars are hashable
                raise SpecError("unhashable mapping key", self.loc(key_node)) from exc
            if id(key_node) in own_ids:
                if key in seen:
                    self.duplicates.append(DuplicateKey(str(key), seen[key], self.loc(key_node)))
                seen[key] = self.loc(key_node)
            result[key] = self.build(value_node)
            # a scalar is located at its value (the port, not 'port:'); a mapping or list at its key,
            # which is where an editor shows the node ('ServiceRegistry:', not its first child)
            is_scalar = isinstance(value_node, yaml.ScalarNode)
            result.key_locs[key] = self.loc(value_node if is_scalar else key_node)
        return result
