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

The package: `state` (the values compared), `account` (the SDK client and reading the account), `policies` and
`budgets` (planning; `policies` also applies), `budget_apply` (budget writes), `plan` (plan types and printing),
`commands` (the entry point).
"""

from chargeback.governance.budget_apply import update_request
from chargeback.governance.budgets import desired_budgets, pair_actions, pair_alerts, plan_budgets
from chargeback.governance.commands import run
from chargeback.governance.policies import plan_policies
from chargeback.governance.state import (
    BudgetAlert,
    BudgetShape,
    ExistingAlert,
    ExistingBudget,
    ExistingPolicy,
    GovernanceError,
    critical_alert,
    filter_differs,
)

__all__ = [
    "BudgetAlert",
    "BudgetShape",
    "ExistingAlert",
    "ExistingBudget",
    "ExistingPolicy",
    "GovernanceError",
    "critical_alert",
    "desired_budgets",
    "filter_differs",
    "pair_actions",
    "pair_alerts",
    "plan_budgets",
    "plan_policies",
    "run",
    "update_request",
]
