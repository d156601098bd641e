"""The comparable values governance works on: a policy and a budget as the account holds them or the config wants
them, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chargeback.errors import ChargebackError

ROLES = {"user": "roles/budgetPolicy.user", "manager": "roles/budgetPolicy.manager"}
BUDGET_CURRENCY = "USD"  # the Budgets API measures list price in US dollars only
# The one kind of alert the Budgets API offers today: cumulative list-price spend in the calendar month.
_ALERT_KIND = ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD")

Tags = tuple[tuple[str, str], ...]
Grant = tuple[str, str]  # (role name as the API spells it, principal as the API spells it)


class GovernanceError(ChargebackError):
    """The account cannot be read or changed (missing auth, refused call, unsupported setting)."""


@dataclass(frozen=True)
class ExistingPolicy:
    """A policy as the account has it. `grants` and `etag` are read only for policies the config manages."""

    policy_id: str
    name: str
    tags: Tags
    binding_workspace_ids: tuple[int, ...] = ()
    grants: frozenset[Grant] = frozenset()
    other_rules: tuple[tuple[str, tuple[str, ...]], ...] = ()  # rules of roles we do not manage, kept as is
    etag: str = ""


@dataclass(frozen=True)
class BudgetAlert:
    threshold_usd: Decimal
    recipients: tuple[str, ...]
    kind: tuple[str, str, str] = _ALERT_KIND  # (time_period, trigger_type, quantity_type)


@dataclass(frozen=True)
class BudgetShape:
    """The parts of an account budget the config decides; comparing two shapes decides a plan."""

    display_name: str
    tag_filters: tuple[tuple[str, tuple[str, ...]], ...]
    workspace_ids: tuple[int, ...]
    alerts: tuple[BudgetAlert, ...]
    critical_usd: Decimal | None = None  # the critical level: the alert kept where one alert per budget is allowed

    @property
    def filters(self) -> tuple[frozenset[tuple[str, tuple[str, ...]]], frozenset[int]]:
        """The filter, compared as the API does: tag clauses in any order, workspace ids as a set."""
        return frozenset(self.tag_filters), frozenset(self.workspace_ids)


def filter_differs(have: BudgetShape, want: BudgetShape) -> bool:
    """Whether the two budgets select different usage."""
    return have.filters != want.filters


def critical_alert(shape: BudgetShape) -> tuple[BudgetAlert, ...]:
    """The one alert a budget gets on an account that allows one per budget: its critical level, the level the
    config calls a breach (the highest, for a shape that marks none)."""
    if not shape.alerts:
        return ()
    marked = [a for a in shape.alerts if a.threshold_usd == shape.critical_usd]
    return (marked[0] if marked else max(shape.alerts, key=lambda a: a.threshold_usd),)


@dataclass(frozen=True)
class ExistingAlert:
    """An alert as the account has it, with the ids an update must send back (None: the account gave none)."""

    alert: BudgetAlert
    alert_id: str | None
    action_ids: tuple[tuple[str, str | None], ...] = ()  # (email, action_configuration_id) of its email actions
    source: Any = field(default=None, compare=False, repr=False)  # the SDK `AlertConfiguration` as read


@dataclass(frozen=True)
class ExistingBudget:
    budget_id: str
    shape: BudgetShape
    alerts: tuple[ExistingAlert, ...] = ()
    create_time: int | None = None
    unmodelled: tuple[str, ...] = ()  # what it has that this tool does not model: it is left alone
    source: Any = field(default=None, compare=False, repr=False)  # the SDK `BudgetConfiguration` as read
