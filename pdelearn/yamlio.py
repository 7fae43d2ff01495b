"""YAML in and out for recipes (safe loading, YAML 1.2 floats, readable dumps); no torch.

Loading is bounded before any work is done (:mod:`pdelearn.limits`): the text size, the nesting depth,
the number of aliases and the number of nodes once aliases are expanded ("billion laughs") are checked
on the composed node graph, before a single Python object is built; recursive aliases and duplicate
keys in a mapping are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from .errors import ConfigError
from .limits import MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

__all__ = ["parse_yaml", "to_yaml"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does, bounds the document's
    depth and aliases while composing and refuses duplicate keys."""

    source = "recipe"

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            MAX_YAML_ALIASES.check(self._aliases, f"{self.source}: the number of aliases (*name)")
        self._depth += 1
        try:
            MAX_YAML_DEPTH.check(self._depth, f"{self.source}: the nesting depth")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue
                if first is not key_node:
                    raise ConfigError(f"{self.source}: duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                                      f"(first at line {first.start_mark.line + 1}); keep only one of them")
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _measure(node, memo: dict, active: set, depth: int, source: str) -> tuple[int, int]:
    """``(nodes, height)`` of ``node`` with aliases expanded (memoized per node); refuses cycles, deep and
    large expansions. ``depth``: the expanded depth at which ``node`` is used."""
    what = f"{source}: the nesting depth with aliases expanded"
    MAX_YAML_DEPTH.check(depth, what)
    key = id(node)
    if key in memo:
        MAX_YAML_DEPTH.check(depth + memo[key][1] - 1, what)
        return memo[key]
    if key in active:
        line = node.start_mark.line + 1 if node.start_mark is not None else "?"
        raise ConfigError(f"{source}: the alias at line {line} refers to a collection that contains it (a recursive "
                          "alias); write the value out instead")
    if isinstance(node, yaml.ScalarNode):
        return 1, 1
    active.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
    total, height = 1, 1
    for child in children:
        n, h = _measure(child, memo, active, depth + 1, source)
        total, height = total + n, max(height, h + 1)
        MAX_YAML_NODES.check(total, f"{source}: the document with its aliases expanded")
    active.discard(key)
    memo[key] = (total, height)
    return total, height


def parse_yaml(text: str, source: str = "recipe") -> Any:
    """Parse YAML text safely; errors become :class:`ConfigError` with the line number.

    Bounded before any object is built: :data:`~pdelearn.limits.MAX_YAML_BYTES`,
    :data:`~pdelearn.limits.MAX_YAML_DEPTH`, :data:`~pdelearn.limits.MAX_YAML_ALIASES`,
    :data:`~pdelearn.limits.MAX_YAML_NODES`; recursive aliases and duplicate keys are errors.
    """
    if not isinstance(text, str):
        raise ConfigError(f"{source}: expected YAML text, received {type(text).__name__}")
    MAX_YAML_BYTES.check(len(text.encode("utf-8", "surrogatepass")), f"{source}: the YAML text")
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        loader.source = source
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, {}, set(), 1, source)
        return loader.construct_document(node)
    except (ValueError, OverflowError, RecursionError, MemoryError) as exc:  # ConfigError, and int('9' * 5000)
        if isinstance(exc, ConfigError):
            raise
        reason = str(exc).split(";")[0][:120]
        raise ConfigError(f"{source}: a value cannot be read ({type(exc).__name__}: {reason}); shorten it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def to_yaml(data: Mapping[str, Any]) -> str:
    """Dump plain data as block YAML, keys in insertion order."""
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=100)
