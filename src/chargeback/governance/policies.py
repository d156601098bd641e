"""Serverless budget policies: the plan that brings the account's policies (tags, permissions) to the config, and
its apply."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from chargeback.config import Config, ServerlessPolicy, in_force
from chargeback.governance.account import call, rule_set_name, with_rule_set
from chargeback.governance.plan import PolicyPlan, PolicyStep
from chargeback.governance.state import ROLES, ExistingPolicy, Grant

if TYPE_CHECKING:
    from databricks.sdk import AccountClient

PRINCIPAL_PREFIXES = {"user": "users/", "group": "groups/", "service_principal": "servicePrincipals/"}


def principal(kind: str, name: str) -> str:
    """The rule-set form of a principal: `users/<name>`, `groups/<name>` or `servicePrincipals/<app id>`."""
    return PRINCIPAL_PREFIXES[kind] + name


def desired_grants(policy: ServerlessPolicy) -> frozenset[Grant]:
    return frozenset((ROLES[g.role], principal(g.principal_kind, g.principal)) for g in policy.grants)


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
            if rule.policy_id == have.policy_id and rule.business_unit != policy.business_unit and in_force(rule, day)
        ]
    unmanaged = tuple(sorted((p for p in by_name.values() if p.name not in declared), key=lambda p: p.name))
    return PolicyPlan(tuple(steps), tuple(unchanged), unmanaged, tuple(warnings))


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
            created = call(f"create policy {step.name}", client.budget_policy.create, policy=body(step.policy, None))
            fresh = ExistingPolicy(created.policy_id, step.name, ())
            _set_grants(client, with_rule_set(client, fresh), desired_grants(step.policy))
            say(f"created policy {step.name} ({created.policy_id})")
        elif step.action == "update_tags" and step.existing:
            update = client.budget_policy.update
            call(f"update policy {step.name}", update, step.existing.policy_id, body(step.policy, step.existing))
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
    call(f"set the permissions of policy {policy.name}", client.access_control.update_rule_set, name, request)
