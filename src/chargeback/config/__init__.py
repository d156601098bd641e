"""The chargeback configuration: load `config/chargeback.yml`, validate all of it, expose it as tables.

Parsing works on PyYAML's composed node tree instead of loaded Python objects: every problem can name its
line, duplicate keys are caught (PyYAML's loader silently keeps the last one), and numbers are read from
their source text straight into `Decimal`, so no float ever exists. Problems are collected, never raised one
at a time: `ConfigError.problems` lists all of them.

Every scalar setting (version, currency, price_currency, lookback_days) is required; lists are optional,
except `business_units`. An optional field given as null counts as absent.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import stat
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

UNALLOCATED = "UNALLOCATED"
"""The reserved business unit that collects cost no rule or pool attributes."""

SUPPORTED_VERSION = 1
WORKLOAD_TYPES = ("job", "pipeline", "warehouse", "serving_endpoint", "app", "cluster", "notebook")
METHODS = ("proportional", "even", "fixed", "central")
RULE_PRECEDENCE = {
    "tag_value": 1,
    "budget_policy": 2,
    "workload": 3,
    "pipeline_tag": 4,  # implicit: tags on the pipeline that ran the usage; no config rule
    "identity": 5,
    "workspace": 6,
}
"""When several attribution rules match a usage line, the lowest precedence wins."""
RESERVED_POLICY_TAG_KEYS = ("budget-policy-name", "budget-policy-id", "budget-policy-resolution-result")
"""Tag keys Databricks keeps for itself on serverless budget policies; a policy cannot set them."""
POLICY_ROLES = ("user", "manager")
PRINCIPAL_KINDS = ("user", "group", "service_principal")
MAX_POLICY_TAGS = 20  # the budget policy API's limit of custom tags per policy
# The budget policy REST reference (docs.databricks.com/api/account/budgetpolicy): policy_name [1 .. 127]
# characters, custom tag key [1 .. 512], value <= 256.
MAX_POLICY_NAME = 127
MAX_POLICY_TAG_KEY = 512
MAX_POLICY_TAG_VALUE = 256
MAX_BUDGET_ALERTS = 4  # the Budgets API's limit of alerts per budget and period
MAX_BUDGET_NAME = 128  # BudgetConfiguration.display_name "Max Length: 128" (databricks-sdk docstring)
MANAGED_BUDGET_PREFIX = "chargeback/"  # account budgets the config manages are named chargeback/<unit>[/...]
_DEFAULT_POLICY_PREFIX = "databricks:default-policy"  # the budget policy API reserves names starting with it

_UNIT_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CURRENCY = re.compile(r"[A-Z]{3}")
_PRODUCT = re.compile(r"[A-Z][A-Z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_WHOLE_NUMBER = re.compile(r"[-+]?[0-9]{1,18}")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NON_ALPHANUMERIC = re.compile(r"[\W_]+")  # \W is Unicode-aware; '_' is a word character but not alphanumeric

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
_PERCENT_PLACES = 4  # discount_percent / percent columns are DECIMAL(9,4)
# A run may remove at most this share of a day's or month's published cost without --allow-shrink.
DEFAULT_MAX_SHRINK_PERCENT = Decimal(5)
_MAX_THRESHOLD = Decimal(1000)  # budget thresholds are percent of the amount; 1000 % is surely a typo past that
_AMOUNT_PLACES = 2
_MAX_AMOUNT = Decimal(10) ** 15
_RATE_PLACES = 10  # rate column is DECIMAL(20,10)
_MAX_RATE = Decimal(10) ** 10
_MAX_DEPTH = 100  # YAML nesting levels; a valid config has about 5
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # LibYAML, when PyYAML was built with it
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def normalise(value: str) -> str:
    """Lower-case `value`, turn every run of non-alphanumeric characters into one '-', strip '-' at both ends."""
    return _NON_ALPHANUMERIC.sub("-", value.lower()).strip("-")


def tag_key_form(key: str) -> str:
    """Tag keys compare ignoring case and separators (`BusinessUnit` = `business_unit`): the twin of
    `attribution.key_form`."""
    return normalise(key).replace("-", "")


@dataclass(frozen=True)
class BusinessUnit:
    """A business unit cost is charged to."""

    id: str
    name: str
    parent: str | None = None
    cost_center: str | None = None


@dataclass(frozen=True)
class TagValueRule:
    """An extra tag value (normalised) that selects a unit; a unit's own id and name always do."""

    value: str
    business_unit: str
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class PolicyRule:
    """Usage under this budget policy belongs to the unit."""

    policy_id: str
    business_unit: str
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class WorkloadRule:
    """Usage of this workload (a job, pipeline, warehouse, ...) belongs to the unit."""

    workload_type: str
    workload_id: str
    business_unit: str
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class IdentityRule:
    """Usage run, owned or created by this user or service principal belongs to the unit."""

    identity: str
    business_unit: str
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class WorkspaceRule:
    """Usage in this workspace that no other rule attributes belongs to the unit."""

    workspace_id: str
    business_unit: str
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class Attribution:
    """Attribution settings: tag keys in priority order (normalised) and the explicit rules."""

    tag_keys: tuple[str, ...] = ()
    tag_values: tuple[TagValueRule, ...] = ()
    budget_policies: tuple[PolicyRule, ...] = ()
    workloads: tuple[WorkloadRule, ...] = ()
    identities: tuple[IdentityRule, ...] = ()
    workspaces: tuple[WorkspaceRule, ...] = ()
    tag_key_names: tuple[str, ...] = ()
    """`tag_keys` as written; managed budget policies tag usage with the first one."""


@dataclass(frozen=True)
class Discount:
    """Percent off list price for a product and/or SKU glob (at least one of the two is set)."""

    billing_origin_product: str | None
    sku_pattern: str | None
    percent: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class FxRate:
    """1 `from_currency` = `rate` `to_currency` during the validity period."""

    from_currency: str
    to_currency: str
    rate: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class PoolMatch:
    """Which usage lines a shared-cost pool claims: every given criterion must hold (empty = not given)."""

    billing_origin_products: tuple[str, ...] = ()
    sku_patterns: tuple[str, ...] = ()
    workspace_ids: tuple[str, ...] = ()
    warehouse_ids: tuple[str, ...] = ()
    unallocated: bool | None = None

    def description(self) -> str:
        """The given criteria as JSON, for humans and SQL."""
        given = {
            "billing_origin_products": list(self.billing_origin_products),
            "sku_patterns": list(self.sku_patterns),
            "workspace_ids": list(self.workspace_ids),
            "warehouse_ids": list(self.warehouse_ids),
            "unallocated": self.unallocated,
        }
        return json.dumps({k: v for k, v in given.items() if v not in ([], None)}, ensure_ascii=False)


@dataclass(frozen=True)
class SharedPool:
    """A shared-cost pool and how it is split.

    `business_units` always holds the targets: the configured (or all) units for proportional and even, the
    `percentages` keys for fixed, `(business_unit,)` for central.
    """

    id: str
    match: PoolMatch
    method: str
    same_product: bool
    business_units: tuple[str, ...]
    percentages: tuple[tuple[str, Decimal], ...] = ()
    business_unit: str | None = None


@dataclass(frozen=True)
class PolicyGrant:
    """A role on a serverless budget policy: `user` may run under it, `manager` may also edit it."""

    principal_kind: str  # user, group or service_principal
    principal: str  # user name (email), account group name, or service principal application id
    role: str  # user or manager


@dataclass(frozen=True)
class ServerlessPolicy:
    """A serverless budget (usage) policy the config manages, by name.

    `tags` are every tag the policy applies, in order: first the business-unit tag (the first attribution tag
    key as written = the unit's id), then the declared ones.
    """

    name: str
    business_unit: str
    tags: tuple[tuple[str, str], ...]
    grants: tuple[PolicyGrant, ...] = ()


@dataclass(frozen=True)
class Budget:
    """A monthly budget of a business unit, optionally narrowed to a workspace and/or a product.

    `amount` is in the chargeback currency, per calendar month; `valid_from`/`valid_to` are month starts.
    Spend reaching `warning_percent` / `critical_percent` of the amount is a warning / critical status.
    With `account_budget`, the budget is also an account budget (Budgets API) that alerts `recipients` at
    `alert_percents` (warning, critical and any extra levels, ascending).
    """

    business_unit: str
    amount: Decimal
    warning_percent: Decimal
    critical_percent: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None
    workspace_id: str | None = None
    billing_origin_product: str | None = None
    alert_percents: tuple[Decimal, ...] = ()
    recipients: tuple[str, ...] = ()
    account_budget: bool = False


@dataclass(frozen=True)
class Config:
    """A validated chargeback configuration."""

    version: int
    currency: str
    price_currency: str
    fx_rates: tuple[FxRate, ...]
    lookback_days: int
    business_units: tuple[BusinessUnit, ...]
    attribution: Attribution
    discounts: tuple[Discount, ...]
    shared_costs: tuple[SharedPool, ...]
    closed_months: tuple[dt.date, ...]
    source: str
    serverless_policies: tuple[ServerlessPolicy, ...] = ()
    budgets: tuple[Budget, ...] = ()
    max_shrink_percent: Decimal = DEFAULT_MAX_SHRINK_PERCENT

    @property
    def unit_ids(self) -> tuple[str, ...]:
        return tuple(u.id for u in self.business_units)

    def first_day_without_fx(self, start: dt.date, end: dt.date) -> dt.date | None:
        """The first day of [start, end] whose prices (in `price_currency`) no fx rate converts to `currency`."""
        if self.currency == self.price_currency:
            return None
        pair = [r for r in self.fx_rates if (r.from_currency, r.to_currency) == (self.price_currency, self.currency)]
        day = start
        while day <= end:
            ends = [r.valid_to for r in pair if r.valid_from <= day and (r.valid_to is None or day < r.valid_to)]
            if not ends:
                return day
            if None in ends:
                return None
            day = max(e for e in ends if e is not None)
        return None

    def is_closed(self, month_start: dt.date) -> bool:
        """Whether the statement of the month containing `month_start` is closed (never changes again)."""
        return month_start.replace(day=1) in self.closed_months


# Far above any real config (tens of thousands of units and aliases are a few MiB), far below harm.
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; `ConfigError` lists every problem found.

    Only a regular file of at most `MAX_CONFIG_BYTES` is read: `/dev/zero` or a FIFO would never end.
    """
    source = str(path)
    try:
        text = _read_regular_file(Path(path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError([ConfigProblem(source, f"cannot read the config file: {reason}")]) from None
    return parse_config(text, source)


def _read_regular_file(path: Path) -> str:
    # Non-blocking open: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{info.st_size:,} bytes, more than the {MAX_CONFIG_BYTES:,} allowed")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    finally:
        os.close(fd)


def validate_config_file(path: str | Path) -> list[ConfigProblem]:
    """Every problem in a config file; empty when it is valid."""
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


def parse_config(text: str, source: str) -> Config:
    """Validate config text; `source` names it in problem locations. `ConfigError` lists every problem."""
    reader = _Reader(source)
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([ConfigProblem(f"{source}:{line}", f"YAML syntax error: {detail}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError([ConfigProblem(f"{source}:{line}", f"YAML syntax error: {exc.reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, f"YAML syntax error: {exc}")]) from None
    except RecursionError:
        line = _deepest_line(text)
        raise ConfigError([ConfigProblem(f"{source}:{line}", "YAML nesting is too deep")]) from None
    if root is None:
        raise ConfigError([ConfigProblem(f"{source}:1", "the config file is empty")])
    config = _config(reader, root, source)
    if config is None or reader.problems:
        raise ConfigError(reader.problems)
    return config


def _compose(text: str) -> Node | None:
    """The YAML node tree of `text`.

    LibYAML composes a config of thousands of units about ten times faster than PyYAML's pure-Python loader
    (which takes seconds per megabyte). Text LibYAML refuses, nests deeper than `_MAX_DEPTH`, or holds
    characters PyYAML refuses goes to the pure-Python loader, so every problem reads as it always did.
    """
    if _FAST_LOADER is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        try:
            root = yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            root = None
        else:
            if _depth(root) <= _MAX_DEPTH:
                return root
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _depth(root: Node | None) -> int:
    """Nesting levels of a node tree (iteratively: a deep tree must not exhaust the stack)."""
    deepest, todo = 0, [(root, 1)] if root is not None else []
    seen: set[int] = set()  # an alias repeats a node; each is walked once
    while todo:
        node, depth = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        deepest = max(deepest, depth)
        if isinstance(node, SequenceNode):
            todo += [(child, depth + 1) for child in node.value]
        elif isinstance(node, MappingNode):
            todo += [(child, depth + 1) for pair in node.value for child in pair]
    return deepest


def _deepest_line(text: str) -> int:
    """The line where the YAML nesting first exceeds `_MAX_DEPTH` levels, or else its deepest line.

    The composer recurses once per level and so fails without a location; the parser does not recurse.
    """
    depth, deepest, line = 0, 0, 1
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > deepest:
                    deepest, line = depth, event.start_mark.line + 1 if event.start_mark else line
                if depth > _MAX_DEPTH:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass  # a syntax error past the deep part: the deepest line seen so far is the answer
    return line


# --- reading the node tree -------------------------------------------------------------------------------


class _Dated(Protocol):
    @property
    def valid_from(self) -> dt.date: ...

    @property
    def valid_to(self) -> dt.date | None: ...


class _Rule(_Dated, Protocol):
    @property
    def business_unit(self) -> str: ...


_T = TypeVar("_T")
_D = TypeVar("_D", bound=_Dated)
# A parsed list item with the node and path it came from, for problems found by later cross-checks.
_Placed = tuple[_T, Node, str]


def _join(path: str, key: str) -> str:
    """`path.key`, or `path['key']` for a key that is not a plain name (so hostile keys stay readable)."""
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{_show(key)}]"
    return f"{path}.{key}" if path else key


def _show(value: str, limit: int = 60) -> str:
    """`repr` of a user-given value, shortened so hostile input cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _kind(node: Node) -> str:
    return _KINDS.get(node.tag, f"a value tagged {_show(node.tag)}")


def _describe(node: Node) -> str:
    if isinstance(node, ScalarNode) and node.tag != _NULL:
        return _show(node.value)
    return _kind(node)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _suggestion(value: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _span(rule: _Dated) -> str:
    return f"[{rule.valid_from}, {rule.valid_to or 'open'})"


@dataclass(frozen=True)
class _Units:
    """The unit ids the file declares, for checking and suggesting references."""

    ids: tuple[str, ...]
    by_normalised: dict[str, str]  # normalised id or name -> id

    @cached_property
    def known(self) -> frozenset[str]:
        return frozenset(self.ids)

    def suggest(self, value: str) -> str:
        same = self.by_normalised.get(normalise(value))
        return f" (did you mean {same!r}?)" if same else _suggestion(value, self.ids)


class _Reader:
    """Reads typed values off the node tree, recording a problem (and returning None) for each bad one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []

    def problem(self, node: Node, path: str, message: str) -> None:
        location = f"{self.source}:{_line(node)}"
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
                first = _line(found[key_node.value][0])
                self.problem(
                    key_node,
                    _join(path, key_node.value),
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
                self.problem(key_node, _join(path, key), f"unknown key{_suggestion(key, allowed)}")
            elif not (key in optional and _is_null(value)):
                fields[key] = value
        for key in required:
            if key not in fields:
                self.problem(node, _join(path, key), "required field is missing")
        return fields

    def get(self, fields: dict[str, Node], path: str, key: str, read: Callable[[Node, str], _T | None]) -> _T | None:
        return read(fields[key], _join(path, key)) if key in fields else None

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
    ) -> list[_Placed[_T]]:
        """Parse each mapping of a list; an item with any problem of its own is left out of cross-checks."""
        placed: list[_Placed[_T]] = []
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
            node.tag == _STR or (node.tag == _INT and bool(_DIGITS.fullmatch(node.value)))
        )
        if not is_text:
            hint = " (quote it)" if isinstance(node, ScalarNode) and node.tag != _NULL else ""
            self.problem(node, path, f"expected a string, got {_kind(node)}{hint}")
            return None
        value: str = node.value
        if not value.strip():
            self.problem(node, path, "must not be empty")
        elif value != value.strip():
            self.problem(node, path, f"{_show(value)} must not start or end with whitespace")
        elif _CONTROL.search(value):
            self.problem(node, path, f"{_show(value)} must not contain control characters")
        else:
            return value
        return None

    def matching(self, node: Node, path: str, pattern: re.Pattern[str], expected: str) -> str | None:
        value = self.text(node, path)
        if value is not None and not pattern.fullmatch(value):
            self.problem(node, path, f"{_show(value)} is not {expected}")
            return None
        return value

    def unit_id(self, node: Node, path: str) -> str | None:
        value = self.matching(node, path, _UNIT_ID, "a valid id (lower-case letters, digits, '_' and '-')")
        if value is not None and normalise(value) == normalise(UNALLOCATED):
            self.problem(node, path, f"{_show(value)} is reserved for cost no rule attributes")
            return None
        return value

    def currency(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, _CURRENCY, "an ISO 4217 currency code (three upper-case letters)")

    def product(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, _PRODUCT, "a billing_origin_product (upper-case, e.g. SQL, JOBS)")

    def workspace_id(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, _DIGITS, "a workspace id (digits only)")

    def choice(self, node: Node, path: str, options: tuple[str, ...]) -> str | None:
        value = self.text(node, path)
        if value is not None and value not in options:
            self.problem(
                node,
                path,
                f"unknown value {_show(value)}{_suggestion(value, options)}; expected one of {', '.join(options)}",
            )
            return None
        return value

    def unit(self, node: Node, path: str, units: _Units) -> str | None:
        value = self.text(node, path)
        if value is not None and value not in units.known:
            self.problem(node, path, f"unknown business unit {_show(value)}{units.suggest(value)}")
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
                self.problem(item, f"{path}[{index}]", f"{_show(value)} is listed twice")
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
                _join(path, "valid_to"),
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

    def percent(self, node: Node, path: str) -> Decimal | None:
        return self.decimal(node, path, Decimal(0), Decimal(100), _PERCENT_PLACES)

    def positive(self, node: Node, path: str, high: Decimal, places: int, what: str) -> Decimal | None:
        """A number in (0, high] with at most `places` decimal places."""
        value = self.decimal(node, path, Decimal(0), high, places)
        if value == 0:
            self.problem(node, path, f"{what} must be greater than 0")
            return None
        return value

    def rate(self, node: Node, path: str) -> Decimal | None:
        return self.positive(node, path, _MAX_RATE, _RATE_PLACES, "an exchange rate")

    def amount(self, node: Node, path: str) -> Decimal | None:
        return self.positive(node, path, _MAX_AMOUNT, _AMOUNT_PLACES, "a budget amount")

    def threshold(self, node: Node, path: str) -> Decimal | None:
        """A budget threshold: percent of the amount (may exceed 100)."""
        return self.positive(node, path, _MAX_THRESHOLD, _PERCENT_PLACES, "a threshold")

    def month_start(self, node: Node, path: str) -> dt.date | None:
        value = self.date(node, path)
        if value is not None and value.day != 1:
            self.problem(node, path, f"budgets are monthly: {value} must be the first day of a month")
            return None
        return value

    def check_overlaps(self, placed: list[_Placed[_D]], key: Callable[[_D], Hashable], what: str) -> None:
        """Rules with the same key must not have overlapping validity periods."""
        groups: dict[Hashable, list[_Placed[_D]]] = {}
        for entry in placed:
            groups.setdefault(key(entry[0]), []).append(entry)
        for group in groups.values():
            group.sort(key=lambda entry: entry[0].valid_from)
            furthest = group[0]  # of the entries seen, the one whose period ends last
            for entry in group[1:]:
                rule, node, path = entry
                end = furthest[0].valid_to
                if end is None or rule.valid_from < end:
                    self.problem(
                        node,
                        path,
                        f"validity {_span(rule)} overlaps {_span(furthest[0])} of {furthest[2]} "
                        f"(line {_line(furthest[1])}) for the same {what} {_show(str(key(rule)))}",
                    )
                if end is not None and (rule.valid_to is None or rule.valid_to > end):
                    furthest = entry


# --- sections --------------------------------------------------------------------------------------------


def _config(r: _Reader, root: Node, source: str) -> Config | None:
    top = r.fields(
        root,
        "",
        ("version", "currency", "price_currency", "lookback_days", "business_units"),
        (
            "fx_rates",
            "attribution",
            "discounts",
            "shared_costs",
            "closed_months",
            "serverless_policies",
            "budgets",
            "max_shrink_percent",
        ),
    )
    if top is None:
        return None
    version = r.get(top, "", "version", r.integer)
    if version is not None and version != SUPPORTED_VERSION:
        r.problem(
            top["version"], "version", f"unsupported version {version}; this release reads version {SUPPORTED_VERSION}"
        )
    currency = r.get(top, "", "currency", r.currency)
    price_currency = r.get(top, "", "price_currency", r.currency)
    lookback_days = r.get(top, "", "lookback_days", r.integer)
    if lookback_days is not None and not 1 <= lookback_days <= 365:
        r.problem(top["lookback_days"], "lookback_days", f"{lookback_days} is outside 1..365")
    units, known = _business_units(r, top.get("business_units"))
    attribution = _attribution(r, top.get("attribution"), known)
    fx_rates = _fx_rates(r, top.get("fx_rates"))
    if currency and price_currency and currency != price_currency:
        _check_fx_coverage(r, top["currency"], price_currency, currency, fx_rates)
    max_shrink: Decimal | None = DEFAULT_MAX_SHRINK_PERCENT
    if "max_shrink_percent" in top:
        max_shrink = r.percent(top["max_shrink_percent"], "max_shrink_percent")
    discounts = _discounts(r, top.get("discounts"))
    pools = _shared_costs(r, top.get("shared_costs"), known)
    closed = _closed_months(r, top.get("closed_months"))
    policies = _serverless_policies(r, top.get("serverless_policies"), known, attribution)
    budgets = _budgets(r, top.get("budgets"), known, attribution)
    if version is None or currency is None or price_currency is None or lookback_days is None:
        return None
    return Config(
        version=version,
        currency=currency,
        price_currency=price_currency,
        fx_rates=tuple(rate for rate, _, _ in fx_rates),
        lookback_days=lookback_days,
        business_units=units,
        attribution=attribution,
        discounts=discounts,
        shared_costs=pools,
        closed_months=closed,
        source=source,
        serverless_policies=policies,
        budgets=budgets,
        max_shrink_percent=DEFAULT_MAX_SHRINK_PERCENT if max_shrink is None else max_shrink,
    )


def _business_units(r: _Reader, node: Node | None) -> tuple[tuple[BusinessUnit, ...], _Units]:
    # References are checked against every id the file declares, even ids with problems of their own, so one
    # bad unit does not also turn every reference to it into an "unknown business unit" problem.
    declared: list[str] = []
    if isinstance(node, SequenceNode):
        for item in node.value:
            for key, value in item.value if isinstance(item, MappingNode) else []:
                if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                    declared.append(value.value)

    by_normalised: dict[str, str] = {}
    claimed: dict[str, tuple[str, str]] = {}  # normalised id or name -> (item path, field path) that has it
    parents: list[tuple[str, str, Node, str]] = []  # (unit id, parent id, parent node, parent path)

    def claim(f: dict[str, Node], path: str, field: str, value: str, unit_id: str | None) -> None:
        """Ids and names select units as tag values, so no two units may share one after normalisation."""
        key = normalise(value)
        owner = claimed.get(key)
        if owner is None:
            claimed[key] = (path, f"{path}.{field}")
            if unit_id is not None:
                by_normalised[key] = unit_id
        elif owner[0] != path:
            r.problem(
                f[field],
                f"{path}.{field}",
                f"{_show(value)} clashes with {owner[1]}: both normalise to {key!r}, so tag values could not "
                "tell the two units apart",
            )

    def parse(f: dict[str, Node], path: str, _: Node) -> BusinessUnit | None:
        unit_id = r.get(f, path, "id", r.unit_id)
        name = r.get(f, path, "name", r.text)
        parent = r.get(f, path, "parent", r.text)
        cost_center = r.get(f, path, "cost_center", r.text)
        if unit_id is not None:
            claim(f, path, "id", unit_id, unit_id)
        if name is not None and normalise(name) in ("", normalise(UNALLOCATED)):
            r.problem(f["name"], f"{path}.name", f"{_show(name)} cannot name a business unit")
            name = None
        elif name is not None:
            claim(f, path, "name", name, unit_id)
        if unit_id is not None and parent is not None:
            parents.append((unit_id, parent, f["parent"], f"{path}.parent"))
        if unit_id is None or name is None:
            return None
        return BusinessUnit(unit_id, name, parent, cost_center)

    placed = r.items(node, "business_units", ("id", "name"), ("parent", "cost_center"), parse)
    if isinstance(node, SequenceNode) and not node.value:
        r.problem(node, "business_units", "at least one business unit is required")
    known = _Units(tuple(declared), by_normalised)
    for _, parent, parent_node, path in parents:
        if parent not in known.known:
            r.problem(parent_node, path, f"unknown business unit {_show(parent)}{known.suggest(parent)}")
    _check_cycles(r, parents)
    return tuple(unit for unit, _, _ in placed), known


def _check_cycles(r: _Reader, parents: list[tuple[str, str, Node, str]]) -> None:
    """Following parents from any unit must end at a top-level unit; each cycle is reported once, at its unit
    listed first. Every unit is walked once, so a deep hierarchy of thousands of units costs no more than a flat one.
    """
    parent_of = {unit: parent for unit, parent, _, _ in parents}
    cycle_of: dict[str, str] = {}  # unit on a cycle -> the unit the walk entered the cycle at
    walked: set[str] = set()
    for start in parent_of:
        walk: dict[str, None] = {}  # the units of this walk, in order
        current: str | None = start
        while current is not None and current not in walked and current not in walk:
            walk[current] = None
            current = parent_of.get(current)
        if current is not None and current in walk:  # the walk closed a cycle, from `current` on
            on_cycle = list(walk)
            for unit in on_cycle[on_cycle.index(current) :]:
                cycle_of[unit] = current
        walked.update(walk)
    reported: set[str] = set()
    for unit, _, node, path in parents:
        cycle = cycle_of.get(unit)
        if cycle is not None and cycle not in reported:
            reported.add(cycle)
            chain = [unit]
            while parent_of[chain[-1]] != unit:
                chain.append(parent_of[chain[-1]])
            r.problem(node, path, f"parent cycle: {' -> '.join([*chain, unit])}")


def _attribution(r: _Reader, node: Node | None, units: _Units) -> Attribution:
    lists = ("tag_values", "budget_policies", "workloads", "identities", "workspaces")
    f = (r.fields(node, "attribution", (), ("tag_keys", *lists)) if node is not None else None) or {}
    path = "attribution"
    tag_keys = _tag_keys(r, f["tag_keys"], f"{path}.tag_keys") if "tag_keys" in f else ()

    def unit(rule: dict[str, Node], p: str) -> str | None:
        return r.get(rule, p, "business_unit", lambda n, q: r.unit(n, q, units))

    def tag_value(rule: dict[str, Node], p: str, _: Node) -> TagValueRule | None:
        raw, bu, validity = r.get(rule, p, "value", r.text), unit(rule, p), r.validity(rule, p)
        value = normalise(raw) if raw is not None else ""
        if raw is not None and not value:
            r.problem(rule["value"], f"{p}.value", f"{_show(raw)} has no letters or digits")
        elif value and bu is not None and units.by_normalised.get(value, bu) != bu:
            r.problem(
                rule["value"],
                f"{p}.value",
                f"normalises to {value!r}, the id or name of business unit {units.by_normalised[value]!r}, "
                "which that value always selects",
            )
        if not value or bu is None or validity is None:
            return None
        return TagValueRule(value, bu, *validity)

    def policy(rule: dict[str, Node], p: str, _: Node) -> PolicyRule | None:
        policy_id, bu, validity = r.get(rule, p, "policy_id", r.text), unit(rule, p), r.validity(rule, p)
        if policy_id is None or bu is None or validity is None:
            return None
        return PolicyRule(policy_id, bu, *validity)

    def workload(rule: dict[str, Node], p: str, _: Node) -> WorkloadRule | None:
        kind = r.get(rule, p, "workload_type", lambda n, q: r.choice(n, q, WORKLOAD_TYPES))
        workload_id, bu, validity = r.get(rule, p, "workload_id", r.text), unit(rule, p), r.validity(rule, p)
        if kind is None or workload_id is None or bu is None or validity is None:
            return None
        return WorkloadRule(kind, workload_id, bu, *validity)

    def identity(rule: dict[str, Node], p: str, _: Node) -> IdentityRule | None:
        who, bu, validity = r.get(rule, p, "identity", r.text), unit(rule, p), r.validity(rule, p)
        if who is None or bu is None or validity is None:
            return None
        return IdentityRule(who, bu, *validity)

    def workspace(rule: dict[str, Node], p: str, _: Node) -> WorkspaceRule | None:
        workspace_id, bu, validity = r.get(rule, p, "workspace_id", r.workspace_id), unit(rule, p), r.validity(rule, p)
        if workspace_id is None or bu is None or validity is None:
            return None
        return WorkspaceRule(workspace_id, bu, *validity)

    dated = ("valid_to",)
    tag_values = r.items(
        f.get("tag_values"), f"{path}.tag_values", ("value", "business_unit", "valid_from"), dated, tag_value
    )
    policies = r.items(
        f.get("budget_policies"), f"{path}.budget_policies", ("policy_id", "business_unit", "valid_from"), dated, policy
    )
    workloads = r.items(
        f.get("workloads"),
        f"{path}.workloads",
        ("workload_type", "workload_id", "business_unit", "valid_from"),
        dated,
        workload,
    )
    identities = r.items(
        f.get("identities"), f"{path}.identities", ("identity", "business_unit", "valid_from"), dated, identity
    )
    workspaces = r.items(
        f.get("workspaces"), f"{path}.workspaces", ("workspace_id", "business_unit", "valid_from"), dated, workspace
    )
    r.check_overlaps(tag_values, lambda rule: rule.value, "tag value")
    r.check_overlaps(policies, lambda rule: rule.policy_id, "policy_id")
    r.check_overlaps(workloads, lambda rule: (rule.workload_type, rule.workload_id), "workload")
    r.check_overlaps(identities, lambda rule: rule.identity, "identity")
    r.check_overlaps(workspaces, lambda rule: rule.workspace_id, "workspace_id")
    return Attribution(
        tag_keys=tuple(normalise(key) for key in tag_keys),
        tag_key_names=tag_keys,
        tag_values=tuple(rule for rule, _, _ in tag_values),
        budget_policies=tuple(rule for rule, _, _ in policies),
        workloads=tuple(rule for rule, _, _ in workloads),
        identities=tuple(rule for rule, _, _ in identities),
        workspaces=tuple(rule for rule, _, _ in workspaces),
    )


def _tag_keys(r: _Reader, node: Node, path: str) -> tuple[str, ...]:
    """The tag keys as written; no two may normalise alike."""
    keys: dict[str, str] = {}  # normalised -> as written
    for index, item in enumerate(r.sequence(node, path) or []):
        raw = r.text(item, f"{path}[{index}]")
        if raw is None:
            continue
        key = normalise(raw)
        if not key:
            r.problem(item, f"{path}[{index}]", f"{_show(raw)} has no letters or digits")
        elif key in keys:
            r.problem(item, f"{path}[{index}]", f"{_show(raw)} normalises to {key!r}, which is already listed")
        else:
            keys[key] = raw
    return tuple(keys.values())


def _discounts(r: _Reader, node: Node | None) -> tuple[Discount, ...]:
    def parse(f: dict[str, Node], path: str, item: Node) -> Discount | None:
        product = r.get(f, path, "billing_origin_product", r.product)
        pattern = r.get(f, path, "sku_pattern", r.text)
        percent = r.get(f, path, "percent", r.percent)
        validity = r.validity(f, path)
        if "billing_origin_product" not in f and "sku_pattern" not in f:
            r.problem(item, path, "a discount needs billing_origin_product, sku_pattern or both")
        if percent is None or validity is None:
            return None
        return Discount(product, pattern, percent, *validity)

    placed = r.items(
        node, "discounts", ("percent", "valid_from"), ("billing_origin_product", "sku_pattern", "valid_to"), parse
    )
    r.check_overlaps(placed, lambda d: (d.billing_origin_product, d.sku_pattern), "(product, sku_pattern)")
    return tuple(discount for discount, _, _ in placed)


def _fx_rates(r: _Reader, node: Node | None) -> list[_Placed[FxRate]]:
    def parse(f: dict[str, Node], path: str, item: Node) -> FxRate | None:
        source = r.get(f, path, "from_currency", r.currency)
        target = r.get(f, path, "to_currency", r.currency)
        rate = r.get(f, path, "rate", r.rate)
        validity = r.validity(f, path)
        if source is not None and source == target:
            r.problem(item, path, f"from_currency and to_currency are both {source}")
        if source is None or target is None or rate is None or validity is None:
            return None
        return FxRate(source, target, rate, *validity)

    placed = r.items(node, "fx_rates", ("from_currency", "to_currency", "rate", "valid_from"), ("valid_to",), parse)
    r.check_overlaps(placed, lambda rate: (rate.from_currency, rate.to_currency), "currency pair")
    return placed


def _check_fx_coverage(
    r: _Reader, node: Node, price_currency: str, currency: str, rates: list[_Placed[FxRate]]
) -> None:
    """Prices in `price_currency` convert to `currency` from the first rate on, without gaps and open-ended."""
    pair = sorted(
        (entry for entry in rates if (entry[0].from_currency, entry[0].to_currency) == (price_currency, currency)),
        key=lambda entry: entry[0].valid_from,
    )
    if not pair:
        r.problem(
            node,
            "currency",
            f"currency {currency} differs from price_currency {price_currency} but fx_rates has no rate with "
            f"from_currency {price_currency} and to_currency {currency} (1 {price_currency} = rate {currency})",
        )
        return
    end = pair[0][0].valid_to
    for rate, item, path in pair[1:]:
        if end is not None and rate.valid_from > end:
            r.problem(item, path, f"no {price_currency}->{currency} rate covers [{end}, {rate.valid_from})")
        if end is not None:
            end = None if rate.valid_to is None else max(end, rate.valid_to)
    if end is not None:
        r.problem(
            node,
            "currency",
            f"{price_currency}->{currency} rates end on {end}; leave valid_to out of the latest rate so later "
            "usage can be converted",
        )


def _shared_costs(r: _Reader, node: Node | None, units: _Units) -> tuple[SharedPool, ...]:
    first_use: dict[str, tuple[str, int]] = {}  # pool id -> (path, line) of the pool that uses it first

    def parse(f: dict[str, Node], path: str, item: Node) -> SharedPool | None:
        pool_id = r.get(f, path, "id", lambda n, p: r.matching(n, p, _UNIT_ID, "a valid pool id"))
        if pool_id is not None and pool_id in first_use:
            first_path, first_line = first_use[pool_id]
            r.problem(f["id"], f"{path}.id", f"duplicate pool id (first used by {first_path}, line {first_line})")
        elif pool_id is not None:
            first_use[pool_id] = (path, _line(item))
        match = r.get(f, path, "match", lambda n, p: _pool_match(r, n, p))
        method = r.get(f, path, "method", lambda n, p: r.choice(n, p, METHODS))
        same_product = r.get(f, path, "same_product", r.boolean)
        targets = r.get(f, path, "business_units", lambda n, p: r.list_of(n, p, lambda m, q: r.unit(m, q, units)))
        shares = r.get(f, path, "percentages", lambda n, p: _percentages(r, n, p, units))
        keeper = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
        if method is not None:
            _check_method_fields(r, f, path, item, method, bool(same_product))
        if pool_id is None or match is None or method is None:
            return None
        shares = (shares or ()) if method == "fixed" else ()
        if method == "fixed":
            targets = tuple(unit for unit, _ in shares)
        elif method == "central":
            targets = (keeper,) if keeper else ()
        return SharedPool(
            id=pool_id,
            match=match,
            method=method,
            same_product=bool(same_product),
            business_units=targets or units.ids,
            percentages=shares,
            business_unit=keeper if method == "central" else None,
        )

    placed = r.items(
        node,
        "shared_costs",
        ("id", "match", "method"),
        ("same_product", "business_units", "percentages", "business_unit"),
        parse,
    )
    return tuple(pool for pool, _, _ in placed)


def _check_method_fields(
    r: _Reader, f: dict[str, Node], path: str, item: Node, method: str, same_product: bool
) -> None:
    """Each method takes its own fields and no others."""
    if same_product and method != "proportional":
        r.problem(f["same_product"], f"{path}.same_product", "same_product applies only to method proportional")
    if "business_units" in f and method not in ("proportional", "even"):
        r.problem(
            f["business_units"],
            f"{path}.business_units",
            f"business_units applies only to methods proportional and even, not {method}",
        )
    if method == "fixed" and "percentages" not in f:
        r.problem(item, f"{path}.percentages", "method fixed needs percentages (unit -> percent, summing to 100)")
    if "percentages" in f and method != "fixed":
        r.problem(f["percentages"], f"{path}.percentages", f"percentages applies only to method fixed, not {method}")
    if method == "central" and "business_unit" not in f:
        r.problem(item, f"{path}.business_unit", "method central needs business_unit, the unit that keeps the pool")
    if "business_unit" in f and method != "central":
        r.problem(
            f["business_unit"], f"{path}.business_unit", f"business_unit applies only to method central, not {method}"
        )


def _pool_match(r: _Reader, node: Node, path: str) -> PoolMatch | None:
    criteria = ("billing_origin_products", "sku_patterns", "workspace_ids", "warehouse_ids", "unallocated")
    f = r.fields(node, path, (), criteria)
    if f is None:
        return None
    if not f:
        r.problem(node, path, f"match needs at least one criterion: {', '.join(criteria)}")
        return None
    return PoolMatch(
        billing_origin_products=r.get(f, path, "billing_origin_products", lambda n, p: r.list_of(n, p, r.product))
        or (),
        sku_patterns=r.get(f, path, "sku_patterns", lambda n, p: r.list_of(n, p, r.text)) or (),
        workspace_ids=r.get(f, path, "workspace_ids", lambda n, p: r.list_of(n, p, r.workspace_id)) or (),
        warehouse_ids=r.get(f, path, "warehouse_ids", lambda n, p: r.list_of(n, p, r.text)) or (),
        unallocated=r.get(f, path, "unallocated", r.boolean),
    )


def _percentages(r: _Reader, node: Node, path: str, units: _Units) -> tuple[tuple[str, Decimal], ...] | None:
    entries = r.entries(node, path)
    if entries is None:
        return None
    shares = []
    complete = True
    for key, (key_node, value_node) in entries.items():
        unit = r.unit(key_node, _join(path, key), units)
        percent = r.percent(value_node, _join(path, key))
        if unit is None or percent is None:
            complete = False
        else:
            shares.append((unit, percent))
    total = sum((percent for _, percent in shares), Decimal(0))
    if complete and total != 100:
        r.problem(node, path, f"percentages sum to {total}, not exactly 100")
    return tuple(shares)


def _closed_months(r: _Reader, node: Node | None) -> tuple[dt.date, ...]:
    nodes = r.sequence(node, "closed_months") if node is not None else None
    months: list[dt.date] = []
    for index, item in enumerate(nodes or []):
        month = r.month(item, f"closed_months[{index}]")
        if month in months:
            r.problem(item, f"closed_months[{index}]", f"{month:%Y-%m} is listed twice")
        elif month is not None:
            months.append(month)
    return tuple(sorted(months))


def _serverless_policies(
    r: _Reader, node: Node | None, units: _Units, attribution: Attribution
) -> tuple[ServerlessPolicy, ...]:
    """Managed budget policies. Each tags usage with its unit under the first attribution tag key, so its
    declared tags must not name another unit, or the policy and the attribution rules would disagree."""
    first_use: dict[str, tuple[str, int]] = {}  # casefolded name -> (path, line) of the policy that has it
    unit_tag_key = attribution.tag_key_names[0] if attribution.tag_key_names else None

    def parse(f: dict[str, Node], path: str, item: Node) -> ServerlessPolicy | None:
        name = r.get(f, path, "name", lambda n, p: _policy_name(r, n, p))
        if name is not None and name.casefold() in first_use:
            first_path, first_line = first_use[name.casefold()]
            r.problem(
                f["name"], f"{path}.name", f"duplicate policy name (first used by {first_path}, line {first_line})"
            )
        elif name is not None:
            first_use[name.casefold()] = (path, _line(item))
        unit = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
        tags = r.get(f, path, "tags", lambda n, p: _policy_tags(r, n, p, unit, units, attribution)) or ()
        grants = r.get(f, path, "permissions", lambda n, p: _grants(r, n, p)) or ()
        if unit_tag_key is None:
            r.problem(
                item,
                path,
                "a managed policy tags usage with its business unit under the first attribution.tag_keys entry, "
                "but attribution.tag_keys is empty",
            )
        elif len(tags) + 1 > MAX_POLICY_TAGS:
            r.problem(
                f["tags"],
                f"{path}.tags",
                f"{len(tags)} tags plus the business-unit tag exceed the {MAX_POLICY_TAGS} tags a policy can have",
            )
        elif len(unit_tag_key) > MAX_POLICY_TAG_KEY:
            r.problem(
                item,
                path,
                f"the business-unit tag key (the first attribution.tag_keys entry) is {len(unit_tag_key)} characters; "
                f"a policy tag key has at most {MAX_POLICY_TAG_KEY}",
            )
        if unit is not None and len(unit) > MAX_POLICY_TAG_VALUE:
            r.problem(
                f["business_unit"],
                f"{path}.business_unit",
                f"the policy tags usage with the unit id, which is {len(unit)} characters; a policy tag value has "
                f"at most {MAX_POLICY_TAG_VALUE}",
            )
        if name is None or unit is None or unit_tag_key is None:
            return None
        return ServerlessPolicy(name, unit, ((unit_tag_key, unit), *tags), grants)

    placed = r.items(node, "serverless_policies", ("name", "business_unit"), ("tags", "permissions"), parse)
    return tuple(policy for policy, _, _ in placed)


def _policy_name(r: _Reader, node: Node, path: str) -> str | None:
    name = r.text(node, path)
    if name is None:
        return None
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        r.problem(node, path, f"{_show(name)} has characters outside ISO 8859-1 (latin-1), which policy names allow")
        return None
    if name.startswith(_DEFAULT_POLICY_PREFIX):
        r.problem(node, path, f"names starting with {_DEFAULT_POLICY_PREFIX!r} are reserved by Databricks")
        return None
    if len(name) > MAX_POLICY_NAME:
        r.problem(node, path, f"{_show(name)} is {len(name)} characters; a policy name has at most {MAX_POLICY_NAME}")
        return None
    return name


def _policy_tags(
    r: _Reader, node: Node, path: str, unit: str | None, units: _Units, attribution: Attribution
) -> tuple[tuple[str, str], ...] | None:
    """Declared tags (key -> value): no reserved key, and no business-unit key naming another unit."""
    entries = r.entries(node, path)
    if entries is None:
        return None
    unit_keys = [tag_key_form(key) for key in attribution.tag_key_names]
    tags = []
    for key, (key_node, value_node) in entries.items():
        key_path = _key_path(path, key)
        tag_key = r.text(key_node, key_path)
        value = r.text(value_node, key_path)
        if tag_key is None or value is None:
            continue
        # Every problem of the key and of the value is reported; a tag with any is not checked further.
        found = len(r.problems)
        if len(tag_key) > MAX_POLICY_TAG_KEY:
            r.problem(
                key_node,
                key_path,
                f"{_show(tag_key)} is {len(tag_key)} characters; a policy tag key has at most {MAX_POLICY_TAG_KEY}",
            )
        if tag_key.strip().lower() in RESERVED_POLICY_TAG_KEYS:
            r.problem(key_node, key_path, f"{_show(tag_key)} is a tag key Databricks reserves for budget policies")
        elif unit_keys and tag_key_form(tag_key) == unit_keys[0]:
            r.problem(
                key_node,
                key_path,
                f"{_show(tag_key)} is the first attribution tag key, which the policy sets from business_unit "
                "itself: leave it out",
            )
        if len(value) > MAX_POLICY_TAG_VALUE:
            r.problem(
                value_node,
                key_path,
                f"{_show(value)} is {len(value)} characters; a policy tag value has at most {MAX_POLICY_TAG_VALUE}",
            )
        if len(r.problems) > found:
            continue
        if tag_key_form(tag_key) in unit_keys and unit is not None:
            others = _tag_value_units(normalise(value), units, attribution) - {unit}
            if others:
                r.problem(
                    value_node,
                    key_path,
                    f"business-unit tag {tag_key}={value} would attribute usage to {', '.join(sorted(others))}, "
                    f"not to the policy's business unit {unit!r}",
                )
            elif not _tag_value_units(normalise(value), units, attribution):
                r.problem(
                    value_node,
                    key_path,
                    f"business-unit tag {tag_key}={value} selects no business unit; name {unit!r} or leave it out",
                )
            else:
                tags.append((tag_key, value))
        else:
            tags.append((tag_key, value))
    return tuple(tags)


def _key_path(path: str, key: str, limit: int = 60) -> str:
    """`_join(path, key)`, with a long key cut short: a 513-character key is not printed in full."""
    return _join(path, key) if len(key) <= limit else f"{path}.{key[: limit - 4]}..."


def _tag_value_units(value: str, units: _Units, attribution: Attribution) -> set[str]:
    """Every unit a normalised business-unit tag value selects, on any date."""
    selected = {rule.business_unit for rule in attribution.tag_values if rule.value == value}
    if value in units.by_normalised:
        selected.add(units.by_normalised[value])
    return selected


def _grants(r: _Reader, node: Node, path: str) -> tuple[PolicyGrant, ...]:
    first_use: dict[tuple[str, str], tuple[str, int]] = {}

    def parse(f: dict[str, Node], p: str, item: Node) -> PolicyGrant | None:
        role = r.get(f, p, "role", lambda n, q: r.choice(n, q, POLICY_ROLES))
        kinds = [kind for kind in PRINCIPAL_KINDS if kind in f]
        if len(kinds) != 1:
            r.problem(item, p, f"give exactly one of {', '.join(PRINCIPAL_KINDS)}")
            return None
        principal = r.get(f, p, kinds[0], r.text)
        if principal is None or role is None:
            return None
        first = first_use.get((kinds[0], principal))
        if first is not None:
            r.problem(item, p, f"{kinds[0]} {_show(principal)} is already granted by {first[0]} (line {first[1]})")
            return None
        first_use[(kinds[0], principal)] = (p, _line(item))
        return PolicyGrant(kinds[0], principal, role)

    placed = r.items(node, path, ("role",), PRINCIPAL_KINDS, parse)
    return tuple(grant for grant, _, _ in placed)


def account_budget_name(business_unit: str, workspace_id: str | None) -> str:
    """The display name of the account budget a config budget manages: chargeback/<unit>[/workspace/<id>]."""
    name = MANAGED_BUDGET_PREFIX + business_unit
    return f"{name}/workspace/{int(workspace_id)}" if workspace_id else name


def _budgets(r: _Reader, node: Node | None, units: _Units, attribution: Attribution) -> tuple[Budget, ...]:
    def parse(f: dict[str, Node], path: str, item: Node) -> Budget | None:
        unit = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
        workspace = r.get(f, path, "workspace_id", r.workspace_id)
        product = r.get(f, path, "billing_origin_product", r.product)
        amount = r.get(f, path, "amount", r.amount)
        warning = r.get(f, path, "warning_percent", r.threshold)
        critical = r.get(f, path, "critical_percent", r.threshold)
        extra = r.get(f, path, "alert_percents", lambda n, p: _thresholds(r, n, p)) or ()
        recipients = r.get(f, path, "recipients", lambda n, p: r.list_of(n, p, r.text)) or ()
        account = r.get(f, path, "account_budget", r.boolean)
        valid_from = r.get(f, path, "valid_from", r.month_start)
        valid_to = r.get(f, path, "valid_to", r.month_start)
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            r.problem(f["valid_to"], f"{path}.valid_to", f"valid_to {valid_to} must be after valid_from {valid_from}")
            valid_to = None
        if warning is not None and critical is not None and warning >= critical:
            r.problem(
                f["warning_percent"],
                f"{path}.warning_percent",
                f"warning_percent {warning} must be below critical_percent {critical}",
            )
        levels = tuple(sorted({level for level in (warning, critical, *extra) if level is not None}))
        if len(levels) > MAX_BUDGET_ALERTS:
            r.problem(
                f["alert_percents"],
                f"{path}.alert_percents",
                f"{len(levels)} alert levels with warning and critical; an account budget allows {MAX_BUDGET_ALERTS}",
            )
        if account and product is not None:
            r.problem(
                f["account_budget"],
                f"{path}.account_budget",
                "the Budgets API filters by tags and workspaces, not by product: an account budget cannot have "
                "billing_origin_product",
            )
        publish = product is None if account is None else account
        if publish and not attribution.tag_key_names:
            r.problem(item, path, "an account budget filters on the first attribution.tag_keys entry, which is empty")
        for field in ("alert_percents", "recipients"):
            if field in f and not publish:
                r.problem(f[field], f"{path}.{field}", "applies only to account budgets (account_budget: true)")
        name = account_budget_name(unit, workspace) if publish and unit is not None else ""
        if len(name) > MAX_BUDGET_NAME:
            # Reported at the field that makes it long: the workspace suffix when the unit's name alone fits.
            fits = unit is not None and len(account_budget_name(unit, None)) <= MAX_BUDGET_NAME
            at = "workspace_id" if workspace and fits else "business_unit"
            r.problem(
                f[at],
                f"{path}.{at}",
                f"account budget name {_show(name, MAX_BUDGET_NAME + 20)} is {len(name)} characters; the Budgets API "
                f"allows at most {MAX_BUDGET_NAME} (use a shorter unit id, or account_budget: false)",
            )
        if unit is None or amount is None or warning is None or critical is None or valid_from is None:
            return None
        return Budget(
            business_unit=unit,
            amount=amount,
            warning_percent=warning,
            critical_percent=critical,
            valid_from=valid_from,
            valid_to=valid_to,
            workspace_id=workspace,
            billing_origin_product=product,
            alert_percents=levels if publish else (),
            recipients=recipients if publish else (),
            account_budget=publish,
        )

    placed = r.items(
        node,
        "budgets",
        ("business_unit", "amount", "warning_percent", "critical_percent", "valid_from"),
        ("valid_to", "workspace_id", "billing_origin_product", "alert_percents", "recipients", "account_budget"),
        parse,
    )
    r.check_overlaps(
        placed, lambda b: (b.business_unit, b.workspace_id, b.billing_origin_product), "(unit, workspace, product)"
    )
    _check_budget_names(r, placed)
    return tuple(budget for budget, _, _ in placed)


def _check_budget_names(r: _Reader, placed: list[_Placed[Budget]]) -> None:
    """Account budgets in force at the same time need distinct names: the plan finds them by name. Budgets of one
    (unit, workspace, product) are already checked for overlaps; this catches one workspace written two ways."""
    seen: dict[str, list[_Placed[Budget]]] = {}
    for entry in sorted(placed, key=lambda e: e[0].valid_from):
        budget, node, path = entry
        if not budget.account_budget:
            continue
        name = account_budget_name(budget.business_unit, budget.workspace_id)
        for other, other_node, other_path in seen.get(name, []):
            overlaps = other.valid_to is None or budget.valid_from < other.valid_to
            if overlaps and other.workspace_id != budget.workspace_id:
                r.problem(
                    node,
                    path,
                    f"account budget name {_show(name)} is also the name of {other_path} (line {_line(other_node)}) "
                    "in an overlapping period; the account would hold two budgets of one name",
                )
                break
        seen.setdefault(name, []).append(entry)


def _thresholds(r: _Reader, node: Node, path: str) -> tuple[Decimal, ...] | None:
    nodes = r.sequence(node, path)
    if nodes is None:
        return None
    if not nodes:
        r.problem(node, path, "must not be empty (leave the field out instead)")
    values = [r.threshold(item, f"{path}[{index}]") for index, item in enumerate(nodes)]
    return tuple(value for value in values if value is not None)


# --- config tables ---------------------------------------------------------------------------------------

_VALID_FROM = Column("valid_from", "DATE", "First day the rule applies (inclusive).")
_VALID_TO = Column("valid_to", "DATE", "Day the rule stops applying (exclusive); NULL = open-ended.")
_UNIT_COLUMN = Column(
    "business_unit_id", "STRING", "Business unit id from the chargeback config (joins business_units)."
)

CONFIG_TABLES: dict[str, TableSpec] = {
    "business_units": TableSpec(
        table="business_units",
        grain=(
            "One row per business unit in the chargeback config. Cost no rule attributes is charged to the "
            f"reserved unit {UNALLOCATED}, which is not listed."
        ),
        primary_key=("business_unit_id",),
        columns=(
            Column("business_unit_id", "STRING", "Business unit id; charges are reported under this id."),
            Column("business_unit_name", "STRING", "Display name of the business unit."),
            Column(
                "parent_business_unit_id", "STRING", "Id of the parent unit for roll-ups; NULL for a top-level unit."
            ),
            Column("cost_center", "STRING", "Finance cost center the unit's charges post to; NULL if not set."),
        ),
    ),
    "attribution_rules": TableSpec(
        table="attribution_rules",
        grain=(
            "One row per explicit attribution rule in the chargeback config. Not listed, because they are "
            "implicit: a tag value equal to a unit's normalised id or name (precedence 1) and pipeline tags "
            "(precedence 4)."
        ),
        primary_key=("rule_type", "match_key", "valid_from"),
        columns=(
            Column("rule_type", "STRING", "tag_value, budget_policy, workload, identity or workspace."),
            Column(
                "precedence",
                "INT",
                "When several rules match a usage line the lowest wins: 1 tag value, 2 budget policy, "
                "3 workload, 4 pipeline tags (implicit), 5 identity, 6 workspace default.",
            ),
            Column(
                "match_key",
                "STRING",
                "What the rule matches: the normalised tag value, the budget policy id, "
                "'<workload_type>:<workload_id>' (e.g. 'job:123'), the user email or service principal id, "
                "or the workspace id.",
            ),
            _UNIT_COLUMN,
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "discount_rules": TableSpec(
        table="discount_rules",
        grain="One row per negotiated discount in the chargeback config.",
        primary_key=("billing_origin_product", "sku_pattern", "valid_from"),
        columns=(
            Column("billing_origin_product", "STRING", "Product the discount applies to; NULL = any product."),
            Column("sku_pattern", "STRING", "Glob on sku_name ('*' = any characters); NULL = any SKU."),
            Column("discount_percent", "DECIMAL(9,4)", "Percent off the list price, 0 to 100."),
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "fx_rates": TableSpec(
        table="fx_rates",
        grain="One row per exchange rate period in the chargeback config.",
        primary_key=("from_currency", "to_currency", "valid_from"),
        columns=(
            Column("from_currency", "STRING", "ISO 4217 code of the currency converted from (the price currency)."),
            Column("to_currency", "STRING", "ISO 4217 code of the currency converted to (the chargeback currency)."),
            Column("rate", "DECIMAL(20,10)", "1 from_currency = rate to_currency."),
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "shared_cost_rules": TableSpec(
        table="shared_cost_rules",
        grain="One row per target business unit of each shared-cost pool in the chargeback config.",
        primary_key=("pool_id", "business_unit_id"),
        columns=(
            Column("pool_id", "STRING", "Shared-cost pool id."),
            Column(
                "pool_order",
                "INT",
                "Position of the pool in the config, from 1; a usage line belongs to the first pool it matches.",
            ),
            Column("method", "STRING", "How the pool is split: proportional, even, fixed or central."),
            Column(
                "same_product",
                "BOOLEAN",
                "Proportional only: weights are direct cost in the same billing_origin_product, not all products.",
            ),
            Column(
                "match_description",
                "STRING",
                "The pool's match criteria as JSON; usage lines must satisfy every criterion given.",
            ),
            _UNIT_COLUMN,
            Column(
                "percent",
                "DECIMAL(9,4)",
                "Share of the pool: the configured share for fixed, 100 for central; NULL for proportional and "
                "even, whose shares depend on the period's usage.",
            ),
        ),
    ),
}


def config_frames(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """The config as DataFrames, one per `CONFIG_TABLES` entry, with exactly the spec's columns."""
    rows = _config_rows(config)
    return {name: spark.createDataFrame(rows[name], _struct(spec)) for name, spec in CONFIG_TABLES.items()}


def _config_rows(config: Config) -> dict[str, list[tuple[object, ...]]]:
    a = config.attribution
    rules = [
        *(_rule_row("tag_value", r.value, r) for r in a.tag_values),
        *(_rule_row("budget_policy", r.policy_id, r) for r in a.budget_policies),
        *(_rule_row("workload", f"{r.workload_type}:{r.workload_id}", r) for r in a.workloads),
        *(_rule_row("identity", r.identity, r) for r in a.identities),
        *(_rule_row("workspace", r.workspace_id, r) for r in a.workspaces),
    ]
    return {
        "business_units": [(u.id, u.name, u.parent, u.cost_center) for u in config.business_units],
        "attribution_rules": rules,
        "discount_rules": [
            (d.billing_origin_product, d.sku_pattern, d.percent, d.valid_from, d.valid_to) for d in config.discounts
        ],
        "fx_rates": [(f.from_currency, f.to_currency, f.rate, f.valid_from, f.valid_to) for f in config.fx_rates],
        "shared_cost_rules": [
            (pool.id, order, pool.method, pool.same_product, pool.match.description(), unit, percent)
            for order, pool in enumerate(config.shared_costs, start=1)
            for unit, percent in _pool_shares(pool)
        ],
    }


def _rule_row(rule_type: str, match_key: str, rule: _Rule) -> tuple[object, ...]:
    return (rule_type, RULE_PRECEDENCE[rule_type], match_key, rule.business_unit, rule.valid_from, rule.valid_to)


def _pool_shares(pool: SharedPool) -> list[tuple[str, Decimal | None]]:
    if pool.method == "fixed":
        return list(pool.percentages)
    if pool.method == "central":
        return [(unit, Decimal(100)) for unit in pool.business_units]
    return [(unit, None) for unit in pool.business_units]


def _struct(spec: TableSpec) -> StructType:
    """The Spark schema of a config table (imported here: loading a config must not need pyspark)."""
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DecimalType,
        IntegerType,
        StringType,
        StructField,
        StructType,
    )

    types = {
        "STRING": StringType(),
        "INT": IntegerType(),
        "BOOLEAN": BooleanType(),
        "DATE": DateType(),
        "DECIMAL(9,4)": DecimalType(9, 4),
        "DECIMAL(20,10)": DecimalType(20, 10),
    }
    return StructType([StructField(c.name, types[c.type], True) for c in spec.columns])
