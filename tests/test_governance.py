"""Governance as code: `chargeback policies|budgets plan|apply` with the real databricks-sdk client.

The client talks to `tests.fake_account`, an account API on 127.0.0.1; a guard fails any test that opens a
connection anywhere else, so nothing reaches the internet.
"""

from __future__ import annotations

import copy
import datetime as dt
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chargeback import synthetic as world
from chargeback.cli import main
from chargeback.config import parse_config
from chargeback.governance import (
    BudgetAlert,
    ExistingPolicy,
    GovernanceError,
    desired_budgets,
    plan_policies,
)
from tests.fake_account import CREATOR, TOKEN, FakeAccount, serve

CONFIG = Path(__file__).resolve().parents[1] / "config" / "chargeback.yml"
ACCOUNT = world.ACCOUNT_ID
BASE = f"/api/2.1/accounts/{ACCOUNT}"
ACL = f"/api/2.0/preview/accounts/{ACCOUNT}/access-control/rule-sets"
USER, MANAGER = "roles/budgetPolicy.user", "roles/budgetPolicy.manager"
OCTOBER, SEPTEMBER = "2026-10-15", "2026-09-15"
README = Path(__file__).resolve().parents[1] / "README.md"
ONE_ALERT_NOTE = (
    "an account that still allows one alert per budget refuses several: apply then gives each budget its lowest "
    "alert only"
)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to this machine."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a test tried to reach {address}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def no_databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient Databricks settings: no DATABRICKS_* variables, no ~/.databrickscfg."""
    import os

    for key in list(os.environ):
        if key.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "missing.databrickscfg"))
    monkeypatch.setenv("HOME", str(tmp_path))


def alert(threshold: str, *emails: str) -> dict[str, Any]:
    """An alert as the Budgets API takes it."""
    return {
        "time_period": "MONTH",
        "trigger_type": "CUMULATIVE_SPENDING_EXCEEDED",
        "quantity_type": "LIST_PRICE_DOLLARS_USD",
        "quantity_threshold": threshold,
        "action_configurations": [{"action_type": "EMAIL_NOTIFICATION", "target": e} for e in emails],
    }


def tag_filter(*values: str) -> dict[str, Any]:
    return {"tags": [{"key": "business_unit", "value": {"operator": "IN", "values": list(values)}}]}


def seed(account: FakeAccount) -> None:
    """The synthetic account's live policies, an unmanaged budget, and two budgets named like ours."""
    for policy, grants in (
        (world.POLICY_DATA_ENG, {MANAGER: [CREATOR], USER: ["groups/data-engineers"]}),
        (world.POLICY_ML, {USER: ["groups/ml-engineers"], MANAGER: ["users/alice.nguyen@acme.example"]}),
        (world.POLICY_CUSTOMER_360, {USER: ["groups/marketing"]}),
    ):
        account.add_policy(policy.policy_id, policy.name, dict(policy.tags), grants)
    account.add_budget(
        "b-marketing", "Q4 marketing push", {"alert_configurations": [alert("5000", "cmo@acme.example")]}
    )
    finance_alerts = [alert("22000.00", "finance-ops@acme.example"), alert("18000", "finance-ops@acme.example")]
    account.add_budget(
        "b-finance",
        "chargeback/finance",
        {
            "filter": tag_filter("Finance", "finance"),
            "alert_configurations": finance_alerts[: account.alerts_per_budget],
        },
    )
    account.add_budget("b-sales", "chargeback/sales", {"alert_configurations": [alert("100")]})


def served(fake: FakeAccount, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAccount]:
    seed(fake)
    with serve(fake) as url:
        monkeypatch.setenv("DATABRICKS_HOST", url)
        monkeypatch.setenv("DATABRICKS_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        yield fake


@pytest.fixture
def account(no_databricks_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAccount]:
    yield from served(FakeAccount(ACCOUNT), monkeypatch)


@pytest.fixture
def old_account(no_databricks_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAccount]:
    """An account that still allows exactly one alert per budget (the older Budgets API documentation)."""
    yield from served(FakeAccount(ACCOUNT, alerts_per_budget=1), monkeypatch)


def chargeback(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    code = main([*args, "--config", str(CONFIG)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.splitlines()


def policy_id(name: str) -> str:
    return next(p.policy_id for p in world.POLICIES if p.name == name)


# --- policies ---------------------------------------------------------------------------------------------------


def test_policy_plan_apply_reapply(account: FakeAccount, capsys: pytest.CaptureFixture[str]) -> None:
    data_eng, ml, customer_360 = (policy_id(n) for n in ("data-eng-serverless", "ml-serverless", "customer-360"))
    plan = chargeback(capsys, "policies", "plan")
    assert plan == [
        "Serverless budget policies:",
        f"  ~ update tags data-eng-serverless ({data_eng})",
        "      ~ tag business_unit = Data-Eng -> data-eng",
        f"  ~ update permissions data-eng-serverless ({data_eng})",
        f"      + grant {MANAGER} to users/bob.smith@acme.example",
        f"      + grant {USER} to servicePrincipals/7d1e9a3b-5c2f-4e8a-b6d4-1f0e9c8b7a65",
        f"      - revoke {MANAGER} from {CREATOR}",
        f"  ~ update tags ml-serverless ({ml})",
        "      + tag business_unit = ml-platform",
        "  + create finance-serverless",
        "      + tag business_unit = finance",
        f"      + grant {USER} to groups/finance-analysts",
        f"  ! unmanaged customer-360 ({customer_360}): left alone",
        "Plan: 1 to create, 3 to update, 0 unchanged, 1 unmanaged left alone; nothing is deleted.",
    ]
    assert account.writes == [], "plan must not change anything"

    applied = chargeback(capsys, "policies", "apply")
    assert applied[: len(plan)] == plan
    new_id = next(p["policy_id"] for p in account.policies.values() if p["policy_name"] == "finance-serverless")
    assert applied[len(plan) :] == [
        f"updated the tags of policy data-eng-serverless ({data_eng})",
        f"updated the permissions of policy data-eng-serverless ({data_eng})",
        f"updated the tags of policy ml-serverless ({ml})",
        f"created policy finance-serverless ({new_id})",
        "Apply complete: 4 change(s).",
    ]
    assert account.writes == [
        ("PATCH", f"{BASE}/budget-policies/{data_eng}"),
        ("PUT", ACL),
        ("PATCH", f"{BASE}/budget-policies/{ml}"),
        ("POST", f"{BASE}/budget-policies"),
        ("PUT", ACL),
    ]
    assert account.policy_tags("data-eng-serverless") == {"business_unit": "data-eng", "env": "prod"}
    assert account.policy_tags("ml-serverless") == {"business_unit": "ml-platform", "team": "ML Platform"}
    assert account.policy_tags("finance-serverless") == {"business_unit": "finance"}
    assert account.policy_tags("customer-360") == dict(world.POLICY_CUSTOMER_360.tags)
    assert account.policy_grants("data-eng-serverless") == {
        USER: ["groups/data-engineers", "servicePrincipals/7d1e9a3b-5c2f-4e8a-b6d4-1f0e9c8b7a65"],
        MANAGER: ["users/bob.smith@acme.example"],
    }
    # The creator's automatic manager grant is replaced by the declared permissions.
    assert account.policy_grants("finance-serverless") == {USER: ["groups/finance-analysts"]}
    assert account.policy_grants("customer-360") == {USER: ["groups/marketing"]}

    writes = len(account.writes)
    assert chargeback(capsys, "policies", "plan") == [
        "Serverless budget policies:",
        "  = unchanged data-eng-serverless",
        "  = unchanged ml-serverless",
        "  = unchanged finance-serverless",
        f"  ! unmanaged customer-360 ({customer_360}): left alone",
        "No changes: the account matches the config (1 unmanaged left alone).",
    ]
    assert (
        chargeback(capsys, "policies", "apply")[-1]
        == "No changes: the account matches the config (1 unmanaged left alone)."
    )
    assert len(account.writes) == writes, "a second apply must not write"
    assert not any(method == "DELETE" for method, _ in account.writes)


def test_policy_update_sends_the_full_policy_and_the_read_etag(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    data_eng = policy_id("data-eng-serverless")
    chargeback(capsys, "policies", "apply")
    patch = next(body for method, path, body in account.calls if method == "PATCH" and data_eng in path)
    assert patch == {
        "policy_id": data_eng,
        "policy_name": "data-eng-serverless",
        "custom_tags": [{"key": "business_unit", "value": "data-eng"}, {"key": "env", "value": "prod"}],
    }
    put = next(body for method, _, body in account.calls if method == "PUT")
    assert put["name"] == put["rule_set"]["name"] == f"accounts/{ACCOUNT}/budgetPolicies/{data_eng}/ruleSets/default"
    assert put["rule_set"]["etag"].startswith("etag-")


def test_a_rule_set_changed_since_the_plan_read_is_refused(
    account: FakeAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The etag read with the plan guards the write: a concurrent edit is not silently overwritten."""
    import chargeback.governance as governance

    read = governance.read_policies

    def read_then_someone_edits(*args: Any) -> Any:
        policies = read(*args)
        name = account.rule_set_name(policy_id("data-eng-serverless"))
        account.rule_sets[name] = {**account.rule_sets[name], "etag": "etag-edited-meanwhile"}
        return policies

    monkeypatch.setattr(governance, "read_policies", read_then_someone_edits)
    assert main(["policies", "apply", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "chargeback: error: cannot set the permissions of policy data-eng-serverless: "
        "etag does not match the current version of the rule set"
    ]


def test_plan_warns_when_a_policy_id_rule_contradicts_a_managed_policy() -> None:
    text = CONFIG.read_text().replace(
        "policy_id: 2d9a4e6c-3f5b-4c7d-9e0f-9a8b7c6d5e4f", f"policy_id: {policy_id('ml-serverless')}"
    )
    config = parse_config(text, "cfg.yml")
    ml = ExistingPolicy(policy_id("ml-serverless"), "ml-serverless", (("business_unit", "ml-platform"),))
    plan = plan_policies(config, [ml], dt.date(2026, 10, 15))
    assert plan.warnings == (
        f"attribution.budget_policies maps policy ml-serverless ({ml.policy_id}) to marketing, but its tag "
        "attributes its usage to ml-platform (tags take precedence)",
    )


# --- budgets ----------------------------------------------------------------------------------------------------


def test_budget_plan_apply_reapply(account: FakeAccount, capsys: pytest.CaptureFixture[str]) -> None:
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert plan == [
        "Account budgets:",
        "  + create chargeback/data-eng",
        "      ~ filter tag business_unit in Data Engineering, data-eng",
        "      + alert at 8000.00 USD list price/month, email bob.smith@acme.example",
        "      + alert at 10000.00 USD list price/month, email bob.smith@acme.example",
        "  + create chargeback/ml-platform",
        "      ~ filter tag business_unit in ML Platform, ml-platform",
        "      + alert at 7000.00 USD list price/month, email alice.nguyen@acme.example",
        "      + alert at 11200.00 USD list price/month, email alice.nguyen@acme.example",
        "      + alert at 14000.00 USD list price/month, email alice.nguyen@acme.example",
        "  ~ update chargeback/finance (b-finance)",
        "      ~ alert at 18000 -> 21600.00 USD list price/month, email finance-ops@acme.example",
        "      ~ alert at 22000 -> 26400.00 USD list price/month, email finance-ops@acme.example",
        "  ! not in force in the config chargeback/sales (b-sales): left alone, delete it by hand",
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        f"  note: {ONE_ALERT_NOTE}",
        "Plan: 2 to create, 1 to update, 0 unchanged, 2 left alone; nothing is deleted.",
    ]
    assert account.writes == []

    applied = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert applied[-1] == "Apply complete: 3 change(s)."
    assert account.writes == [
        ("POST", f"{BASE}/budgets"),
        ("POST", f"{BASE}/budgets"),
        ("PUT", f"{BASE}/budgets/b-finance"),
    ]
    created = next(body for method, _, body in account.calls if method == "POST")
    assert created == {
        "budget": {
            "display_name": "chargeback/data-eng",
            "filter": {
                "tags": [
                    {"key": "business_unit", "value": {"operator": "IN", "values": ["Data Engineering", "data-eng"]}}
                ]
            },
            "alert_configurations": [
                {
                    "action_configurations": [
                        {"action_type": "EMAIL_NOTIFICATION", "target": "bob.smith@acme.example"}
                    ],
                    "quantity_threshold": threshold,
                    "quantity_type": "LIST_PRICE_DOLLARS_USD",
                    "time_period": "MONTH",
                    "trigger_type": "CUMULATIVE_SPENDING_EXCEEDED",
                }
                for threshold in ("8000.00", "10000.00")
            ],
        }
    }
    finance = account.budgets["b-finance"]
    assert sorted(Decimal(a["quantity_threshold"]) for a in finance["alert_configurations"]) == [21600, 26400]
    assert account.budgets["b-marketing"]["display_name"] == "Q4 marketing push"

    writes = len(account.writes)
    replan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert replan[-1] == "No changes: the account matches the config (2 left alone)."
    assert "  = unchanged chargeback/finance" in replan
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert len(account.writes) == writes, "a second apply must not write"

    # Effective dating: in September the finance budget was 20,000, so a plan for that day changes it back.
    september = chargeback(capsys, "budgets", "plan", "--date", SEPTEMBER)
    assert "  ~ update chargeback/finance (b-finance)" in september
    assert "      ~ alert at 21600 -> 18000.00 USD list price/month, email finance-ops@acme.example" in september


def test_budgets_in_another_currency_are_converted_to_usd() -> None:
    text = CONFIG.read_text().replace("currency: USD\nprice_currency", "currency: EUR\nprice_currency")
    text = text.replace(
        "lookback_days: 30",
        "lookback_days: 30\nfx_rates:\n  - {from_currency: USD, to_currency: EUR, rate: 0.8, valid_from: 2026-02-01}",
    )
    shapes = {s.display_name: s for s in desired_budgets(parse_config(text, "cfg.yml"), dt.date(2026, 10, 1))}
    assert shapes["chargeback/data-eng"].alerts == (
        BudgetAlert(Decimal("10000.00"), ("bob.smith@acme.example",)),  # 80 % of 10,000 EUR at 0.8 EUR per USD
        BudgetAlert(Decimal("12500.00"), ("bob.smith@acme.example",)),
    )
    with pytest.raises(GovernanceError, match="no USD->EUR rate in fx_rates is in force on 2026-01-31"):
        desired_budgets(parse_config(text, "cfg.yml"), dt.date(2026, 1, 31))


def alert_ids(budget: dict[str, Any]) -> dict[Decimal, tuple[str, list[str]]]:
    """threshold -> (alert id, action ids) of a stored budget."""
    return {
        Decimal(a["quantity_threshold"]): (
            a["alert_configuration_id"],
            [c["action_configuration_id"] for c in a["action_configurations"]],
        )
        for a in budget["alert_configurations"]
    }


def test_a_budget_update_sends_back_the_alert_and_action_ids(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.1: without the ids the Budgets API creates new alerts next to the old ones, or refuses."""
    before = alert_ids(account.budgets["b-finance"])
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    put = next(body["budget"] for method, path, body in account.calls if method == "PUT" and "b-finance" in path)
    assert put["budget_configuration_id"] == "b-finance"
    # Each changed alert keeps the id of the existing alert it replaces (lowest to lowest), and its email action
    # the id of the action with that address.
    assert {(a["quantity_threshold"], a["alert_configuration_id"]) for a in put["alert_configurations"]} == {
        ("21600.00", before[Decimal(18000)][0]),
        ("26400.00", before[Decimal(22000)][0]),
    }
    assert {c["action_configuration_id"] for a in put["alert_configurations"] for c in a["action_configurations"]} == {
        action for _, actions in before.values() for action in actions
    }
    after = alert_ids(account.budgets["b-finance"])
    assert set(after) == {Decimal(21600), Decimal(26400)}
    assert sorted(after.values()) == sorted(before.values()), "no alert or action was created anew"


def test_an_account_allowing_one_alert_per_budget_gets_the_lowest_alert(
    old_account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.2: such an account refuses several alerts; apply falls back to one and says so, without failing."""
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert f"  note: {ONE_ALERT_NOTE}" in plan
    assert "      ~ alert at 22000 -> 21600.00 USD list price/month, email finance-ops@acme.example" in plan
    finance_alert = alert_ids(old_account.budgets["b-finance"])[Decimal(22000)]

    applied = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    by_name = {b["display_name"]: b for b in old_account.budgets.values()}
    data_eng, ml = by_name["chargeback/data-eng"], by_name["chargeback/ml-platform"]
    assert applied[len(plan) :] == [
        "note: the account allows one alert per budget (it refused several: Budgets must have exactly one alert "
        "configuration.); each budget gets its lowest alert only",
        f"created budget chargeback/data-eng ({data_eng['budget_configuration_id']}) with its lowest alert only, "
        "at 8000.00 USD",
        f"created budget chargeback/ml-platform ({ml['budget_configuration_id']}) with its lowest alert only, "
        "at 7000.00 USD",
        "updated budget chargeback/finance (b-finance) with its lowest alert only, at 21600.00 USD",
        "Apply complete: 3 change(s).",
    ]
    assert {name: set(alert_ids(b)) for name, b in by_name.items()} == {
        "chargeback/data-eng": {Decimal(8000)},
        "chargeback/ml-platform": {Decimal(7000)},
        "chargeback/finance": {Decimal(21600)},
        "chargeback/sales": {Decimal(100)},
        "Q4 marketing push": {Decimal(5000)},
    }
    assert alert_ids(old_account.budgets["b-finance"])[Decimal(21600)] == finance_alert, "the alert kept its ids"

    # Applying again changes nothing: the account still refuses several alerts, and each budget has its lowest.
    state = {k: dict(v) for k, v in old_account.budgets.items()}
    again = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert again[-4:] == [
        f"left chargeback/data-eng ({data_eng['budget_configuration_id']}) as is: it has its lowest alert, the one "
        "alert the account allows",
        f"left chargeback/ml-platform ({ml['budget_configuration_id']}) as is: it has its lowest alert, the one "
        "alert the account allows",
        "left chargeback/finance (b-finance) as is: it has its lowest alert, the one alert the account allows",
        "Apply complete: 0 change(s).",
    ]
    assert old_account.budgets == state


def test_a_filter_change_deletes_and_recreates_the_budget(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.3: a budget's filter cannot be edited, so a new filter is a recreate, never an update."""
    account.budgets["b-finance"]["filter"] = tag_filter("Finance")  # e.g. made by hand, or before a rename
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    finance = plan.index(
        "  -/+ recreate chargeback/finance (b-finance): a budget's filter cannot be edited, so it is deleted and "
        "created again"
    )
    assert plan[finance + 1 : finance + 4] == [
        "      ~ filter tag business_unit: Finance -> Finance, finance",
        "      ~ alert at 18000 -> 21600.00 USD list price/month, email finance-ops@acme.example",
        "      ~ alert at 22000 -> 26400.00 USD list price/month, email finance-ops@acme.example",
    ]
    assert plan[-1] == (
        "Plan: 2 to create, 0 to update, 1 to recreate, 0 unchanged, 2 left alone; "
        "1 deleted and created again (a budget's filter cannot be edited)."
    )
    applied = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert account.writes == [
        ("POST", f"{BASE}/budgets"),
        ("POST", f"{BASE}/budgets"),
        ("DELETE", f"{BASE}/budgets/b-finance"),
        ("POST", f"{BASE}/budgets"),
    ]
    new = next(b for b in account.budgets.values() if b["display_name"] == "chargeback/finance")
    assert f"recreated budget chargeback/finance (deleted b-finance, created {new['budget_configuration_id']})" in (
        applied
    )
    assert new["filter"] == tag_filter("Finance", "finance")
    assert set(alert_ids(new)) == {Decimal(21600), Decimal(26400)}
    writes = len(account.writes)
    assert chargeback(capsys, "budgets", "plan", "--date", OCTOBER)[-1].startswith("No changes")
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert len(account.writes) == writes


def test_a_second_account_budget_of_one_name_is_listed_not_dropped(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.4: two account budgets named chargeback/finance: one is managed, the other is shown, not lost."""
    account.add_budget(
        "b-finance-copy",
        "chargeback/finance",
        {"filter": tag_filter("Finance", "finance"), "alert_configurations": [alert("1", "someone@acme.example")]},
    )
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert "  ~ update chargeback/finance (b-finance)" in plan
    assert (
        "  ! duplicate chargeback/finance (b-finance-copy): another budget has this name; left alone, delete it by hand"
        in plan
    )
    assert plan[-1] == "Plan: 2 to create, 1 to update, 0 unchanged, 3 left alone; nothing is deleted."


def test_alert_levels_that_round_to_one_cent_are_sent_once() -> None:
    """Issue 14.2: each alert of a budget needs a unique threshold; two levels can round to the same cent."""
    text = CONFIG.read_text().replace(
        "  - {business_unit: data-eng, amount: 10000, warning_percent: 80, critical_percent: 100,",
        "  - {business_unit: data-eng, amount: 1, warning_percent: 80.001, critical_percent: 80.002,",
    )
    shapes = {s.display_name: s for s in desired_budgets(parse_config(text, "cfg.yml"), dt.date(2026, 10, 1))}
    assert shapes["chargeback/data-eng"].alerts == (BudgetAlert(Decimal("0.80"), ("bob.smith@acme.example",)),)


# --- the fake account is as strict as the documented API -------------------------------------------------------


def budget_call(fake: FakeAccount, method: str, budget_id: str = "", **budget: Any) -> Any:
    path = f"{BASE}/budgets" + (f"/{budget_id}" if budget_id else "")
    return fake.handle(method, path, {}, {"budget": budget})


def existing_update(fake: FakeAccount) -> dict[str, Any]:
    """An update of budget b1 that sends back everything as read: accepted."""
    b1 = copy.deepcopy(fake.budgets["b1"])
    return {k: b1[k] for k in ("budget_configuration_id", "display_name", "filter", "alert_configurations")}


FAKE_REFUSALS = [
    (
        "update without alert ids",
        lambda u: [a.pop("alert_configuration_id") for a in u["alert_configurations"]],
        "alert_configuration_id is missing",
    ),
    (
        "update without action ids",
        lambda u: [
            c.pop("action_configuration_id") for a in u["alert_configurations"] for c in a["action_configurations"]
        ],
        "action_configuration_id is missing",
    ),
    ("update of the filter", lambda u: u.update(filter=tag_filter("finance")), "filter cannot be changed"),
    (
        "update of the workspace filter",
        lambda u: u.update(filter={**u["filter"], "workspace_id": {"operator": "IN", "values": [42]}}),
        "filter cannot be changed",
    ),
    (
        "alert id of another budget",
        lambda u: u["alert_configurations"][0].update(alert_configuration_id="alert-x"),
        "does not name an alert",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in FAKE_REFUSALS], ids=[c[0] for c in FAKE_REFUSALS])
def test_the_fake_account_refuses_budget_updates_the_api_refuses(edit: Any, message: str) -> None:
    from tests.fake_account import ApiError

    fake = FakeAccount(ACCOUNT)
    fake.add_budget(
        "b1",
        "chargeback/finance",
        {"filter": tag_filter("Finance", "finance"), "alert_configurations": [alert("100", "a@acme.example")]},
    )
    ids = alert_ids(fake.budgets["b1"])
    budget_call(fake, "PUT", "b1", **existing_update(fake))
    assert alert_ids(fake.budgets["b1"]) == ids, "an update sending the ids back keeps them"
    update = existing_update(fake)
    edit(update)
    with pytest.raises(ApiError, match=message) as refused:
        budget_call(fake, "PUT", "b1", **update)
    assert refused.value.status == 400


def test_the_fake_account_enforces_the_documented_limits() -> None:
    from tests.fake_account import ApiError

    def refused(fake: FakeAccount, method: str, path: str, body: dict[str, Any], message: str) -> None:
        with pytest.raises(ApiError, match=message):
            fake.handle(method, f"{BASE}/{path}", {}, body)

    old, new = FakeAccount(ACCOUNT, alerts_per_budget=1), FakeAccount(ACCOUNT)
    two = [alert("100", "a@acme.example"), alert("200", "a@acme.example")]
    refused(old, "POST", "budgets", {"budget": {"display_name": "b", "alert_configurations": two}}, "exactly one alert")
    budget_call(new, "POST", display_name="b", alert_configurations=two)
    five = [alert(str(n)) for n in range(1, 6)]
    refused(new, "POST", "budgets", {"budget": {"display_name": "b", "alert_configurations": five}}, "up to 4 alerts")
    same = [alert("100"), alert("100.000")]
    refused(
        new,
        "POST",
        "budgets",
        {"budget": {"display_name": "b", "alert_configurations": same}},
        "unique quantity_threshold",
    )
    budget_call(new, "POST", display_name="n" * 128, alert_configurations=[alert("1")])
    refused(
        new,
        "POST",
        "budgets",
        {"budget": {"display_name": "n" * 129, "alert_configurations": [alert("1")]}},
        "display_name is longer than 128",
    )

    def policy(name: str, key: str = "k", value: str = "v") -> dict[str, Any]:
        return {
            "request_id": name[:8] + key[:8] + value[:8],
            "policy": {"policy_name": name, "custom_tags": [{"key": key, "value": value}]},
        }

    new.handle("POST", f"{BASE}/budget-policies", {}, policy("p" * 127, "k" * 512, "v" * 256))
    refused(new, "POST", "budget-policies", policy("q" * 128), "policy_name must be 1 to 127")
    refused(new, "POST", "budget-policies", policy("q", "k" * 513), "key is longer than 512")
    refused(new, "POST", "budget-policies", policy("q", "k", "v" * 257), "value is longer than 256")


# --- authentication -------------------------------------------------------------------------------------------


def test_missing_account_auth_is_one_clear_line(no_databricks_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "plan", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("chargeback: error: cannot authenticate to the Databricks account (")
    assert "DATABRICKS_ACCOUNT_ID" in err[0] and "--profile" in err[0]
    # Issue 14.5: the accounts host of each cloud.
    for host in ("accounts.cloud.databricks.com", "accounts.azuredatabricks.net", "accounts.gcp.databricks.com"):
        assert f"https://{host}" in err[0]


def test_missing_account_id_is_one_clear_line(
    account: FakeAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABRICKS_ACCOUNT_ID")
    assert main(["budgets", "plan", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("chargeback: error: no Databricks account id is configured;")
    assert [c for c in account.calls if "/accounts/" in c[1]] == []


def test_refused_credentials_are_one_clear_line(
    account: FakeAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong")
    assert main(["policies", "plan", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "chargeback: error: the account refused to list budget policies: Invalid access token "
        "(run as an account admin, with account-level auth)"
    ]


def test_profile_option_selects_a_config_profile(
    account: FakeAccount, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    profile = tmp_path / "databrickscfg"
    profile.write_text(
        f"[acme-account]\nhost = {os.environ['DATABRICKS_HOST']}\naccount_id = {ACCOUNT}\ntoken = {TOKEN}\n"
    )
    for key in ("DATABRICKS_HOST", "DATABRICKS_ACCOUNT_ID", "DATABRICKS_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(profile))
    lines = chargeback(capsys, "budgets", "plan", "--profile", "acme-account", "--date", OCTOBER)
    assert lines[-1] == "Plan: 2 to create, 1 to update, 0 unchanged, 2 left alone; nothing is deleted."


def test_the_readme_names_the_account_admin_role_and_every_cloud_host() -> None:
    """Issue 14.5: managing budgets needs the account admin role; each cloud has its own accounts host."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Governance as code") :]
    section = " ".join(section[: section.index("\n## ", 3)].split())
    assert "Run them as an account admin" in section
    assert "or a billing admin" not in section and "billing admin is not enough" in section
    for host in ("accounts.cloud.databricks.com", "accounts.azuredatabricks.net", "accounts.gcp.databricks.com"):
        assert f"https://{host}" in section
