"""Reading a YAML node tree: typed values, checked mappings and lists, problems collected with their lines.

Nothing here knows the config's sections; `values.ConfigReader` adds the chargeback's own value kinds.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Hashable, Iterable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chargeback.config.model import Dated, in_force
from chargeback.errors import ConfigProblem

DIGITS = re.compile(r"[0-9]+")  # also workspace ids, in `values`
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_WHOLE_NUMBER = re.compile(r"[-+]?[0-9]{1,18}")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc

_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _MAP, _SEQ, _MERGE = (
    _YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
)
_KINDS = {
    _STR: "a string",
    _INT: "an integer",
    _FLOAT: "a decimal number",
    _BOOL: "a boolean",
    _NULL: "nothing (null)",
    _TIMESTAMP: "a date/time",
    _MAP: "a mapping",
    _SEQ: "a list",
}
# YAML 1.1 booleans, the ones PyYAML's resolver tags as bool.
_BOOLEANS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}

_T = TypeVar("_T")
_D = TypeVar("_D", bound=Dated)
# A parsed list item with the node and path it came from, for problems found by later cross-checks.
Placed = tuple[_T, Node, str]


def join_path(path: str, key: str) -> str:
    """`path.key`, or `path['key']` for a key that is not a plain name (so hostile keys stay readable)."""
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{show(key)}]"
    return f"{path}.{key}" if path else key


def show(value: str, limit: int = 60) -> str:
    """`repr` of a user-given value, shortened so hostile input cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _kind(node: Node) -> str:
    return _KINDS.get(node.tag, f"a value tagged {show(node.tag)}")


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode) and node.tag != _NULL:
        return show(node.value)
    return _kind(node)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def suggestion(value: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _span(rule: Dated) -> str:
    return f"[{rule.valid_from}, {rule.valid_to or 'open'})"


class Reader:
    """Reads typed values off the node tree, recording a problem (and returning None) for each bad one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []

    def problem(self, node: Node, path: str, message: str) -> None:
        location = f"{self.source}:{line_of(node)}"
        self.problems.append(ConfigProblem(f"{location}: {path}" if path else location, message))

    def entries(self, node: Node, path: str) -> dict[str, tuple[Node, Node]] | None:
        """A mapping's entries by key (key node, value node); duplicate and non-scalar keys are problems."""
        if not isinstance(node, MappingNode) or node.tag != _MAP:
            self.problem(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value in node.value:
            if key_node.tag == _MERGE:
                self.problem(key_node, path, "YAML merge keys ('<<') are not supported")
            elif not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, f"keys must be plain names, got {_kind(key_node)}")
            elif key_node.value in found:
                first = line_of(found[key_node.value][0])
                self.problem(
                    key_node,
                    join_path(path, key_node.value),
                    f"duplicate key (first given on line {first}); YAML would silently keep only the last",
                )
            else:
                found[key_node.value] = (key_node, value)
        return found

    def fields(
        self, node: Node, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Node] | None:
        """The known fields of a mapping; unknown and missing fields are problems, null optional ones absent."""
        entries = self.entries(node, path)
        if entries is None:
            return None
        allowed = required + optional
        fields = {}
        for key, (key_node, value) in entries.items():
            if key not in allowed:
                self.problem(key_node, join_path(path, key), f"unknown key{suggestion(key, allowed)}")
            elif not (key in optional and _is_null(value)):
                fields[key] = value
        for key in required:
            if key not in fields:
                self.problem(node, join_path(path, key), "required field is missing")
        return fields

    def get(self, fields: dict[str, Node], path: str, key: str, read: Callable[[Node, str], _T | None]) -> _T | None:
        return read(fields[key], join_path(path, key)) if key in fields else None

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode) or node.tag != _SEQ:
            self.problem(node, path, f"expected a list, got {_kind(node)}")
            return None
        return list(node.value)

    def items(
        self,
        node: Node | None,
        path: str,
        required: tuple[str, ...],
        optional: tuple[str, ...],
        parse: Callable[[dict[str, Node], str, Node], _T | None],
    ) -> list[Placed[_T]]:
        """Parse each mapping of a list; an item with any problem of its own is left out of cross-checks."""
        placed: list[Placed[_T]] = []
        for index, item in enumerate((self.sequence(node, path) if node is not None else None) or []):
            item_path = f"{path}[{index}]"
            before = len(self.problems)
            fields = self.fields(item, item_path, required, optional)
            value = parse(fields, item_path, item) if fields is not None else None
            if value is not None and len(self.problems) == before:
                placed.append((value, item, item_path))
        return placed

    def text(self, node: Node, path: str) -> str | None:
        # An unquoted number such as a job id is taken as the text it was written as.
        is_text = isinstance(node, ScalarNode) and (
            node.tag == _STR or (node.tag == _INT and bool(DIGITS.fullmatch(node.value)))
        )
        if not is_text:
            hint = " (quote it)" if isinstance(node, ScalarNode) and node.tag != _NULL else ""
            self.problem(node, path, f"expected a string, got {_kind(node)}{hint}")
            return None
        value: str = node.value
        if not value.strip():
            self.problem(node, path, "must not be empty")
        elif value != value.strip():
            self.problem(node, path, f"{show(value)} must not start or end with whitespace")
        elif _CONTROL.search(value):
            self.problem(node, path, f"{show(value)} must not contain control characters")
        else:
            return value
        return None

    def matching(self, node: Node, path: str, pattern: re.Pattern[str], expected: str) -> str | None:
        value = self.text(node, path)
        if value is not None and not pattern.fullmatch(value):
            self.problem(node, path, f"{show(value)} is not {expected}")
            return None
        return value

    def choice(self, node: Node, path: str, options: tuple[str, ...]) -> str | None:
        value = self.text(node, path)
        if value is not None and value not in options:
            self.problem(
                node,
                path,
                f"unknown value {show(value)}{suggestion(value, options)}; expected one of {', '.join(options)}",
            )
            return None
        return value

    def list_of(self, node: Node, path: str, read: Callable[[Node, str], str | None]) -> tuple[str, ...] | None:
        """A non-empty list of distinct strings."""
        nodes = self.sequence(node, path)
        if nodes is None:
            return None
        if not nodes:
            self.problem(node, path, "must not be empty (leave the field out instead)")
        values: dict[str, None] = {}  # insertion-ordered and a set
        for index, item in enumerate(nodes):
            value = read(item, f"{path}[{index}]")
            if value in values:
                self.problem(item, f"{path}[{index}]", f"{show(value)} is listed twice")
            elif value is not None:
                values[value] = None
        return tuple(values)

    def date(self, node: Node, path: str) -> dt.date | None:
        if isinstance(node, ScalarNode) and node.tag in (_STR, _TIMESTAMP) and _DATE.fullmatch(node.value):
            try:
                return dt.date.fromisoformat(node.value)
            except ValueError:
                pass
        self.problem(node, path, f"expected a date YYYY-MM-DD, got {_describe(node)}")
        return None

    def month(self, node: Node, path: str) -> dt.date | None:
        match = _MONTH.fullmatch(node.value) if isinstance(node, ScalarNode) and node.tag == _STR else None
        if match and 1 <= int(match[1]) and 1 <= int(match[2]) <= 12:
            return dt.date(int(match[1]), int(match[2]), 1)
        self.problem(node, path, f"expected a month YYYY-MM (quoted or not), got {_describe(node)}")
        return None

    def validity(self, fields: dict[str, Node], path: str) -> tuple[dt.date, dt.date | None] | None:
        """(valid_from, valid_to): valid_from inclusive and required, valid_to exclusive and optional."""
        valid_from = self.get(fields, path, "valid_from", self.date)
        valid_to = self.get(fields, path, "valid_to", self.date)
        if valid_from is None:
            return None
        if valid_to is not None and valid_to <= valid_from:
            self.problem(
                fields["valid_to"],
                join_path(path, "valid_to"),
                f"valid_to {valid_to} must be after valid_from {valid_from} (valid_to is exclusive)",
            )
            return None
        return valid_from, valid_to

    def integer(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode) and node.tag == _INT and _WHOLE_NUMBER.fullmatch(node.value):
            return int(node.value)
        self.problem(node, path, f"expected a whole number, got {_describe(node)}")
        return None

    def boolean(self, node: Node, path: str) -> bool | None:
        value = _BOOLEANS.get(node.value.lower()) if isinstance(node, ScalarNode) and node.tag == _BOOL else None
        if value is None:
            self.problem(node, path, f"expected true or false, got {_describe(node)}")
        return value

    def decimal(self, node: Node, path: str, low: Decimal, high: Decimal, places: int) -> Decimal | None:
        """A number in [low, high] with at most `places` decimal places, read exactly from its source text."""
        value = None
        if isinstance(node, ScalarNode) and node.tag in (_STR, _INT, _FLOAT):
            try:
                value = Decimal(node.value)
            except InvalidOperation:
                value = None
        if value is None or not value.is_finite():
            self.problem(node, path, f"expected a number (as a string or a YAML number), got {_describe(node)}")
        elif not low <= value <= high:
            self.problem(node, path, f"{_describe(node)} is outside [{low}, {high}]")
        elif value != value.quantize(Decimal(1).scaleb(-places)):
            self.problem(node, path, f"{_describe(node)} has more than {places} decimal places")
        else:
            return value
        return None

    def positive(self, node: Node, path: str, high: Decimal, places: int, what: str) -> Decimal | None:
        """A number in (0, high] with at most `places` decimal places."""
        value = self.decimal(node, path, Decimal(0), high, places)
        if value == 0:
            self.problem(node, path, f"{what} must be greater than 0")
            return None
        return value

    def check_overlaps(self, placed: list[Placed[_D]], key: Callable[[_D], Hashable], what: str) -> None:
        """Rules with the same key must not have overlapping validity periods."""
        groups: dict[Hashable, list[Placed[_D]]] = {}
        for entry in placed:
            groups.setdefault(key(entry[0]), []).append(entry)
        for group in groups.values():
            group.sort(key=lambda entry: entry[0].valid_from)
            furthest = group[0]  # of the entries seen, the one whose period ends last
            for entry in group[1:]:
                rule, node, path = entry
                # Sorted by valid_from, so the two overlap exactly when `rule` starts while `furthest` holds.
                if in_force(furthest[0], rule.valid_from):
                    self.problem(
                        node,
                        path,
                        f"validity {_span(rule)} overlaps {_span(furthest[0])} of {furthest[2]} "
                        f"(line {line_of(furthest[1])}) for the same {what} {show(str(key(rule)))}",
                    )
                end = furthest[0].valid_to
                if end is not None and (rule.valid_to is None or rule.valid_to > end):
                    furthest = entry
