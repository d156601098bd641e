"""The governance commands: `chargeback policies|budgets plan|apply`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from chargeback.config import load_config
from chargeback.governance.account import connect, read_budgets, read_policies
from chargeback.governance.budget_apply import apply_budget_plan
from chargeback.governance.budgets import plan_budgets
from chargeback.governance.plan import render_budget_plan, render_policy_plan
from chargeback.governance.policies import apply_policy_plan, plan_policies


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
