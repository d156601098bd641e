"""Plans: the changes a plan holds, and how a plan is printed (Terraform style, closing with a summary line)."""

from __future__ import annotations

from dataclasses import dataclass

from chargeback.config import ServerlessPolicy
from chargeback.governance.state import BudgetShape, ExistingBudget, ExistingPolicy

ONE_ALERT_NOTE = (
    "some accounts still allow one alert per budget: if the account refuses several alerts and then accepts the "
    "critical alert alone, apply gives each budget its critical alert only"
)
RECREATE_OPTION = "--recreate-on-filter-change"


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
