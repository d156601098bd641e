"""Governance as code: the config's serverless budget policies and account budgets, kept in sync like Terraform.

`chargeback policies plan|apply` and `chargeback budgets plan|apply` read the account through databricks-sdk's
`AccountClient`, compute a plan from the config and what exists (pure functions, no I/O), print it, and on
`apply` carry it out. Applying twice changes nothing the second time. Nothing is ever deleted: a policy the
config does not name, or a budget not named `chargeback/...`, is listed as unmanaged and left alone.

Account REST API paths used, all through the SDK (`databricks.sdk.AccountClient`):
- budget policies, `a.budget_policy`: GET and POST `/api/2.1/accounts/{account_id}/budget-policies`,
  PATCH `/api/2.1/accounts/{account_id}/budget-policies/{policy_id}`;
- policy permissions, `a.access_control`: GET and PUT `/api/2.0/preview/accounts/{account_id}/access-control/rule-sets`
  on rule set `accounts/{account_id}/budgetPolicies/{policy_id}/ruleSets/default`, roles
  `roles/budgetPolicy.user` and `roles/budgetPolicy.manager`; PUT replaces the rule set, guarded by its etag;
- budgets, `a.budgets`: GET and POST `/api/2.1/accounts/{account_id}/budgets`,
  PUT `/api/2.1/accounts/{account_id}/budgets/{budget_id}` (replaces the budget).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargeback.config import RESERVED_POLICY_TAG_KEYS, Budget, Config, ServerlessPolicy, load_config
from chargeback.errors import ChargebackError

if TYPE_CHECKING:
    from databricks.sdk import AccountClient

ROLES = {"user": "roles/budgetPolicy.user", "manager": "roles/budgetPolicy.manager"}
PRINCIPAL_PREFIXES = {"user": "users/", "group": "groups/", "service_principal": "servicePrincipals/"}
MANAGED_BUDGET_PREFIX = "chargeback/"
BUDGET_CURRENCY = "USD"  # the Budgets API measures list price in US dollars only
_CENT = Decimal("0.01")
# The one kind of alert the Budgets API offers today: cumulative list-price spend in the calendar month.
_ALERT_KIND = ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD")
_EMAIL = "EMAIL_NOTIFICATION"

Tags = tuple[tuple[str, str], ...]
Grant = tuple[str, str]  # (role name as the API spells it, principal as the API spells it)


class GovernanceError(ChargebackError):
    """The account cannot be read or changed (missing auth, refused call, unsupported setting)."""


# --- policies: desired and existing state, plan -------------------------------------------------------------


def principal(kind: str, name: str) -> str:
    """The rule-set form of a principal: `users/<name>`, `groups/<name>` or `servicePrincipals/<app id>`."""
    return PRINCIPAL_PREFIXES[kind] + name


def rule_set_name(account_id: str, policy_id: str) -> str:
    return f"accounts/{account_id}/budgetPolicies/{policy_id}/ruleSets/default"


def desired_grants(policy: ServerlessPolicy) -> frozenset[Grant]:
    return frozenset((ROLES[g.role], principal(g.principal_kind, g.principal)) for g in policy.grants)


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
class PolicyStep:
    """One change: `create` (tags and permissions), `update_tags` or `update_permissions`."""

    action: str
    name: str
    policy: ServerlessPolicy
    existing: ExistingPolicy | None
    diff: tuple[str, ...]


@dataclass(frozen=True)
class PolicyPlan:
    steps: tuple[PolicyStep, ...]
    unchanged: tuple[str, ...]
    unmanaged: tuple[ExistingPolicy, ...]
    warnings: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        return not self.steps


def _tag_diff(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = [f"+ tag {k} = {v}" for k, v in new.items() if k not in old]
    lines += [f"~ tag {k} = {old[k]} -> {v}" for k, v in new.items() if k in old and old[k] != v]
    return lines + [f"- tag {k} = {v}" for k, v in old.items() if k not in new]


def _grant_diff(old: frozenset[Grant], new: frozenset[Grant]) -> list[str]:
    return [f"+ grant {role} to {who}" for role, who in sorted(new - old)] + [
        f"- revoke {role} from {who}" for role, who in sorted(old - new)
    ]


def plan_policies(config: Config, existing: Iterable[ExistingPolicy], day: dt.date) -> PolicyPlan:
    """What to change so the account holds the config's policies; unmanaged policies are only listed."""
    by_name = {p.name: p for p in existing}
    declared = {p.name for p in config.serverless_policies}
    steps: list[PolicyStep] = []
    unchanged: list[str] = []
    warnings: list[str] = []
    for policy in config.serverless_policies:
        want_tags, want_grants = dict(policy.tags), desired_grants(policy)
        have = by_name.get(policy.name)
        if have is None:
            diff = _tag_diff({}, want_tags) + _grant_diff(frozenset(), want_grants)
            steps.append(PolicyStep("create", policy.name, policy, None, tuple(diff)))
            continue
        tag_diff = _tag_diff(dict(have.tags), want_tags)
        grant_diff = _grant_diff(have.grants, want_grants)
        if tag_diff:
            steps.append(PolicyStep("update_tags", policy.name, policy, have, tuple(tag_diff)))
        if grant_diff:
            steps.append(PolicyStep("update_permissions", policy.name, policy, have, tuple(grant_diff)))
        if not tag_diff and not grant_diff:
            unchanged.append(policy.name)
        warnings += [
            f"attribution.budget_policies maps policy {policy.name} ({have.policy_id}) to {rule.business_unit}, but "
            f"its tag attributes its usage to {policy.business_unit} (tags take precedence)"
            for rule in config.attribution.budget_policies
            if rule.policy_id == have.policy_id
            and rule.business_unit != policy.business_unit
            and rule.valid_from <= day
            and (rule.valid_to is None or day < rule.valid_to)
        ]
    unmanaged = tuple(sorted((p for p in by_name.values() if p.name not in declared), key=lambda p: p.name))
    return PolicyPlan(tuple(steps), tuple(unchanged), unmanaged, tuple(warnings))


_ACTION_TITLES = {
    "create": "+ create",
    "update_tags": "~ update tags",
    "update_permissions": "~ update permissions",
    "update": "~ update",
}


def render_policy_plan(plan: PolicyPlan) -> list[str]:
    lines = ["Serverless budget policies:"]
    for step in plan.steps:
        where = f" ({step.existing.policy_id})" if step.existing else ""
        lines.append(f"  {_ACTION_TITLES[step.action]} {step.name}{where}")
        lines += [f"      {line}" for line in step.diff]
    lines += [f"  = unchanged {name}" for name in plan.unchanged]
    lines += [f"  ! unmanaged {p.name} ({p.policy_id}): left alone" for p in plan.unmanaged]
    lines += [f"  warning: {w}" for w in plan.warnings]
    return [*lines, _summary([s.action for s in plan.steps], len(plan.unchanged), f"{len(plan.unmanaged)} unmanaged")]


def _summary(actions: list[str], unchanged: int, left_alone: str) -> str:
    """The closing line of a plan, Terraform style."""
    if not actions:
        return f"No changes: the account matches the config ({left_alone} left alone)."
    creates = actions.count("create")
    return (
        f"Plan: {creates} to create, {len(actions) - creates} to update, {unchanged} unchanged, "
        f"{left_alone} left alone; nothing is deleted."
    )


# --- budgets: desired and existing state, plan --------------------------------------------------------------


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


@dataclass(frozen=True)
class ExistingBudget:
    budget_id: str
    shape: BudgetShape


@dataclass(frozen=True)
class BudgetStep:
    action: str  # create or update
    shape: BudgetShape
    existing: ExistingBudget | None
    diff: tuple[str, ...]


@dataclass(frozen=True)
class BudgetPlan:
    steps: tuple[BudgetStep, ...]
    unchanged: tuple[str, ...]
    unmanaged: tuple[ExistingBudget, ...]
    undeclared: tuple[ExistingBudget, ...] = ()  # named chargeback/... but not in force in the config

    @property
    def is_noop(self) -> bool:
        return not self.steps


def budget_display_name(budget: Budget) -> str:
    name = MANAGED_BUDGET_PREFIX + budget.business_unit
    return f"{name}/workspace/{budget.workspace_id}" if budget.workspace_id else name


def in_force(budget: Budget, day: dt.date) -> bool:
    return budget.valid_from <= day and (budget.valid_to is None or day < budget.valid_to)


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
        if pair and rate.valid_from <= day and (rate.valid_to is None or day < rate.valid_to):
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
        shapes.append(
            BudgetShape(
                display_name=budget_display_name(budget),
                # Budget tag filters match values exactly: the unit's id (what managed policies write) and name.
                tag_filters=((tag_key, tuple(sorted({unit.id, unit.name}))),),
                workspace_ids=(int(budget.workspace_id),) if budget.workspace_id else (),
                alerts=tuple(
                    BudgetAlert((amount * level / 100).quantize(_CENT, ROUND_HALF_UP), tuple(sorted(budget.recipients)))
                    for level in budget.alert_percents
                ),
            )
        )
    return tuple(shapes)


def _budget_diff(old: BudgetShape | None, new: BudgetShape) -> list[str]:
    lines = []
    if old is None or old.tag_filters != new.tag_filters:
        lines += [f"~ filter tag {key} in {', '.join(values)}" for key, values in new.tag_filters]
    if (old is None and new.workspace_ids) or (old is not None and old.workspace_ids != new.workspace_ids):
        lines.append(f"~ filter workspace_id in {', '.join(map(str, new.workspace_ids)) or '(any)'}")
    old_alerts = set(old.alerts) if old else set()
    for alert in new.alerts:
        if alert not in old_alerts:
            to = ", ".join(alert.recipients) or "no one (shown in the account console)"
            lines.append(f"+ alert at {alert.threshold_usd} {BUDGET_CURRENCY} list price/month, email {to}")
    lines += [
        f"- alert at {a.threshold_usd} {BUDGET_CURRENCY}, email {', '.join(a.recipients) or 'no one'}"
        for a in (old.alerts if old else ())
        if a not in set(new.alerts)
    ]
    return lines


def plan_budgets(config: Config, existing: Iterable[ExistingBudget], day: dt.date) -> BudgetPlan:
    """What to change so the account holds the config's budgets in force on `day`; nothing is deleted."""
    by_name = {b.shape.display_name: b for b in existing}
    wanted = desired_budgets(config, day)
    steps, unchanged = [], []
    for shape in wanted:
        have = by_name.get(shape.display_name)
        if have is None:
            steps.append(BudgetStep("create", shape, None, tuple(_budget_diff(None, shape))))
        elif _same_budget(have.shape, shape):
            unchanged.append(shape.display_name)
        else:
            steps.append(BudgetStep("update", shape, have, tuple(_budget_diff(have.shape, shape))))
    names = {s.display_name for s in wanted}
    others = sorted(
        (b for b in by_name.values() if b.shape.display_name not in names), key=lambda b: b.shape.display_name
    )
    return BudgetPlan(
        tuple(steps),
        tuple(unchanged),
        tuple(b for b in others if not b.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)),
        tuple(b for b in others if b.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)),
    )


def _same_budget(a: BudgetShape, b: BudgetShape) -> bool:
    """Alerts compare as sets: the API may return them in any order."""
    return (a.display_name, a.tag_filters, a.workspace_ids, set(a.alerts)) == (
        b.display_name,
        b.tag_filters,
        b.workspace_ids,
        set(b.alerts),
    )


def render_budget_plan(plan: BudgetPlan) -> list[str]:
    lines = ["Account budgets:"]
    for step in plan.steps:
        where = f" ({step.existing.budget_id})" if step.existing else ""
        lines.append(f"  {_ACTION_TITLES[step.action]} {step.shape.display_name}{where}")
        lines += [f"      {line}" for line in step.diff]
    lines += [f"  = unchanged {name}" for name in plan.unchanged]
    lines += [
        f"  ! not in force in the config {b.shape.display_name} ({b.budget_id}): left alone, delete it by hand"
        for b in plan.undeclared
    ]
    lines += [f"  ! unmanaged {b.shape.display_name} ({b.budget_id}): left alone" for b in plan.unmanaged]
    left = len(plan.unmanaged) + len(plan.undeclared)
    return [*lines, _summary([s.action for s in plan.steps], len(plan.unchanged), str(left))]


# --- the account (I/O through databricks-sdk) ----------------------------------------------------------------


def connect(profile: str | None) -> AccountClient:
    """An `AccountClient` from the SDK's standard auth (environment, config profile, OAuth); one-line errors."""
    try:
        from databricks.sdk import AccountClient
    except ImportError:
        raise GovernanceError(
            "governance commands need databricks-sdk: pip install 'databricks-chargeback[governance]'"
        ) from None
    hint = (
        "account-level auth needs DATABRICKS_HOST (e.g. https://accounts.cloud.databricks.com), "
        "DATABRICKS_ACCOUNT_ID and credentials (OAuth: `databricks auth login --host <accounts host> "
        "--account-id <id>`, or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or --profile with an account profile"
    )
    try:
        client = AccountClient(profile=profile)
    except ValueError as exc:
        raise GovernanceError(f"cannot authenticate to the Databricks account ({_first_line(exc)}); {hint}") from None
    if not client.config.account_id:
        raise GovernanceError(f"no Databricks account id is configured; {hint}")
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first.split(". Config:")[0].split(" Config:")[0]


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; an API refusal becomes a one-line `GovernanceError` naming the call."""
    from databricks.sdk.errors import DatabricksError, PermissionDenied, Unauthenticated

    try:
        return fn(*args, **kwargs)
    except (PermissionDenied, Unauthenticated) as exc:
        raise GovernanceError(
            f"the account refused to {what}: {_first_line(exc)} (run as an account admin or billing admin, "
            "with account-level auth)"
        ) from None
    except DatabricksError as exc:
        raise GovernanceError(f"cannot {what}: {_first_line(exc)}") from None


def read_policies(client: AccountClient, managed: Iterable[str]) -> list[ExistingPolicy]:
    """Every policy in the account; the permissions only of those named in `managed`."""
    managed = set(managed)
    policies = []
    for p in _call("list budget policies", lambda: list(client.budget_policy.list())):
        tags = tuple(
            (t.key, t.value or "")
            for t in p.custom_tags or []
            if t.key.strip().lower() not in RESERVED_POLICY_TAG_KEYS  # the platform's own, never ours to set
        )
        existing = ExistingPolicy(p.policy_id or "", p.policy_name or "", tags, tuple(p.binding_workspace_ids or ()))
        if existing.name in managed:
            existing = _with_rule_set(client, existing)
        policies.append(existing)
    return policies


def _with_rule_set(client: AccountClient, policy: ExistingPolicy) -> ExistingPolicy:
    name = rule_set_name(client.config.account_id, policy.policy_id)
    rule_set = _call(f"read the permissions of policy {policy.name}", client.access_control.get_rule_set, name, "")
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


def apply_policy_plan(client: AccountClient, plan: PolicyPlan, say: Callable[[str], None]) -> None:
    from databricks.sdk.service.billing import BudgetPolicy
    from databricks.sdk.service.compute import CustomPolicyTag

    def body(policy: ServerlessPolicy, existing: ExistingPolicy | None) -> BudgetPolicy:
        return BudgetPolicy(
            policy_id=existing.policy_id if existing else None,
            policy_name=policy.name,
            custom_tags=[CustomPolicyTag(key=k, value=v) for k, v in policy.tags],
            # Workspace bindings are not in the config: an update keeps what the account has.
            binding_workspace_ids=list(existing.binding_workspace_ids) if existing else None,
        )

    for step in plan.steps:
        if step.action == "create":
            created = _call(f"create policy {step.name}", client.budget_policy.create, policy=body(step.policy, None))
            fresh = ExistingPolicy(created.policy_id, step.name, ())
            _set_grants(client, _with_rule_set(client, fresh), desired_grants(step.policy))
            say(f"created policy {step.name} ({created.policy_id})")
        elif step.action == "update_tags" and step.existing:
            update = client.budget_policy.update
            _call(f"update policy {step.name}", update, step.existing.policy_id, body(step.policy, step.existing))
            say(f"updated the tags of policy {step.name} ({step.existing.policy_id})")
        elif step.action == "update_permissions" and step.existing:
            _set_grants(client, step.existing, desired_grants(step.policy))
            say(f"updated the permissions of policy {step.name} ({step.existing.policy_id})")


def _set_grants(client: AccountClient, policy: ExistingPolicy, grants: frozenset[Grant]) -> None:
    """Replace the policy's two managed roles by `grants`; rules of other roles are kept as read."""
    from databricks.sdk.service.iam import GrantRule, RuleSetUpdateRequest

    name = rule_set_name(client.config.account_id, policy.policy_id)
    rules = [GrantRule(role=role, principals=list(who)) for role, who in policy.other_rules]
    for role in ROLES.values():
        principals = sorted(who for r, who in grants if r == role)
        if principals:
            rules.append(GrantRule(role=role, principals=principals))
    request = RuleSetUpdateRequest(name=name, etag=policy.etag, grant_rules=rules)
    _call(f"set the permissions of policy {policy.name}", client.access_control.update_rule_set, name, request)


def read_budgets(client: AccountClient) -> list[ExistingBudget]:
    return [
        ExistingBudget(b.budget_configuration_id or "", _shape(b))
        for b in _call("list budgets", lambda: list(client.budgets.list()))
    ]


def _shape(budget: Any) -> BudgetShape:
    """The comparable shape of an SDK `BudgetConfiguration`."""
    filt = budget.filter
    tags = tuple(
        (t.key or "", tuple(sorted(t.value.values or ())) if t.value else ()) for t in (filt.tags if filt else []) or []
    )
    workspaces = filt.workspace_id.values if filt and filt.workspace_id else None
    alerts = []
    for a in budget.alert_configurations or []:
        kind = (_enum(a.time_period), _enum(a.trigger_type), _enum(a.quantity_type))
        emails = sorted(c.target or "" for c in a.action_configurations or [] if _enum(c.action_type) == _EMAIL)
        alerts.append(BudgetAlert(Decimal(a.quantity_threshold or "0"), tuple(emails), kind))
    return BudgetShape(budget.display_name or "", tags, tuple(sorted(workspaces or ())), tuple(alerts))


def _enum(value: Any) -> str:
    return str(value.value) if value is not None else ""


def apply_budget_plan(client: AccountClient, plan: BudgetPlan, say: Callable[[str], None]) -> None:
    from databricks.sdk.service import billing as b

    for step in plan.steps:
        shape = step.shape
        filt = b.BudgetConfigurationFilter(
            tags=[
                b.BudgetConfigurationFilterTagClause(
                    key=key,
                    value=b.BudgetConfigurationFilterClause(
                        operator=b.BudgetConfigurationFilterOperator.IN, values=list(values)
                    ),
                )
                for key, values in shape.tag_filters
            ],
            workspace_id=b.BudgetConfigurationFilterWorkspaceIdClause(
                operator=b.BudgetConfigurationFilterOperator.IN, values=list(shape.workspace_ids)
            )
            if shape.workspace_ids
            else None,
        )
        kind = {
            "time_period": b.AlertConfigurationTimePeriod.MONTH,
            "trigger_type": b.AlertConfigurationTriggerType.CUMULATIVE_SPENDING_EXCEEDED,
            "quantity_type": b.AlertConfigurationQuantityType.LIST_PRICE_DOLLARS_USD,
        }
        email = b.ActionConfigurationType.EMAIL_NOTIFICATION
        if step.existing is None:
            budget = b.CreateBudgetConfigurationBudget(
                display_name=shape.display_name,
                filter=filt,
                alert_configurations=[
                    b.CreateBudgetConfigurationBudgetAlertConfigurations(
                        quantity_threshold=str(alert.threshold_usd),
                        action_configurations=[
                            b.CreateBudgetConfigurationBudgetActionConfigurations(action_type=email, target=to)
                            for to in alert.recipients
                        ],
                        **kind,  # type: ignore[arg-type]
                    )
                    for alert in shape.alerts
                ],
            )
            created = _call(f"create budget {shape.display_name}", client.budgets.create, budget)
            say(f"created budget {shape.display_name} ({created.budget.budget_configuration_id})")
        else:
            update = b.UpdateBudgetConfigurationBudget(
                budget_configuration_id=step.existing.budget_id,
                display_name=shape.display_name,
                filter=filt,
                alert_configurations=[
                    b.AlertConfiguration(
                        quantity_threshold=str(alert.threshold_usd),
                        action_configurations=[
                            b.ActionConfiguration(action_type=email, target=to) for to in alert.recipients
                        ],
                        **kind,  # type: ignore[arg-type]
                    )
                    for alert in shape.alerts
                ],
            )
            _call(f"update budget {shape.display_name}", client.budgets.update, step.existing.budget_id, update)
            say(f"updated budget {shape.display_name} ({step.existing.budget_id})")


# --- entry point ---------------------------------------------------------------------------------------------


def run(
    resource: str,
    action: str,
    config_path: Path,
    profile: str | None,
    day: dt.date,
    say: Callable[[str], None] = print,
) -> int:
    """`chargeback policies|budgets plan|apply`: print the plan; on apply, carry it out."""
    config = load_config(config_path)
    client = connect(profile)
    if resource == "policies":
        policy_plan = plan_policies(config, read_policies(client, (p.name for p in config.serverless_policies)), day)
        for line in render_policy_plan(policy_plan):
            say(line)
        if action == "apply" and not policy_plan.is_noop:
            apply_policy_plan(client, policy_plan, say)
            say(f"Apply complete: {len(policy_plan.steps)} change(s).")
    else:
        budget_plan = plan_budgets(config, read_budgets(client), day)
        for line in render_budget_plan(budget_plan):
            say(line)
        if action == "apply" and not budget_plan.is_noop:
            apply_budget_plan(client, budget_plan, say)
            say(f"Apply complete: {len(budget_plan.steps)} change(s).")
    return 0
