"""The account, through databricks-sdk's `AccountClient`: the client, SDK calls whose refusals become one-line
errors, and what the account holds, read into the values of `state`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chargeback.config import RESERVED_POLICY_TAG_KEYS
from chargeback.governance.state import (
    ROLES,
    BudgetAlert,
    BudgetShape,
    ExistingAlert,
    ExistingBudget,
    ExistingPolicy,
    GovernanceError,
    Grant,
)

if TYPE_CHECKING:
    from databricks.sdk import AccountClient

# Enum values as the Budgets API spells them.
EMAIL = "EMAIL_NOTIFICATION"
_SHARED_SCOPE = "ALERT_CONFIGURATION_SCOPE_TYPE_SHARED"
_ALL_RESOURCES = "BUDGET_RESOURCE_TYPE_ALL_RESOURCES"


def connect(profile: str | None) -> AccountClient:
    """An `AccountClient` from the SDK's standard auth (environment, config profile, OAuth); one-line errors."""
    try:
        from databricks.sdk import AccountClient
    except ImportError:
        raise GovernanceError(
            "governance commands need databricks-sdk: pip install 'databricks-chargeback[governance]'"
        ) from None
    hint = (
        "account-level auth needs DATABRICKS_HOST (the accounts host: https://accounts.cloud.databricks.com on AWS, "
        "https://accounts.azuredatabricks.net on Azure, https://accounts.gcp.databricks.com on GCP), "
        "DATABRICKS_ACCOUNT_ID and credentials (OAuth: `databricks auth login --host <accounts host> "
        "--account-id <id>`, or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or --profile with an account profile"
    )
    try:
        client = AccountClient(profile=profile)
    except ValueError as exc:
        raise GovernanceError(f"cannot authenticate to the Databricks account ({first_line(exc)}); {hint}") from None
    if not client.config.account_id:
        raise GovernanceError(f"no Databricks account id is configured; {hint}")
    return client


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first.split(". Config:")[0].split(" Config:")[0]


def call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; an API refusal becomes a one-line `GovernanceError` naming the call."""
    from databricks.sdk.errors import DatabricksError, PermissionDenied, Unauthenticated

    try:
        return fn(*args, **kwargs)
    except (PermissionDenied, Unauthenticated) as exc:
        raise GovernanceError(
            f"the account refused to {what}: {first_line(exc)} (run as an account admin, with account-level auth)"
        ) from None
    except DatabricksError as exc:
        raise GovernanceError(f"cannot {what}: {first_line(exc)}") from None


def rule_set_name(account_id: str, policy_id: str) -> str:
    return f"accounts/{account_id}/budgetPolicies/{policy_id}/ruleSets/default"


def read_policies(client: AccountClient, managed: Iterable[str]) -> list[ExistingPolicy]:
    """Every policy in the account; the permissions only of those named in `managed`."""
    managed = set(managed)
    policies = []
    for p in call("list budget policies", lambda: list(client.budget_policy.list())):
        tags = tuple(
            (t.key, t.value or "")
            for t in p.custom_tags or []
            if t.key.strip().lower() not in RESERVED_POLICY_TAG_KEYS  # the platform's own, never ours to set
        )
        existing = ExistingPolicy(p.policy_id or "", p.policy_name or "", tags, tuple(p.binding_workspace_ids or ()))
        if existing.name in managed:
            existing = with_rule_set(client, existing)
        policies.append(existing)
    return policies


def with_rule_set(client: AccountClient, policy: ExistingPolicy) -> ExistingPolicy:
    """`policy` with its permissions as read: the managed roles' grants, other roles' rules, and the rule set's
    etag, which guards the write that replaces them."""
    name = rule_set_name(client.config.account_id, policy.policy_id)
    rule_set = call(f"read the permissions of policy {policy.name}", client.access_control.get_rule_set, name, "")
    ours: set[Grant] = set()
    others: list[tuple[str, tuple[str, ...]]] = []
    for rule in rule_set.grant_rules or []:
        if rule.role in ROLES.values():
            ours.update((rule.role, who) for who in rule.principals or [])
        else:
            others.append((rule.role, tuple(rule.principals or ())))
    return ExistingPolicy(
        policy.policy_id,
        policy.name,
        policy.tags,
        policy.binding_workspace_ids,
        frozenset(ours),
        tuple(others),
        rule_set.etag,
    )


def read_budgets(client: AccountClient) -> list[ExistingBudget]:
    return [_existing_budget(b) for b in call("list budgets", lambda: list(client.budgets.list()))]


def _existing_budget(budget: Any) -> ExistingBudget:
    """The comparable shape of an SDK `BudgetConfiguration`, with the ids of its alerts and email actions, and
    what it has that this tool does not model (an update replaces the whole budget, so it could not keep them)."""
    filt = budget.filter
    tags = tuple(
        (t.key or "", tuple(sorted(t.value.values or ())) if t.value else ()) for t in (filt.tags if filt else []) or []
    )
    workspaces = filt.workspace_id.values if filt and filt.workspace_id else None
    # Read with getattr: databricks-sdk releases before these fields (the extra supports >= 0.100) lack them.
    unmodelled = []
    resource_type = enum_value(getattr(budget, "resource_type", None))
    if resource_type not in ("", _ALL_RESOURCES):
        unmodelled.append(f"resource_type {resource_type}")
    if getattr(budget, "include_external_spend", None):
        unmodelled.append("include_external_spend")
    alerts = []
    for a in budget.alert_configurations or []:
        kind = (enum_value(a.time_period), enum_value(a.trigger_type), enum_value(a.quantity_type))
        actions = sorted(
            (
                (c.target or "", c.action_configuration_id or None)
                for c in a.action_configurations or []
                if enum_value(c.action_type) == EMAIL
            ),
            key=lambda action: action[0],
        )
        unmodelled += [
            f"a {enum_value(c.action_type) or 'typeless'} action"
            for c in a.action_configurations or []
            if enum_value(c.action_type) != EMAIL
        ]
        if enum_value(getattr(a, "scope_type", None)) not in ("", _SHARED_SCOPE):
            unmodelled.append("a per-user alert")
        if getattr(a, "principal_overrides", None):
            unmodelled.append("principal overrides")
        alert = BudgetAlert(Decimal(a.quantity_threshold or "0"), tuple(to for to, _ in actions), kind)
        alerts.append(ExistingAlert(alert, a.alert_configuration_id or None, tuple(actions), a))
    shape = BudgetShape(
        budget.display_name or "", tags, tuple(sorted(workspaces or ())), tuple(a.alert for a in alerts)
    )
    return ExistingBudget(
        budget.budget_configuration_id or "",
        shape,
        tuple(alerts),
        budget.create_time,
        tuple(dict.fromkeys(unmodelled)),
        budget,
    )


def enum_value(value: Any) -> str:
    return str(value.value) if value is not None else ""
