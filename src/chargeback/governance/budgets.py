"""Account budgets: the budgets the config wants on a day, and the plan that brings the account's budgets to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from chargeback.config import MANAGED_BUDGET_PREFIX, Budget, Config, account_budget_name, in_force
from chargeback.governance.plan import BudgetPlan, BudgetStep
from chargeback.governance.state import (
    BUDGET_CURRENCY,
    BudgetAlert,
    BudgetShape,
    ExistingAlert,
    ExistingBudget,
    GovernanceError,
    critical_alert,
    filter_differs,
)

_CENT = Decimal("0.01")

W = TypeVar("W")
H = TypeVar("H")


def budget_display_name(budget: Budget) -> str:
    return account_budget_name(budget.business_unit, budget.workspace_id)


def usd_amount(config: Config, amount: Decimal, day: dt.date) -> Decimal:
    """`amount` (in the chargeback currency) in US dollars, with the configured rate in force on `day`."""
    if config.currency == BUDGET_CURRENCY:
        return amount
    if config.price_currency != BUDGET_CURRENCY:
        raise GovernanceError(
            f"account budgets count {BUDGET_CURRENCY} list price, but price_currency is {config.price_currency}"
        )
    for rate in config.fx_rates:
        pair = (rate.from_currency, rate.to_currency) == (config.price_currency, config.currency)
        if pair and in_force(rate, day):
            return amount / rate.rate
    raise GovernanceError(f"no {BUDGET_CURRENCY}->{config.currency} rate in fx_rates is in force on {day}")


def desired_budgets(config: Config, day: dt.date) -> tuple[BudgetShape, ...]:
    """The account budgets the config wants on `day`: its account budgets in force that day."""
    units = {u.id: u for u in config.business_units}
    tag_key = config.attribution.tag_key_names[0] if config.attribution.tag_key_names else ""
    shapes = []
    for budget in config.budgets:
        if not (budget.account_budget and in_force(budget, day)):
            continue
        unit = units[budget.business_unit]
        amount = usd_amount(config, budget.amount, day)

        def threshold(level: Decimal, amount: Decimal = amount) -> Decimal:
            return (amount * level / 100).quantize(_CENT, ROUND_HALF_UP)

        # Each alert needs a unique threshold: levels that round to the same cent are one alert.
        thresholds = sorted({threshold(level) for level in budget.alert_percents})
        shapes.append(
            BudgetShape(
                display_name=budget_display_name(budget),
                # Budget tag filters match values exactly: the unit's id (what managed policies write) and name.
                tag_filters=((tag_key, tuple(sorted({unit.id, unit.name}))),),
                workspace_ids=(int(budget.workspace_id),) if budget.workspace_id else (),
                alerts=tuple(BudgetAlert(t, tuple(sorted(budget.recipients))) for t in thresholds),
                critical_usd=threshold(budget.critical_percent),
            )
        )
    return tuple(shapes)


def _pair(
    want: Sequence[W], have: Sequence[H], key: Callable[[W], object], have_key: Callable[[H], object]
) -> list[tuple[W | None, H | None]]:
    """Which item of `have` each item of `want` takes over: first the one of the same key, then, in order, the
    others left; wanted items left over pair with None, and the `have` items left over come last, with None."""
    free = list(have)
    matched: dict[int, H] = {}
    for index, item in enumerate(want):
        same = next((h for h in free if have_key(h) == key(item)), None)
        if same is not None:
            matched[index] = same
            free.remove(same)
    for index in range(len(want)):
        if index not in matched and free:
            matched[index] = free.pop(0)
    pairs: list[tuple[W | None, H | None]] = [(item, matched.get(index)) for index, item in enumerate(want)]
    return pairs + [(None, h) for h in free]


def pair_alerts(
    wanted: Iterable[BudgetAlert], existing: Iterable[ExistingAlert]
) -> list[tuple[BudgetAlert | None, ExistingAlert | None]]:
    """Which existing alert each wanted alert updates (keeping its id): the alert of the same threshold, else the
    remaining ones lowest to lowest; wanted alerts left over are new, existing ones left over are removed."""
    want = sorted(wanted, key=lambda a: a.threshold_usd)
    have = sorted(existing, key=lambda e: e.alert.threshold_usd)
    return _pair(want, have, lambda a: a.threshold_usd, lambda e: e.alert.threshold_usd)


def pair_actions(recipients: Iterable[str], existing: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """(email, action_configuration_id to send back or None) for each recipient, as `pair_alerts` pairs alerts."""
    pairs = _pair(list(recipients), list(existing), lambda to: to, lambda action: action[0])
    return [(to, have[1] if have else None) for to, have in pairs if to is not None]


def _usd(amount: Decimal) -> str:
    """An amount as the account returned it, without the trailing zeros of its BigDecimal text."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _emails(recipients: tuple[str, ...], nobody: str = "no one (shown in the account console)") -> str:
    return ", ".join(recipients) or nobody


def _filter_diff(old: BudgetShape | None, new: BudgetShape) -> list[str]:
    if old is None:
        lines = [f"~ filter tag {key} in {', '.join(values)}" for key, values in new.tag_filters]
        if new.workspace_ids:
            lines.append(f"~ filter workspace_id in {', '.join(map(str, new.workspace_ids))}")
        return lines
    lines = []
    before, after = dict(old.tag_filters), dict(new.tag_filters)
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            was, now = (", ".join(v) if v else "(none)" for v in (before.get(key), after.get(key)))
            lines.append(f"~ filter tag {key}: {was} -> {now}")
    if set(old.workspace_ids) != set(new.workspace_ids):
        was, now = (", ".join(map(str, w)) or "(any)" for w in (old.workspace_ids, new.workspace_ids))
        lines.append(f"~ filter workspace_id: {was} -> {now}")
    return lines


def _alert_diff(old: ExistingBudget | None, new: BudgetShape) -> list[str]:
    lines = []
    for want, have in pair_alerts(new.alerts, old.alerts if old else ()):
        if want is None and have is not None:
            a = have.alert
            lines.append(
                f"- alert at {_usd(a.threshold_usd)} {BUDGET_CURRENCY}, email {_emails(a.recipients, 'no one')}"
            )
        elif want is not None and have is None:
            to = _emails(want.recipients)
            lines.append(f"+ alert at {want.threshold_usd} {BUDGET_CURRENCY} list price/month, email {to}")
        elif want is not None and have is not None and want != have.alert:
            a = have.alert
            at = f"{_usd(a.threshold_usd)} -> " if a.threshold_usd != want.threshold_usd else ""
            to = _emails(want.recipients)
            if a.recipients != want.recipients:
                to = f"{_emails(a.recipients, 'no one')} -> {to}"
            lines.append(f"~ alert at {at}{want.threshold_usd} {BUDGET_CURRENCY} list price/month, email {to}")
    return lines


def _preference(budget: ExistingBudget, wanted: BudgetShape | None) -> tuple[bool, bool, int, str]:
    """Which of the budgets of one name is managed, whatever order the account lists them in: the one whose
    filter matches the config, then the oldest, then the lowest id (the others are duplicates, left alone)."""
    mismatch = wanted is None or filter_differs(budget.shape, wanted)
    return mismatch, budget.create_time is None, budget.create_time or 0, budget.budget_id


def plan_budgets(
    config: Config, existing: Iterable[ExistingBudget], day: dt.date, recreate_on_filter_change: bool = False
) -> BudgetPlan:
    """What to change so the account holds the config's budgets in force on `day`.

    Nothing is deleted, except with `recreate_on_filter_change`: a managed budget whose filter differs is then
    replaced (a new budget is created, and only then the old one deleted); without it the difference is shown and
    left. Of several budgets of one name, one is managed (see `_preference`), the others are listed.

    An account that allows one alert per budget leaves each budget with its critical alert alone. When no budget
    in the account has several alerts and a managed one holds exactly its critical alert, the account is taken to
    be such an account: a budget holding its critical alert alone is then unchanged, so a second plan is empty.
    """
    existing = list(existing)
    wanted = desired_budgets(config, day)
    want = {shape.display_name: shape for shape in wanted}
    chosen, duplicates = _choose_managed(existing, want)
    several = any(len(b.shape.alerts) > 1 for b in existing)
    pairs = [(shape, chosen.get(shape.display_name)) for shape in wanted]
    one_alert = _holding_critical_alert_only(pairs, several)
    compared = _compare(pairs, one_alert, recreate_on_filter_change)
    left = sorted((b for name, b in chosen.items() if name not in want), key=_by_name)
    return BudgetPlan(
        steps=tuple(compared.steps),
        unchanged=tuple(compared.unchanged),
        unmanaged=tuple(sorted((b for b in [*left, *duplicates] if not _managed(b)), key=_by_name)),
        undeclared=tuple(b for b in left if _managed(b)),
        duplicates=tuple(b for b in duplicates if _managed(b)),
        filters_kept=tuple(compared.kept),
        unmanageable=tuple(compared.unmanageable),
        several_allowed=several,
        one_alert=one_alert,
    )


def _choose_managed(
    existing: Iterable[ExistingBudget], want: dict[str, BudgetShape]
) -> tuple[dict[str, ExistingBudget], list[ExistingBudget]]:
    """The managed budget of each name in the account (see `_preference`), and the other budgets of those names."""
    held: dict[str, list[ExistingBudget]] = {}
    for budget in existing:
        held.setdefault(budget.shape.display_name, []).append(budget)
    chosen: dict[str, ExistingBudget] = {}
    duplicates: list[ExistingBudget] = []
    for name, budgets in sorted(held.items()):
        first, *others = sorted(budgets, key=lambda b: _preference(b, want.get(name)))
        chosen[name] = first
        duplicates += others
    return chosen, duplicates


def _holding_critical_alert_only(
    pairs: Iterable[tuple[BudgetShape, ExistingBudget | None]], several: bool
) -> tuple[str, ...]:
    """The managed budgets holding exactly their critical alert of several, where no budget in the account has
    several alerts: they mark an account that allows one alert per budget (see `plan_budgets`)."""
    return tuple(
        shape.display_name
        for shape, have in pairs
        if not several
        and have is not None
        and not have.unmodelled
        and len(shape.alerts) > 1
        and set(have.shape.alerts) == set(critical_alert(shape))
    )


@dataclass
class _Comparison:
    """Where `_compare` sorts the wanted budgets."""

    steps: list[BudgetStep] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[BudgetStep] = field(default_factory=list)  # `filter` steps: shown, not applied
    unmanageable: list[ExistingBudget] = field(default_factory=list)


def _compare(
    pairs: Iterable[tuple[BudgetShape, ExistingBudget | None]], one_alert: tuple[str, ...], recreate: bool
) -> _Comparison:
    """Each wanted budget against the managed budget of its name (None: there is none): to create, replace or
    update, unchanged, or left alone; a filter that differs is replaced only if `recreate`, else shown."""
    compared = _Comparison()
    for shape, have in pairs:
        if have is None:
            diff = _filter_diff(None, shape) + _alert_diff(None, shape)
            compared.steps.append(BudgetStep("create", shape, None, tuple(diff)))
            continue
        if have.unmodelled:
            compared.unmanageable.append(have)
            continue
        same_alerts = set(have.shape.alerts) == set(shape.alerts) or shape.display_name in one_alert
        new_filter = filter_differs(have.shape, shape)
        if new_filter and recreate:
            diff = _filter_diff(have.shape, shape) + _alert_diff(have, shape)
            compared.steps.append(BudgetStep("replace", shape, have, tuple(diff)))
            continue
        if new_filter:
            compared.kept.append(BudgetStep("filter", shape, have, tuple(_filter_diff(have.shape, shape))))
        if not same_alerts:
            compared.steps.append(BudgetStep("update", shape, have, tuple(_alert_diff(have, shape))))
        elif not new_filter:
            compared.unchanged.append(shape.display_name)
    return compared


def _managed(budget: ExistingBudget) -> bool:
    return budget.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)


def _by_name(budget: ExistingBudget) -> tuple[str, str]:
    return budget.shape.display_name, budget.budget_id
