"""Governance as code: the config's serverless budget policies and account budgets, kept in sync like Terraform.

`chargeback policies plan|apply` and `chargeback budgets plan|apply` read the account through databricks-sdk's
`AccountClient`, compute a plan from the config and what exists (pure functions, no I/O), print it, and on
`apply` carry it out. Applying twice changes nothing the second time. A policy the config does not name, or a
budget not named `chargeback/...`, is listed as unmanaged and left alone. Nothing is deleted, except on request
(`--recreate-on-filter-change`): a managed budget whose filter differs is then replaced, the new budget created
first and the old one deleted only once that succeeded.

How the Budgets API behaves, and where that is documented:
- an update replaces the budget and carries the `alert_configuration_id` of each alert it keeps or changes and the
  `action_configuration_id` of each action (the Go SDK's budgets integration test, `TestMwsAccBudgets`; the
  Terraform provider's `databricks_budget`, where both ids are computed and sent back with every update). What
  the budget has besides (`resource_type`, an alert's `scope_type`) is sent back as read; a budget holding what
  this tool does not model (`BLOCK_USAGE` actions, per-user alerts, AI gateway budgets) is left alone;
- a budget has up to four alerts per time period, each with a unique `quantity_threshold` (databricks-sdk-py
  `BudgetConfiguration.alert_configurations`); older documentation, still in databricks-sdk-go, says "Budgets must
  have exactly one alert configuration". No source gives the refusal's words, so `apply` decides by structure: on
  an account holding no budget with several alerts, a refused (400) write of several is sent again with the
  critical alert alone, and only if that is accepted is the account taken to allow one alert per budget;
- whether a filter (workspaces, tags) can be edited is not documented: issue 14 item 9 says it cannot, while the
  Terraform provider (`finops/resource_budget.go`) sends a changed filter in an update. This tool never changes a
  filter in place: it shows the difference, and replaces the budget only on request;
- the list order of budgets is not documented: of several budgets of one name, the managed one is chosen by
  content (matching filter, then oldest, then lowest id), never by position;
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

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
    from databricks.sdk.service import billing

ROLES = {"user": "roles/budgetPolicy.user", "manager": "roles/budgetPolicy.manager"}
PRINCIPAL_PREFIXES = {"user": "users/", "group": "groups/", "service_principal": "servicePrincipals/"}
BUDGET_CURRENCY = "USD"  # the Budgets API measures list price in US dollars only
_CENT = Decimal("0.01")
# The one kind of alert the Budgets API offers today: cumulative list-price spend in the calendar month.
_ALERT_KIND = ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD")
_EMAIL = "EMAIL_NOTIFICATION"
_SHARED_SCOPE = "ALERT_CONFIGURATION_SCOPE_TYPE_SHARED"
_ALL_RESOURCES = "BUDGET_RESOURCE_TYPE_ALL_RESOURCES"
ONE_ALERT_NOTE = (
    "some accounts still allow one alert per budget: if the account refuses several alerts and then accepts the "
    "critical alert alone, apply gives each budget its critical alert only"
)
RECREATE_OPTION = "--recreate-on-filter-change"

W = TypeVar("W")
H = TypeVar("H")
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
    "replace": "+/- replace",
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


def _summary(actions: list[str], unchanged: int, left_alone: str, filters_kept: int = 0) -> str:
    """The closing line of a plan, Terraform style; `filters_kept`: budget filters that differ, not applied."""
    kept = f", {filters_kept} filter{'s' if filters_kept > 1 else ''} not changed" if filters_kept else ""
    if not actions:
        if kept:
            return f"No changes to apply ({left_alone} left alone{kept}: see above)."
        return f"No changes: the account matches the config ({left_alone} left alone)."
    creates, replaces = actions.count("create"), actions.count("replace")
    counts = f"{creates} to create, {len(actions) - creates - replaces} to update, "
    if replaces:
        counts += f"{replaces} to replace, "
    deleted = "nothing is deleted"
    if replaces:
        deleted = (
            f"{replaces} deleted once {'its replacement is' if replaces == 1 else 'their replacements are'} created"
        )
    return f"Plan: {counts}{unchanged} unchanged, {left_alone} left alone{kept}; {deleted}."


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


@dataclass(frozen=True)
class BudgetStep:
    """`create`, `update` (alerts; never the filter), `replace` (create the new budget, then delete `existing`:
    only with --recreate-on-filter-change) or `filter` (a filter that differs, shown and not applied)."""

    action: str
    shape: BudgetShape
    existing: ExistingBudget | None
    diff: tuple[str, ...]


@dataclass(frozen=True)
class BudgetPlan:
    steps: tuple[BudgetStep, ...]
    unchanged: tuple[str, ...]
    unmanaged: tuple[ExistingBudget, ...]
    undeclared: tuple[ExistingBudget, ...] = ()  # named chargeback/... but not in force in the config
    duplicates: tuple[ExistingBudget, ...] = ()  # another budget of a managed name: left alone
    filters_kept: tuple[BudgetStep, ...] = ()  # `filter` steps: shown, not applied
    unmanageable: tuple[ExistingBudget, ...] = ()  # managed names holding what this tool does not model
    several_allowed: bool = False  # a budget in the account has several alerts, so the account allows several
    one_alert: tuple[str, ...] = ()  # budgets taken as unchanged holding their critical alert alone (see plan)

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
    held: dict[str, list[ExistingBudget]] = {}
    for budget in existing:
        held.setdefault(budget.shape.display_name, []).append(budget)
    chosen: dict[str, ExistingBudget] = {}
    duplicates: list[ExistingBudget] = []
    for name, budgets in sorted(held.items()):
        first, *others = sorted(budgets, key=lambda b: _preference(b, want.get(name)))
        chosen[name] = first
        duplicates += others
    several = any(len(b.shape.alerts) > 1 for b in existing)
    pairs = [(shape, chosen.get(shape.display_name)) for shape in wanted]
    one_alert = tuple(
        shape.display_name
        for shape, have in pairs
        if not several
        and have is not None
        and not have.unmodelled
        and len(shape.alerts) > 1
        and set(have.shape.alerts) == set(critical_alert(shape))
    )
    steps: list[BudgetStep] = []
    unchanged: list[str] = []
    kept: list[BudgetStep] = []
    unmanageable: list[ExistingBudget] = []
    for shape, have in pairs:
        if have is None:
            steps.append(BudgetStep("create", shape, None, tuple(_filter_diff(None, shape) + _alert_diff(None, shape))))
            continue
        if have.unmodelled:
            unmanageable.append(have)
            continue
        same_alerts = set(have.shape.alerts) == set(shape.alerts) or shape.display_name in one_alert
        new_filter = filter_differs(have.shape, shape)
        if new_filter and recreate_on_filter_change:
            diff = _filter_diff(have.shape, shape) + _alert_diff(have, shape)
            steps.append(BudgetStep("replace", shape, have, tuple(diff)))
            continue
        if new_filter:
            kept.append(BudgetStep("filter", shape, have, tuple(_filter_diff(have.shape, shape))))
        if not same_alerts:
            steps.append(BudgetStep("update", shape, have, tuple(_alert_diff(have, shape))))
        elif not new_filter:
            unchanged.append(shape.display_name)

    def managed(budget: ExistingBudget) -> bool:
        return budget.shape.display_name.startswith(MANAGED_BUDGET_PREFIX)

    def by_name(budget: ExistingBudget) -> tuple[str, str]:
        return budget.shape.display_name, budget.budget_id

    left = sorted((b for name, b in chosen.items() if name not in want), key=by_name)
    return BudgetPlan(
        steps=tuple(steps),
        unchanged=tuple(unchanged),
        unmanaged=tuple(sorted((b for b in [*left, *duplicates] if not managed(b)), key=by_name)),
        undeclared=tuple(b for b in left if managed(b)),
        duplicates=tuple(b for b in duplicates if managed(b)),
        filters_kept=tuple(kept),
        unmanageable=tuple(unmanageable),
        several_allowed=several,
        one_alert=one_alert,
    )


def render_budget_plan(plan: BudgetPlan) -> list[str]:
    lines = ["Account budgets:"]
    for step in plan.steps:
        where = f" ({step.existing.budget_id})" if step.existing else ""
        why = ""
        if step.action == "replace" and step.existing:
            why = f": its filter differs; a new budget is created, then {step.existing.budget_id} is deleted"
        lines.append(f"  {_ACTION_TITLES[step.action]} {step.shape.display_name}{where}{why}")
        lines += [f"      {line}" for line in step.diff]
    lines += [f"  = unchanged {name}" for name in plan.unchanged]
    for step in plan.filters_kept:
        lines.append(
            f"  ! filter of {step.shape.display_name} differs: a budget's filter is not changed in place by this "
            f"tool; run with {RECREATE_OPTION} to replace it"
        )
        lines += [f"      {line}" for line in step.diff]
    lines += [
        f"  ! unmanageable {b.shape.display_name} ({b.budget_id}): it has what this tool does not model "
        f"({', '.join(b.unmodelled)}); left alone, change it by hand"
        for b in plan.unmanageable
    ]
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
    if not plan.several_allowed and any(len(step.shape.alerts) > 1 for step in plan.steps):
        lines.append(f"  note: {ONE_ALERT_NOTE}")
    if plan.one_alert:
        lines.append(
            f"  note: no budget in the account has more than one alert and {len(plan.one_alert)} managed budget(s) "
            "hold only their critical alert: the account is taken to allow one alert per budget, and a budget "
            "holding its critical alert is unchanged"
        )
    left = len(plan.unmanaged) + len(plan.undeclared) + len(plan.duplicates) + len(plan.unmanageable)
    actions = [s.action for s in plan.steps]
    return [*lines, _summary(actions, len(plan.unchanged), str(left), len(plan.filters_kept))]


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
    """The comparable shape of an SDK `BudgetConfiguration`, with the ids of its alerts and email actions, and
    what it has that this tool does not model (an update replaces the whole budget, so it could not keep them)."""
    filt = budget.filter
    tags = tuple(
        (t.key or "", tuple(sorted(t.value.values or ())) if t.value else ()) for t in (filt.tags if filt else []) or []
    )
    workspaces = filt.workspace_id.values if filt and filt.workspace_id else None
    # Read with getattr: databricks-sdk releases before these fields (the extra supports >= 0.100) lack them.
    unmodelled = []
    resource_type = _enum(getattr(budget, "resource_type", None))
    if resource_type not in ("", _ALL_RESOURCES):
        unmodelled.append(f"resource_type {resource_type}")
    if getattr(budget, "include_external_spend", None):
        unmodelled.append("include_external_spend")
    alerts = []
    for a in budget.alert_configurations or []:
        kind = (_enum(a.time_period), _enum(a.trigger_type), _enum(a.quantity_type))
        actions = sorted(
            (
                (c.target or "", c.action_configuration_id or None)
                for c in a.action_configurations or []
                if _enum(c.action_type) == _EMAIL
            ),
            key=lambda action: action[0],
        )
        unmodelled += [
            f"a {_enum(c.action_type) or 'typeless'} action"
            for c in a.action_configurations or []
            if _enum(c.action_type) != _EMAIL
        ]
        if _enum(getattr(a, "scope_type", None)) not in ("", _SHARED_SCOPE):
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


def _enum(value: Any) -> str:
    return str(value.value) if value is not None else ""


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
    others = [c for c in read.action_configurations or [] if _enum(c.action_type) != _EMAIL]
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
        _, sent = _call(what, _write_with_fallback, update, shape, alerts, limit, say)
        say(f"updated budget {name} ({existing.budget_id}){_only(shape, sent)}")
        return
    # A create, or the first half of a replace: the old budget is deleted only once its replacement exists.
    replacing = f" to replace {existing.budget_id}" if existing is not None else ""
    what = f"create budget {name}{replacing}" + (" (which is kept)" if existing is not None else "")

    def create(sent: tuple[BudgetAlert, ...]) -> Any:
        return client.budgets.create(create_request(shape, sent))

    created, sent = _call(what, _write_with_fallback, create, shape, alerts, limit, say)
    new_id = created.budget.budget_configuration_id
    say(f"created budget {name} ({new_id}){_only(shape, sent)}{replacing}")
    if existing is not None:
        what = (
            f"delete {existing.budget_id}, the budget {name} replaced by {new_id} (delete it by hand: until then "
            "plans list it as a duplicate)"
        )
        _call(what, client.budgets.delete, existing.budget_id)
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
            f"note: the account refused several alerts on {shape.display_name} ({_first_line(refused)}) and accepted "
            "its critical alert alone: it allows one alert per budget, so each budget gets its critical alert only"
        )
        return response, single
    limit.several = limit.several or len(alerts) > 1
    return response, alerts


def _only(shape: BudgetShape, sent: tuple[BudgetAlert, ...]) -> str:
    if len(sent) < len(shape.alerts):
        return f" with its critical alert only, at {sent[0].threshold_usd} {BUDGET_CURRENCY}"
    return ""


# --- entry point ---------------------------------------------------------------------------------------------


def run(
    resource: str,
    action: str,
    config_path: Path,
    profile: str | None,
    day: dt.date,
    say: Callable[[str], None] = print,
    recreate_on_filter_change: bool = False,
) -> int:
    """`chargeback policies|budgets plan|apply`: print the plan; on apply, carry it out.

    `recreate_on_filter_change` (budgets): replace a managed budget whose filter differs from the config (create
    the new one, then delete the old one) instead of only showing the difference.
    """
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
        budget_plan = plan_budgets(config, read_budgets(client), day, recreate_on_filter_change)
        for line in render_budget_plan(budget_plan):
            say(line)
        if action == "apply" and not budget_plan.is_noop:
            changed = apply_budget_plan(client, budget_plan, say)
            say(f"Apply complete: {changed} change(s).")
    return 0
