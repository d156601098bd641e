"""The validated configuration: frozen dataclasses, the limits they obey, and the small rules on them."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from chargeback.errors import InputError

SUPPORTED_VERSION = 1
WORKLOAD_TYPES = ("job", "pipeline", "warehouse", "serving_endpoint", "app", "cluster", "notebook")
METHODS = ("proportional", "even", "fixed", "central", "consumption")
IDLE_METHODS = ("spread", "unit", "keep")
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
# A run may remove at most this share of a day's or month's published cost without --allow-shrink.
DEFAULT_MAX_SHRINK_PERCENT = Decimal(5)
_NON_ALPHANUMERIC = re.compile(r"[\W_]+")  # \W is Unicode-aware; '_' is a word character but not alphanumeric


def normalise(value: str) -> str:
    """Lower-case `value`, turn every run of non-alphanumeric characters into one '-', strip '-' at both ends."""
    return _NON_ALPHANUMERIC.sub("-", value.lower()).strip("-")


def tag_key_form(key: str) -> str:
    """Tag keys compare ignoring case and separators (`BusinessUnit` = `business_unit`): the twin of
    `attribution.key_form`."""
    return normalise(key).replace("-", "")


class Dated(Protocol):
    """Anything valid from `valid_from` (inclusive) to `valid_to` (exclusive; None = open-ended)."""

    @property
    def valid_from(self) -> dt.date: ...

    @property
    def valid_to(self) -> dt.date | None: ...


def in_force(rule: Dated, day: dt.date) -> bool:
    """Whether `day` falls in the rule's validity period [valid_from, valid_to)."""
    return rule.valid_from <= day and (rule.valid_to is None or day < rule.valid_to)


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
class IdleRule:
    """What a billed warehouse hour with no task time is charged to, in a pool split by consumption.

    `spread`: the identities that used the warehouse that day, in proportion to their task time that day (a day with
    no task time at all keeps its idle hours as `keep` does); `unit`: the named `business_unit`; `keep`: one row
    with identity NULL, `UNALLOCATED`, so idle cost stays visible.
    """

    method: str
    business_unit: str | None = None

    def __post_init__(self) -> None:
        if self.method not in IDLE_METHODS:
            raise InputError(f"idle rule: method {self.method!r} must be one of {', '.join(IDLE_METHODS)}")
        if (self.method == "unit") != (self.business_unit is not None):
            raise InputError("idle rule: a business_unit is required by method 'unit' and allowed only there")


@dataclass(frozen=True)
class SharedPool:
    """A shared-cost pool and how it is split.

    `business_units` holds the target units: the configured (or all) units for proportional and even, the
    `percentages` keys for fixed, `(business_unit,)` for central, and none for consumption, whose cost goes to
    the identities that ran statements on its warehouses (attribution finds their units).
    """

    id: str
    match: PoolMatch
    method: str
    same_product: bool
    business_units: tuple[str, ...]
    percentages: tuple[tuple[str, Decimal], ...] = ()
    business_unit: str | None = None
    idle: IdleRule | None = None  # method consumption only: what its idle warehouse hours are charged to


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
    def consumption_pools(self) -> tuple[SharedPool, ...]:
        """The shared-cost pools split by statement task time (`method: consumption`)."""
        return tuple(pool for pool in self.shared_costs if pool.method == "consumption")

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
            ends = [r.valid_to for r in pair if in_force(r, day)]
            if not ends:
                return day
            if None in ends:
                return None
            day = max(e for e in ends if e is not None)
        return None

    def is_closed(self, month_start: dt.date) -> bool:
        """Whether the statement of the month containing `month_start` is closed (never changes again)."""
        return month_start.replace(day=1) in self.closed_months


def account_budget_name(business_unit: str, workspace_id: str | None) -> str:
    """The display name of the account budget a config budget manages: chargeback/<unit>[/workspace/<id>]."""
    name = MANAGED_BUDGET_PREFIX + business_unit
    return f"{name}/workspace/{int(workspace_id)}" if workspace_id else name
