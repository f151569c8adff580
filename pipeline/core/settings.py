"""Settings files users edit (phrase catalogs, thresholds, package and records settings): YAML with file:line errors.

Compliance officers edit these files by hand, so every mistake must name the file,
the line and what is wrong, and a duplicate key (YAML silently keeps the last one)
is an error. The loader keeps the line of every mapping, key and list item so that
validation can point at it. Nothing here knows what a rule or a threshold means.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class CatalogError(ValueError):
    """A settings file (phrase catalog, records or package settings) is invalid; the message starts with `file:line:`."""


class YamlMap(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    line: int
    key_lines: dict


class YamlSeq(list):
    """A YAML sequence that remembers its own line and the line of each item."""

    line: int
    item_lines: list


class DuplicateKey(Exception):
    def __init__(self, line: int, key):
        self.line, self.key = line, key


class LineLoader(yaml.SafeLoader):
    pass


def construct_map(loader: LineLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.value in seen:
            raise DuplicateKey(key_node.start_mark.line + 1, key_node.value)
        seen.add(key_node.value)
    result = YamlMap(loader.construct_mapping(node, deep=True))
    result.line = node.start_mark.line + 1
    result.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    return result


def construct_seq(loader: LineLoader, node: yaml.SequenceNode) -> YamlSeq:
    result = YamlSeq(loader.construct_sequence(node, deep=True))
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


LineLoader.add_constructor("tag:yaml.org,2002:map", construct_map)
LineLoader.add_constructor("tag:yaml.org,2002:seq", construct_seq)


def read_yaml(path: Path):
    """Parse one file, turning YAML syntax errors into CatalogError with the line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=LineLoader)
    except DuplicateKey as exc:
        raise CatalogError(f"{path}:{exc.line}: duplicate key '{exc.key}'") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise CatalogError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from None


class Where:
    """Builds error messages for one file (and optionally one rule)."""

    def __init__(self, path: Path, rule_id: str | None = None):
        self.path, self.rule_id = path, rule_id

    def error(self, line: int, message: str) -> CatalogError:
        who = f"rule '{self.rule_id}': " if self.rule_id else ""
        return CatalogError(f"{self.path}:{line}: {who}{message}")

    def key_line(self, mapping: YamlMap, key: str) -> int:
        return mapping.key_lines.get(key, mapping.line)

    def mapping(self, value, line: int, what: str, allowed: set[str]) -> YamlMap:
        """Require a mapping whose keys are all known (typos are the commonest mistake)."""
        if not isinstance(value, YamlMap):
            raise self.error(line, f"{what} must be a mapping (key: value)")
        for key in value:
            if key not in allowed:
                raise self.error(self.key_line(value, key),
                                 f"unknown key '{key}' in {what} (allowed: {', '.join(sorted(allowed))})")
        return value

    def number(self, mapping: YamlMap, key: str, low: float | None = None, high: float | None = None,
               integer: bool = False) -> float | int:
        value, line = mapping[key], self.key_line(mapping, key)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(line, f"'{key}' must be {'an integer' if integer else 'a number'}, got {value!r}")
        if (low is not None and value <= low) or (high is not None and value > high):
            bounds = f"greater than {low:g}" + (f" and at most {high:g}" if high is not None else "")
            raise self.error(line, f"'{key}' must be {bounds}, got {value!r}")
        return value

    def strings(self, value, line: int, what: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A non-empty list of non-empty strings, optionally from a fixed vocabulary."""
        if not isinstance(value, YamlSeq) or not value:
            raise self.error(line, f"{what} must be a non-empty list")
        for item, item_line in zip(value, value.item_lines):
            if not isinstance(item, str) or not item.strip():
                raise self.error(item_line, f"{what} items must be non-empty text, got {item!r}")
            if allowed is not None and item not in allowed:
                raise self.error(item_line, f"'{item}' in {what} is not one of {', '.join(allowed)}")
        return tuple(item.strip() for item in value)
