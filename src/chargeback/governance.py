"""Governance as code: the config's serverless budget policies and account budgets, kept in sync like Terraform.

`chargeback policies plan|apply` and `chargeback budgets plan|apply` read the account through databricks-sdk's
`AccountClient`, compute a plan from the config and what exists (pure functions, no I/O), print it, and on
`apply` carry it out. Applying twice changes nothing the second time. A policy the config does not name, or a
budget not named `chargeback/...`, is listed as unmanaged and left alone. The one deletion: a managed budget whose
filter must change is deleted and created again, because the Budgets API cannot edit a budget's filter.

How the Budgets API behaves, and where that is documented:
- an update replaces the budget and carries the `alert_configuration_id` of each alert it keeps or changes and the
  `action_configuration_id` of each action (the Go SDK's budgets integration test, `TestMwsAccBudgets`; the
  Terraform provider's `databricks_budget`, where both ids are computed and sent back with every update);
- a budget has up to four alerts per time period, each with a unique `quantity_threshold` (databricks-sdk-py
  `BudgetConfiguration.alert_configurations`); older documentation, still in databricks-sdk-go, says "Budgets must
  have exactly one alert configuration", and accounts that still enforce it refuse several: `apply` then falls
  back to each budget's lowest alert;
- a budget's filter (workspaces, tags) cannot be edited after creation (issue 14, item 9): a filter change is a
  recreate, never an update;
- thresholds come back as BigDecimal text such as "840.840000000000000000" (Terraform provider tests): they are
  compared as numbers.

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
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargeback.config import (
    MANAGED_BUDGET_PREFIX,
    RESERVED_POLICY_TAG_KEYS,
    Budget,
    Config,
    ServerlessPolicy,
    account_budget_name,
    load_config,
)
from chargeback.errors import ChargebackError

if TYPE_CHECKING:
    from databricks.sdk import AccountClient

ROLES = {"user": "roles/budgetPolicy.user", "manager": "roles/budgetPolicy.manager"}
PRINCIPAL_PREFIXES = {"user": "users/", "group": "groups/", "service_principal": "servicePrincipals/"}
BUDGET_CURRENCY = "USD"  # the Budgets API measures list price in US dollars only
_CENT = Decimal("0.01")
# The one kind of alert the Budgets API offers today: cumulative list-price spend in the calendar month.
_ALERT_KIND = ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD")
_EMAIL = "EMAIL_NOTIFICATION"
# An account that still allows one alert per budget refuses several with a message such as the older
# documentation's "Budgets must have exactly one alert configuration".
_ONE_ALERT = re.compile(r"\b(one|1|single)\s+(\w+\s+)?alert", re.IGNORECASE)
ONE_ALERT_NOTE = (
    "an account that still allows one alert per budget refuses several: apply then gives each budget its lowest "
    "alert only"
)

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
    "recreate": "-/+ recreate",
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
    creates, recreates = actions.count("create"), actions.count("recreate")
    counts = f"{creates} to create, {len(actions) - creates - recreates} to update, "
    if recreates:
        counts += f"{recreates} to recreate, "
    deleted = f"{recreates} deleted and created again (a budget's filter cannot be edited)" if recreates else ""
    return f"Plan: {counts}{unchanged} unchanged, {left_alone} left alone; {deleted or 'nothing is deleted'}."


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

    @property
    def filters(self) -> tuple[frozenset[tuple[str, tuple[str, ...]]], tuple[int, ...]]:
        """The filter, compared as the API does: tag clauses in any order."""
        return frozenset(self.tag_filters), self.workspace_ids


@dataclass(frozen=True)
class ExistingAlert:
    """An alert as the account has it, with the ids an update must send back."""

    alert: BudgetAlert
    alert_id: str
    action_ids: tuple[tuple[str, str], ...] = ()  # (email, action_configuration_id) of its email actions


@dataclass(frozen=True)
class ExistingBudget:
    budget_id: str
    shape: BudgetShape
    alerts: tuple[ExistingAlert, ...] = ()


@dataclass(frozen=True)
class BudgetStep:
    action: str  # create, update or recreate (delete, then create: a budget's filter cannot be edited)
    shape: BudgetShape
    existing: ExistingBudget | None
    diff: tuple[str, ...]


@dataclass(frozen=True)
class BudgetPlan:
    steps: tuple[BudgetStep, ...]
    unchanged: tuple[str, ...]
    unmanaged: tuple[ExistingBudget, ...]
    undeclared: tuple[ExistingBudget, ...] = ()  # named chargeback/... but not in force in the config
    duplicates: tuple[ExistingBudget, ...] = ()  # a second budget of a managed name: left alone

    @property
    def is_noop(self) -> bool:
        return not self.steps


def budget_display_name(budget: Budget) -> str:
    return account_budget_name(budget.business_unit, budget.workspace_id)


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
        # Each alert needs a unique threshold: levels that round to the same cent are one alert.
        thresholds = sorted({(amount * level / 100).quantize(_CENT, ROUND_HALF_UP) for level in budget.alert_percents})
        shapes.append(
            BudgetShape(
                display_name=budget_display_name(budget),
                # Budget tag filters match values exactly: the unit's id (what managed policies write) and name.
                tag_filters=((tag_key, tuple(sorted({unit.id, unit.name}))),),
                workspace_ids=(int(budget.workspace_id),) if budget.workspace_id else (),
                alerts=tuple(BudgetAlert(t, tuple(sorted(budget.recipients))) for t in thresholds),
            )
        )
    return tuple(shapes)


def pair_alerts(
    wanted: Iterable[BudgetAlert], existing: Iterable[ExistingAlert]
) -> list[tuple[BudgetAlert | None, ExistingAlert | None]]:
    """Which existing alert each wanted alert updates (keeping its id), lowest threshold first.

    An alert of the same threshold is kept; the other wanted alerts take over the remaining existing ones in
    threshold order; wanted alerts left over are new, existing ones left over are removed.
    """
    want = sorted(wanted, key=lambda a: a.threshold_usd)
    free = sorted(existing, key=lambda e: e.alert.threshold_usd)
    matched: dict[int, ExistingAlert] = {}
    for index, alert in enumerate(want):
        same = next((e for e in free if e.alert.threshold_usd == alert.threshold_usd), None)
        if same is not None:
            matched[index] = same
            free.remove(same)
    for index in range(len(want)):
        if index not in matched and free:
            matched[index] = free.pop(0)
    pairs: list[tuple[BudgetAlert | None, ExistingAlert | None]] = [
        (alert, matched.get(index)) for index, alert in enumerate(want)
    ]
    return pairs + [(None, e) for e in free]


def pair_actions(recipients: Iterable[str], existing: Iterable[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """(email, action_configuration_id to send back or None) for each recipient, the same way as `pair_alerts`."""
    want = list(recipients)
    free = list(existing)
    matched: dict[int, str] = {}
    for index, to in enumerate(want):
        same = next((e for e in free if e[0] == to), None)
        if same is not None:
            matched[index] = same[1]
            free.remove(same)
    for index in range(len(want)):
        if index not in matched and free:
            matched[index] = free.pop(0)[1]
    return [(to, matched.get(index)) for index, to in enumerate(want)]


def _usd(amount: Decimal) -> str:
    """An amount as the account returned it, without the trailing zeros of its BigDecimal text."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _emails(recipients: tuple[str, ...], nobody: str = "no one (shown in the account console)") -> str:
    return ", ".join(recipients) or nobody


def _budget_diff(old: ExistingBudget | None, new: BudgetShape) -> list[str]:
    lines = []
    if old is None:
        lines += [f"~ filter tag {key} in {', '.join(values)}" for key, values in new.tag_filters]
        if new.workspace_ids:
            lines.append(f"~ filter workspace_id in {', '.join(map(str, new.workspace_ids))}")
        return lines + [
            f"+ alert at {a.threshold_usd} {BUDGET_CURRENCY} list price/month, email {_emails(a.recipients)}"
            for a in new.alerts
        ]
    before, after = dict(old.shape.tag_filters), dict(new.tag_filters)
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            was, now = (", ".join(v) if v else "(none)" for v in (before.get(key), after.get(key)))
            lines.append(f"~ filter tag {key}: {was} -> {now}")
    if old.shape.workspace_ids != new.workspace_ids:
        was, now = (", ".join(map(str, w)) or "(any)" for w in (old.shape.workspace_ids, new.workspace_ids))
        lines.append(f"~ filter workspace_id: {was} -> {now}")
    for want, have in pair_alerts(new.alerts, old.alerts):
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


def plan_budgets(config: Config, existing: Iterable[ExistingBudget], day: dt.date) -> BudgetPlan:
    """What to change so the account holds the config's budgets in force on `day`.

    Nothing is deleted, except a managed budget whose filter must change: the API cannot edit a filter, so that
    budget is recreated. A second account budget with a managed name is listed, never silently ignored.
    """
    by_name: dict[str, ExistingBudget] = {}
    duplicates = []
    for budget in existing:
        if budget.shape.display_name in by_name:
            duplicates.append(budget)
        else:
            by_name[budget.shape.display_name] = budget
    wanted = desired_budgets(config, day)
    steps, unchanged = [], []
    for shape in wanted:
        have = by_name.get(shape.display_name)
        if have is None:
            steps.append(BudgetStep("create", shape, None, tuple(_budget_diff(None, shape))))
        elif _same_budget(have.shape, shape):
            unchanged.append(shape.display_name)
        else:
            action = "recreate" if have.shape.filters != shape.filters else "update"
            steps.append(BudgetStep(action, shape, have, tuple(_budget_diff(have, shape))))
    names = {s.display_name for s in wanted}
    others = sorted(
        (b for b in by_name.values() if b.shape.display_name not in names), key=lambda b: b.shape.display_name
    )
    managed = [b for b in duplicates if b.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)]
    return BudgetPlan(
        tuple(steps),
        tuple(unchanged),
        tuple(b for b in [*others, *duplicates] if not b.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)),
        tuple(b for b in others if b.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)),
        tuple(managed),
    )


def _same_budget(a: BudgetShape, b: BudgetShape) -> bool:
    """Alerts compare as sets: the API may return them in any order."""
    return (a.display_name, a.filters, set(a.alerts)) == (b.display_name, b.filters, set(b.alerts))


def render_budget_plan(plan: BudgetPlan) -> list[str]:
    lines = ["Account budgets:"]
    for step in plan.steps:
        where = f" ({step.existing.budget_id})" if step.existing else ""
        why = (
            ": a budget's filter cannot be edited, so it is deleted and created again"
            if step.action == "recreate"
            else ""
        )
        lines.append(f"  {_ACTION_TITLES[step.action]} {step.shape.display_name}{where}{why}")
        lines += [f"      {line}" for line in step.diff]
    lines += [f"  = unchanged {name}" for name in plan.unchanged]
    lines += [
        f"  ! not in force in the config {b.shape.display_name} ({b.budget_id}): left alone, delete it by hand"
        for b in plan.undeclared
    ]
    lines += [
        f"  ! duplicate {b.shape.display_name} ({b.budget_id}): another budget has this name; left alone, delete it "
        "by hand"
        for b in plan.duplicates
    ]
    lines += [f"  ! unmanaged {b.shape.display_name} ({b.budget_id}): left alone" for b in plan.unmanaged]
    if any(len(step.shape.alerts) > 1 for step in plan.steps):
        lines.append(f"  note: {ONE_ALERT_NOTE}")
    left = len(plan.unmanaged) + len(plan.undeclared) + len(plan.duplicates)
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
        "account-level auth needs DATABRICKS_HOST (the accounts host: https://accounts.cloud.databricks.com on AWS, "
        "https://accounts.azuredatabricks.net on Azure, https://accounts.gcp.databricks.com on GCP), "
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
            f"the account refused to {what}: {_first_line(exc)} (run as an account admin, with account-level auth)"
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
    return [_existing_budget(b) for b in _call("list budgets", lambda: list(client.budgets.list()))]


def _existing_budget(budget: Any) -> ExistingBudget:
    """The comparable shape of an SDK `BudgetConfiguration`, with the ids of its alerts and email actions."""
    filt = budget.filter
    tags = tuple(
        (t.key or "", tuple(sorted(t.value.values or ())) if t.value else ()) for t in (filt.tags if filt else []) or []
    )
    workspaces = filt.workspace_id.values if filt and filt.workspace_id else None
    alerts = []
    for a in budget.alert_configurations or []:
        kind = (_enum(a.time_period), _enum(a.trigger_type), _enum(a.quantity_type))
        actions = sorted(
            (c.target or "", c.action_configuration_id or "")
            for c in a.action_configurations or []
            if _enum(c.action_type) == _EMAIL
        )
        alert = BudgetAlert(Decimal(a.quantity_threshold or "0"), tuple(to for to, _ in actions), kind)
        alerts.append(ExistingAlert(alert, a.alert_configuration_id or "", tuple(actions)))
    shape = BudgetShape(
        budget.display_name or "", tags, tuple(sorted(workspaces or ())), tuple(a.alert for a in alerts)
    )
    return ExistingBudget(budget.budget_configuration_id or "", shape, tuple(alerts))


def _enum(value: Any) -> str:
    return str(value.value) if value is not None else ""


class _OneAlertPerBudget(Exception):
    """The account refused several alerts on one budget: it still allows only one."""


def _lowest(alerts: tuple[BudgetAlert, ...]) -> tuple[BudgetAlert, ...]:
    return (min(alerts, key=lambda a: a.threshold_usd),) if alerts else ()


def apply_budget_plan(client: AccountClient, plan: BudgetPlan, say: Callable[[str], None]) -> int:
    """Carry out `plan`; the number of budgets changed.

    If the account refuses several alerts on one budget (it still allows only one), every budget from then on gets
    its lowest alert only, and a budget that already has exactly that alert is left as is.
    """
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service import billing as b

    kind = {
        "time_period": b.AlertConfigurationTimePeriod.MONTH,
        "trigger_type": b.AlertConfigurationTriggerType.CUMULATIVE_SPENDING_EXCEEDED,
        "quantity_type": b.AlertConfigurationQuantityType.LIST_PRICE_DOLLARS_USD,
    }
    email = b.ActionConfigurationType.EMAIL_NOTIFICATION
    in_ = b.BudgetConfigurationFilterOperator.IN

    def budget_filter(shape: BudgetShape) -> b.BudgetConfigurationFilter:
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

    def create(shape: BudgetShape, alerts: tuple[BudgetAlert, ...]) -> str:
        budget = b.CreateBudgetConfigurationBudget(
            display_name=shape.display_name,
            filter=budget_filter(shape),
            alert_configurations=[
                b.CreateBudgetConfigurationBudgetAlertConfigurations(
                    quantity_threshold=str(alert.threshold_usd),
                    action_configurations=[
                        b.CreateBudgetConfigurationBudgetActionConfigurations(action_type=email, target=to)
                        for to in alert.recipients
                    ],
                    **kind,  # type: ignore[arg-type]
                )
                for alert in alerts
            ],
        )
        return str(refusing_several(alerts, client.budgets.create, budget).budget.budget_configuration_id)

    def update(shape: BudgetShape, existing: ExistingBudget, alerts: tuple[BudgetAlert, ...]) -> None:
        # The ids of the alerts and actions the update keeps or changes go back to the API, or it would create
        # new ones next to them (or refuse).
        configured = []
        for want, have in pair_alerts(alerts, existing.alerts):
            if want is None:
                continue  # an existing alert the config no longer has: left out, so removed
            actions = pair_actions(want.recipients, have.action_ids if have else ())
            configured.append(
                b.AlertConfiguration(
                    alert_configuration_id=have.alert_id if have else None,
                    quantity_threshold=str(want.threshold_usd),
                    action_configurations=[
                        b.ActionConfiguration(action_configuration_id=action_id, action_type=email, target=to)
                        for to, action_id in actions
                    ],
                    **kind,  # type: ignore[arg-type]
                )
            )
        body = b.UpdateBudgetConfigurationBudget(
            budget_configuration_id=existing.budget_id,
            display_name=shape.display_name,
            filter=budget_filter(shape),  # unchanged: a filter change is planned as a recreate
            alert_configurations=configured,
        )
        refusing_several(alerts, client.budgets.update, existing.budget_id, body)

    def refusing_several(alerts: tuple[BudgetAlert, ...], fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except BadRequest as exc:
            if len(alerts) > 1 and _ONE_ALERT.search(str(exc)):
                raise _OneAlertPerBudget(_first_line(exc)) from None
            raise

    def write(step: BudgetStep, alerts: tuple[BudgetAlert, ...]) -> str:
        """Create, update or recreate (the delete is done) the step's budget with `alerts`; what was done."""
        name, existing = step.shape.display_name, step.existing
        if step.action == "update" and existing is not None:
            _call(f"update budget {name}", update, step.shape, existing, alerts)
            return f"updated budget {name} ({existing.budget_id})"
        if existing is not None:
            what = f"create budget {name} (its old version {existing.budget_id} is deleted: apply again)"
            new_id = _call(what, create, step.shape, alerts)
            return f"recreated budget {name} (deleted {existing.budget_id}, created {new_id})"
        return f"created budget {name} ({_call(f'create budget {name}', create, step.shape, alerts)})"

    one_alert = False
    changed = 0
    for step in plan.steps:
        shape, existing = step.shape, step.existing
        if step.action == "recreate" and existing is not None:
            what = f"delete budget {shape.display_name} ({existing.budget_id}) to recreate it"
            _call(what, client.budgets.delete, existing.budget_id)
        if not one_alert:
            try:
                say(write(step, shape.alerts))
                changed += 1
                continue
            except _OneAlertPerBudget as refused:
                one_alert = True
                say(
                    f"note: the account allows one alert per budget (it refused several: {refused}); each budget "
                    "gets its lowest alert only"
                )
        alerts = _lowest(shape.alerts)  # one alert: the account cannot refuse it for being several
        if step.action == "update" and existing and _same_budget(existing.shape, _with_alerts(shape, alerts)):
            say(f"left {shape.display_name} ({existing.budget_id}) as is: {_HAS_LOWEST}")
            continue
        say(f"{write(step, alerts)} with its lowest alert only, at {alerts[0].threshold_usd} {BUDGET_CURRENCY}")
        changed += 1
    return changed


_HAS_LOWEST = "it has its lowest alert, the one alert the account allows"


def _with_alerts(shape: BudgetShape, alerts: tuple[BudgetAlert, ...]) -> BudgetShape:
    return BudgetShape(shape.display_name, shape.tag_filters, shape.workspace_ids, alerts)


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
            changed = apply_budget_plan(client, budget_plan, say)
            say(f"Apply complete: {changed} change(s).")
    return 0
