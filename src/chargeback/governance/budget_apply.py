"""Applying a budget plan: the bodies of the Budgets API's create and update, and the writes, with the fallback to
the critical alert alone on an account that allows one alert per budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chargeback.governance.account import EMAIL, call, enum_value, first_line
from chargeback.governance.budgets import pair_actions, pair_alerts
from chargeback.governance.plan import BudgetPlan, BudgetStep
from chargeback.governance.state import (
    BUDGET_CURRENCY,
    BudgetAlert,
    BudgetShape,
    ExistingAlert,
    ExistingBudget,
    critical_alert,
)

if TYPE_CHECKING:
    from databricks.sdk import AccountClient
    from databricks.sdk.service import billing


def budget_filter(shape: BudgetShape) -> billing.BudgetConfigurationFilter:
    from databricks.sdk.service import billing as b

    in_ = b.BudgetConfigurationFilterOperator.IN
    return b.BudgetConfigurationFilter(
        tags=[
            b.BudgetConfigurationFilterTagClause(
                key=key, value=b.BudgetConfigurationFilterClause(operator=in_, values=list(values))
            )
            for key, values in shape.tag_filters
        ],
        workspace_id=b.BudgetConfigurationFilterWorkspaceIdClause(operator=in_, values=list(shape.workspace_ids))
        if shape.workspace_ids
        else None,
    )


def _alert_kind(alert: BudgetAlert) -> dict[str, Any]:
    from databricks.sdk.service import billing as b

    time_period, trigger_type, quantity_type = alert.kind
    return {
        "time_period": b.AlertConfigurationTimePeriod(time_period),
        "trigger_type": b.AlertConfigurationTriggerType(trigger_type),
        "quantity_type": b.AlertConfigurationQuantityType(quantity_type),
    }


def create_request(shape: BudgetShape, alerts: tuple[BudgetAlert, ...]) -> billing.CreateBudgetConfigurationBudget:
    """The body of a create: the shape's name and filter, with `alerts`."""
    from databricks.sdk.service import billing as b

    email = b.ActionConfigurationType.EMAIL_NOTIFICATION
    return b.CreateBudgetConfigurationBudget(
        display_name=shape.display_name,
        filter=budget_filter(shape),
        alert_configurations=[
            b.CreateBudgetConfigurationBudgetAlertConfigurations(
                quantity_threshold=str(alert.threshold_usd),
                action_configurations=[
                    b.CreateBudgetConfigurationBudgetActionConfigurations(action_type=email, target=to)
                    for to in alert.recipients
                ],
                **_alert_kind(alert),
            )
            for alert in alerts
        ],
    )


def update_request(
    shape: BudgetShape, existing: ExistingBudget, alerts: tuple[BudgetAlert, ...]
) -> billing.UpdateBudgetConfigurationBudget:
    """The body of an update, which replaces the budget: its filter and settings as read (an update never changes
    a filter), and `alerts`, each sent as the existing alert it takes over (`pair_alerts`) with the new threshold
    and recipients, carrying that alert's ids and everything else it was read with. A missing id is left out."""
    from databricks.sdk.service import billing as b

    source = existing.source
    ours: dict[str, Any] = {
        "budget_configuration_id": existing.budget_id,
        "display_name": shape.display_name,
        "filter": source.filter if source is not None else budget_filter(existing.shape),
        "alert_configurations": [
            _updated_alert(want, have) for want, have in pair_alerts(alerts, existing.alerts) if want is not None
        ],
    }
    # Every other field an update takes (`resource_type`, `include_external_spend`, ...) goes back as read.
    fields = dataclasses.fields(b.UpdateBudgetConfigurationBudget)
    read = {f.name: getattr(source, f.name, None) for f in fields if f.name not in ours} if source is not None else {}
    return b.UpdateBudgetConfigurationBudget(**read, **ours)


def _updated_alert(want: BudgetAlert, have: ExistingAlert | None) -> billing.AlertConfiguration:
    from databricks.sdk.service import billing as b

    email = b.ActionConfigurationType.EMAIL_NOTIFICATION
    read = have.source if have is not None and have.source is not None else b.AlertConfiguration()
    others = [c for c in read.action_configurations or [] if enum_value(c.action_type) != EMAIL]
    emails = [
        b.ActionConfiguration(action_configuration_id=action_id, action_type=email, target=to)
        for to, action_id in pair_actions(want.recipients, have.action_ids if have else ())
    ]
    return dataclasses.replace(
        read,
        alert_configuration_id=have.alert_id if have else None,
        quantity_threshold=str(want.threshold_usd),
        action_configurations=[*others, *emails],
        **_alert_kind(want),
    )


@dataclass
class _AlertLimit:
    """What an apply knows of how many alerts the account allows on one budget."""

    several: bool  # a budget in the account has several alerts, or took several in this run
    one: bool = False  # it refused several and then took the critical alert alone


def apply_budget_plan(client: AccountClient, plan: BudgetPlan, say: Callable[[str], None]) -> int:
    """Carry out `plan`; the number of budgets changed.

    A write of several alerts refused with a 400, on an account that holds no budget with several alerts and has
    taken none in this run, is sent again with the critical alert alone; if that is accepted, the account allows
    one alert per budget, and every later write of this run sends the critical alert alone.
    """
    limit = _AlertLimit(several=plan.several_allowed)
    for step in plan.steps:
        _apply_budget_step(client, step, limit, say)
    return len(plan.steps)


def _apply_budget_step(client: AccountClient, step: BudgetStep, limit: _AlertLimit, say: Callable[[str], None]) -> None:
    shape, existing, name = step.shape, step.existing, step.shape.display_name
    alerts = critical_alert(shape) if limit.one else shape.alerts
    if step.action == "update" and existing is not None:

        def update(sent: tuple[BudgetAlert, ...]) -> Any:
            return client.budgets.update(existing.budget_id, update_request(shape, existing, sent))

        what = f"update budget {name} ({existing.budget_id})"
        _, sent = call(what, _write_with_fallback, update, shape, alerts, limit, say)
        say(f"updated budget {name} ({existing.budget_id}){_only(shape, sent)}")
        return
    # A create, or the first half of a replace: the old budget is deleted only once its replacement exists.
    replacing = f" to replace {existing.budget_id}" if existing is not None else ""
    what = f"create budget {name}{replacing}" + (" (which is kept)" if existing is not None else "")

    def create(sent: tuple[BudgetAlert, ...]) -> Any:
        return client.budgets.create(create_request(shape, sent))

    created, sent = call(what, _write_with_fallback, create, shape, alerts, limit, say)
    new_id = created.budget.budget_configuration_id
    say(f"created budget {name} ({new_id}){_only(shape, sent)}{replacing}")
    if existing is not None:
        what = (
            f"delete {existing.budget_id}, the budget {name} replaced by {new_id} (delete it by hand: until then "
            "plans list it as a duplicate)"
        )
        call(what, client.budgets.delete, existing.budget_id)
        say(f"deleted budget {name} ({existing.budget_id}), replaced by {new_id}")


def _write_with_fallback(
    write: Callable[[tuple[BudgetAlert, ...]], Any],
    shape: BudgetShape,
    alerts: tuple[BudgetAlert, ...],
    limit: _AlertLimit,
    say: Callable[[str], None],
) -> tuple[Any, tuple[BudgetAlert, ...]]:
    """`write(alerts)`, or the same write with the critical alert alone if the account refuses several alerts and
    may allow one only (see `apply_budget_plan`); the response and the alerts sent. The decision rests on what the
    account holds and takes, never on the refusal's text; a refusal the retry shares is the first one, raised."""
    from databricks.sdk.errors import BadRequest, DatabricksError

    try:
        response = write(alerts)
    except BadRequest as refused:
        if len(alerts) < 2 or limit.several:
            raise
        single = critical_alert(shape)
        try:
            response = write(single)
        except DatabricksError:
            raise refused from None
        limit.one = True
        say(
            f"note: the account refused several alerts on {shape.display_name} ({first_line(refused)}) and accepted "
            "its critical alert alone: it allows one alert per budget, so each budget gets its critical alert only"
        )
        return response, single
    limit.several = limit.several or len(alerts) > 1
    return response, alerts


def _only(shape: BudgetShape, sent: tuple[BudgetAlert, ...]) -> str:
    if len(sent) < len(shape.alerts):
        return f" with its critical alert only, at {sent[0].threshold_usd} {BUDGET_CURRENCY}"
    return ""
