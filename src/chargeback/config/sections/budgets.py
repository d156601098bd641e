"""The `budgets` section: monthly budgets per business unit, their alert thresholds, and the account budgets
(Budgets API) they publish, within that API's limits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial

from yaml.nodes import Node

from chargeback.config.model import (
    MAX_BUDGET_ALERTS,
    MAX_BUDGET_NAME,
    Attribution,
    Budget,
    account_budget_name,
    in_force,
)
from chargeback.config.reader import Placed, line_of, show
from chargeback.config.values import ConfigReader, Units


def parse_budgets(r: ConfigReader, node: Node | None, units: Units, attribution: Attribution) -> tuple[Budget, ...]:
    placed = r.items(
        node,
        "budgets",
        ("business_unit", "amount", "warning_percent", "critical_percent", "valid_from"),
        ("valid_to", "workspace_id", "billing_origin_product", "alert_percents", "recipients", "account_budget"),
        partial(_parse_budget, r, units, attribution),
    )
    r.check_overlaps(
        placed, lambda b: (b.business_unit, b.workspace_id, b.billing_origin_product), "(unit, workspace, product)"
    )
    _check_budget_names(r, placed)
    return tuple(budget for budget, _, _ in placed)


def _parse_budget(
    r: ConfigReader, units: Units, attribution: Attribution, f: dict[str, Node], path: str, item: Node
) -> Budget | None:
    unit = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
    workspace = r.get(f, path, "workspace_id", r.workspace_id)
    product = r.get(f, path, "billing_origin_product", r.product)
    amount = r.get(f, path, "amount", r.amount)
    warning = r.get(f, path, "warning_percent", r.threshold)
    critical = r.get(f, path, "critical_percent", r.threshold)
    extra = r.get(f, path, "alert_percents", lambda n, p: _thresholds(r, n, p)) or ()
    recipients = r.get(f, path, "recipients", lambda n, p: r.list_of(n, p, r.text)) or ()
    account = r.get(f, path, "account_budget", r.boolean)
    valid_from, valid_to = _months(r, f, path)
    levels = _alert_levels(r, f, path, warning, critical, extra)
    publish = _publishes(r, f, path, item, account, product, attribution)
    if publish and unit is not None:
        _check_account_budget_name(r, f, path, unit, workspace)
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


def _months(r: ConfigReader, f: dict[str, Node], path: str) -> tuple[dt.date | None, dt.date | None]:
    """(valid_from, valid_to): month starts, valid_to exclusive and after valid_from (else dropped)."""
    valid_from = r.get(f, path, "valid_from", r.month_start)
    valid_to = r.get(f, path, "valid_to", r.month_start)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        r.problem(f["valid_to"], f"{path}.valid_to", f"valid_to {valid_to} must be after valid_from {valid_from}")
        valid_to = None
    return valid_from, valid_to


def _alert_levels(
    r: ConfigReader,
    f: dict[str, Node],
    path: str,
    warning: Decimal | None,
    critical: Decimal | None,
    extra: tuple[Decimal, ...],
) -> tuple[Decimal, ...]:
    """Warning, critical and the extra alert levels, ascending and distinct: no more than an account budget allows."""
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
    return levels


def _publishes(
    r: ConfigReader,
    f: dict[str, Node],
    path: str,
    item: Node,
    account: bool | None,
    product: str | None,
    attribution: Attribution,
) -> bool:
    """Whether the budget is also an account budget: as `account_budget` says, by default when it has no product."""
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
    return publish


def _check_account_budget_name(
    r: ConfigReader, f: dict[str, Node], path: str, unit: str, workspace: str | None
) -> None:
    name = account_budget_name(unit, workspace)
    if len(name) > MAX_BUDGET_NAME:
        # Reported at the field that makes it long: the workspace suffix when the unit's name alone fits.
        fits = len(account_budget_name(unit, None)) <= MAX_BUDGET_NAME
        at = "workspace_id" if workspace and fits else "business_unit"
        r.problem(
            f[at],
            f"{path}.{at}",
            f"account budget name {show(name, MAX_BUDGET_NAME + 20)} is {len(name)} characters; the Budgets API "
            f"allows at most {MAX_BUDGET_NAME} (use a shorter unit id, or account_budget: false)",
        )


def _check_budget_names(r: ConfigReader, placed: list[Placed[Budget]]) -> None:
    """Account budgets in force at the same time need distinct names: the plan finds them by name. Budgets of one
    (unit, workspace, product) are already checked for overlaps; this catches one workspace written two ways."""
    seen: dict[str, list[Placed[Budget]]] = {}
    for entry in sorted(placed, key=lambda e: e[0].valid_from):
        budget, node, path = entry
        if not budget.account_budget:
            continue
        name = account_budget_name(budget.business_unit, budget.workspace_id)
        for other, other_node, other_path in seen.get(name, []):
            # Sorted by valid_from, so the two overlap exactly when `budget` starts while `other` holds.
            if in_force(other, budget.valid_from) and other.workspace_id != budget.workspace_id:
                r.problem(
                    node,
                    path,
                    f"account budget name {show(name)} is also the name of {other_path} (line {line_of(other_node)}) "
                    "in an overlapping period; the account would hold two budgets of one name",
                )
                break
        seen.setdefault(name, []).append(entry)


def _thresholds(r: ConfigReader, node: Node, path: str) -> tuple[Decimal, ...] | None:
    nodes = r.sequence(node, path)
    if nodes is None:
        return None
    if not nodes:
        r.problem(node, path, "must not be empty (leave the field out instead)")
    values = [r.threshold(item, f"{path}[{index}]") for index, item in enumerate(nodes)]
    return tuple(value for value in values if value is not None)
