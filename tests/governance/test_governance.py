"""Governance as code: `chargeback policies|budgets plan|apply` with the real databricks-sdk client.

The client talks to `tests.governance.fake_account`, an account API on 127.0.0.1; a guard fails any test that opens a
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

from chargeback.cli import main
from chargeback.config import parse_config
from chargeback.governance import (
    BudgetAlert,
    ExistingPolicy,
    GovernanceError,
    desired_budgets,
    plan_policies,
)
from chargeback.local import synthetic as world
from tests.governance.fake_account import CREATOR, TOKEN, FakeAccount, serve

CONFIG = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"
ACCOUNT = world.ACCOUNT_ID
BASE = f"/api/2.1/accounts/{ACCOUNT}"
ACL = f"/api/2.0/preview/accounts/{ACCOUNT}/access-control/rule-sets"
USER, MANAGER = "roles/budgetPolicy.user", "roles/budgetPolicy.manager"
OCTOBER, SEPTEMBER = "2026-10-15", "2026-09-15"
README = Path(__file__).resolve().parents[2] / "README.md"
ONE_ALERT_NOTE = (
    "some accounts still allow one alert per budget: if the account refuses several alerts and then accepts the "
    "critical alert alone, apply gives each budget its critical alert only"
)


def presumed_note(count: int) -> str:
    return (
        f"no budget in the account has more than one alert and {count} managed budget(s) hold only their critical "
        "alert: the account is taken to allow one alert per budget, and a budget holding its critical alert is "
        "unchanged"
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
    # `run` reads the policies through the name it imported into `commands`: that name is the one to patch.
    import chargeback.governance.commands as commands

    read = commands.read_policies

    def read_then_someone_edits(*args: Any) -> Any:
        policies = read(*args)
        name = account.rule_set_name(policy_id("data-eng-serverless"))
        account.rule_sets[name] = {**account.rule_sets[name], "etag": "etag-edited-meanwhile"}
        return policies

    monkeypatch.setattr(commands, "read_policies", read_then_someone_edits)
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
    # No note on alert limits: b-finance has two alerts, so this account allows several.
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


def thresholds(budget: dict[str, Any]) -> set[Decimal]:
    return {Decimal(a["quantity_threshold"]) for a in budget["alert_configurations"]}


def by_name(fake: FakeAccount) -> dict[str, dict[str, Any]]:
    """The account's budgets by display name (the last one listed, for a name held twice)."""
    return {b["display_name"]: b for b in fake.budgets.values()}


def budgets_run(
    capsys: pytest.CaptureFixture[str], action: str, *, recreate: bool = False, day: str = OCTOBER
) -> list[str]:
    """`budgets plan|apply` through `governance.run`, which takes --recreate-on-filter-change as a keyword."""
    from chargeback import governance

    governance.run("budgets", action, CONFIG, None, dt.date.fromisoformat(day), recreate_on_filter_change=recreate)
    return capsys.readouterr().out.splitlines()


def refuse(fake: FakeAccount, when: Any, error: Any, times: int = 1) -> None:
    """Make the fake refuse the next `times` calls for which `when(method, path, body)` holds."""
    left = [times]

    def failing(method: str, path: str, body: Any) -> Any:
        if left[0] and when(method, path, body):
            left[0] -= 1
            return error
        return None

    fake.fail = failing


def posting(name: str) -> Any:
    return lambda method, path, body: method == "POST" and body["budget"]["display_name"] == name


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


def test_pairing_keeps_the_alert_of_the_same_threshold_and_the_action_of_the_same_address() -> None:
    """An exact match keeps its id; only the rest take over the remaining ids, in order."""
    from chargeback.governance import ExistingAlert, pair_actions, pair_alerts

    def have(threshold: int, alert_id: str) -> ExistingAlert:
        return ExistingAlert(BudgetAlert(Decimal(threshold), ("a@x",)), alert_id, (("a@x", f"act-{alert_id}"),))

    want = [BudgetAlert(Decimal(300), ("a@x",)), BudgetAlert(Decimal(200), ("a@x",))]
    pairs = pair_alerts(want, [have(200, "two"), have(100, "one")])
    assert [(w.threshold_usd if w else None, h.alert_id if h else None) for w, h in pairs] == [
        (Decimal(200), "two"),  # the same threshold: kept, although 100 is lower
        (Decimal(300), "one"),
    ]
    assert pair_alerts(want[:1], [have(200, "two"), have(100, "one")])[1:] == [(None, have(200, "two"))]
    assert pair_actions(["b@x", "c@x"], [("a@x", "act-a"), ("b@x", "act-b")]) == [
        ("b@x", "act-b"),  # the same address: kept, although a@x comes first
        ("c@x", "act-a"),
    ]
    assert pair_actions(["b@x"], [("a@x", None)]) == [("b@x", None)]


def test_an_update_never_sends_an_empty_id() -> None:
    """An alert or action read without an id is sent without one, never as an empty string."""
    from chargeback.governance import BudgetShape, ExistingAlert, ExistingBudget, update_request

    old = BudgetAlert(Decimal(100), ("a@x",))
    existing = ExistingBudget(
        "b1",
        BudgetShape("chargeback/finance", (("business_unit", ("finance",)),), (), (old,)),
        (ExistingAlert(old, None, (("a@x", None),)),),
    )
    new = BudgetShape(
        "chargeback/finance", (("business_unit", ("finance",)),), (), (BudgetAlert(Decimal(200), ("a@x",)),)
    )
    body = update_request(new, existing, new.alerts).as_dict()
    (sent,) = body["alert_configurations"]
    assert "alert_configuration_id" not in sent
    assert sent["action_configurations"] == [{"action_type": "EMAIL_NOTIFICATION", "target": "a@x"}]
    assert body["budget_configuration_id"] == "b1"


# --- budgets: accounts that allow one alert per budget ----------------------------------------------------------

ONE_ALERT_WORDINGS = [
    "Budgets must have exactly one alert configuration.",  # [SDK-old] the older documentation
    "alert_configurations: size must be between 1 and 1",
]


@pytest.mark.parametrize("wording", ONE_ALERT_WORDINGS)
def test_an_account_allowing_one_alert_per_budget_gets_the_critical_alert(
    old_account: FakeAccount, capsys: pytest.CaptureFixture[str], wording: str
) -> None:
    """Issue 14.2: such an account refuses several alerts, whatever its words; apply retries the same write with the
    critical alert alone, and only when that is accepted takes the account to allow one alert per budget."""
    old_account.one_alert_message = wording
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert plan[-7:] == [
        "  ~ update chargeback/finance (b-finance)",
        "      ~ alert at 22000 -> 21600.00 USD list price/month, email finance-ops@acme.example",
        "      + alert at 26400.00 USD list price/month, email finance-ops@acme.example",
        "  ! not in force in the config chargeback/sales (b-sales): left alone, delete it by hand",
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        f"  note: {ONE_ALERT_NOTE}",
        "Plan: 2 to create, 1 to update, 0 unchanged, 2 left alone; nothing is deleted.",
    ]
    finance_alert = alert_ids(old_account.budgets["b-finance"])[Decimal(22000)]

    applied = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    data_eng, ml = by_name(old_account)["chargeback/data-eng"], by_name(old_account)["chargeback/ml-platform"]
    assert applied[len(plan) :] == [
        f"note: the account refused several alerts on chargeback/data-eng ({wording}) and accepted its critical "
        "alert alone: it allows one alert per budget, so each budget gets its critical alert only",
        f"created budget chargeback/data-eng ({data_eng['budget_configuration_id']}) with its critical alert only, "
        "at 10000.00 USD",
        f"created budget chargeback/ml-platform ({ml['budget_configuration_id']}) with its critical alert only, "
        "at 14000.00 USD",
        "updated budget chargeback/finance (b-finance) with its critical alert only, at 26400.00 USD",
        "Apply complete: 3 change(s).",
    ]
    # The retry is the refused request with the critical alert alone; later writes send only that alert.
    posts = [body["budget"] for method, _, body in old_account.calls if method == "POST"]
    assert [len(p["alert_configurations"]) for p in posts] == [2, 1, 1]
    assert posts[1] == {**posts[0], "alert_configurations": posts[0]["alert_configurations"][1:]}
    assert {name: thresholds(b) for name, b in by_name(old_account).items()} == {
        "chargeback/data-eng": {Decimal(10000)},
        "chargeback/ml-platform": {Decimal(14000)},
        "chargeback/finance": {Decimal(26400)},
        "chargeback/sales": {Decimal(100)},
        "Q4 marketing push": {Decimal(5000)},
    }
    assert alert_ids(old_account.budgets["b-finance"])[Decimal(26400)] == finance_alert, "the alert kept its ids"

    # Issue 14.2 (should fix 5): the next plan sees what a one-alert account holds and has nothing to do.
    state = copy.deepcopy(old_account.budgets)
    writes = len(old_account.writes)
    replan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert replan == [
        "Account budgets:",
        "  = unchanged chargeback/data-eng",
        "  = unchanged chargeback/ml-platform",
        "  = unchanged chargeback/finance",
        "  ! not in force in the config chargeback/sales (b-sales): left alone, delete it by hand",
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        f"  note: {presumed_note(3)}",
        "No changes: the account matches the config (2 left alone).",
    ]
    again = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert again[-1] == "No changes: the account matches the config (2 left alone)."
    assert len(old_account.writes) == writes and old_account.budgets == state, "a second apply must not write"


def test_a_one_alert_account_still_updates_a_changed_level(
    old_account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an account taken to allow one alert, a budget whose critical level moved is updated: the full set is
    tried first (the account may allow several by now), then the critical alert alone."""
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    september = chargeback(capsys, "budgets", "plan", "--date", SEPTEMBER)
    assert "  ~ update chargeback/finance (b-finance)" in september
    assert "  = unchanged chargeback/data-eng" in september
    assert f"  note: {presumed_note(2)}" in september
    applied = chargeback(capsys, "budgets", "apply", "--date", SEPTEMBER)
    assert applied[-2:] == [
        "updated budget chargeback/finance (b-finance) with its critical alert only, at 22000.00 USD",
        "Apply complete: 1 change(s).",
    ]
    assert thresholds(old_account.budgets["b-finance"]) == {Decimal(22000)}


def test_the_one_alert_kept_is_the_critical_level_not_the_highest() -> None:
    """An extra level above critical is an escalation; with one alert per budget the critical one is kept."""
    from chargeback.governance import critical_alert

    text = CONFIG.read_text().replace("alert_percents: [50]", "alert_percents: [120]")
    shapes = {s.display_name: s for s in desired_budgets(parse_config(text, "cfg.yml"), dt.date(2026, 10, 1))}
    ml = shapes["chargeback/ml-platform"]
    assert [a.threshold_usd for a in ml.alerts] == [Decimal("11200.00"), Decimal("14000.00"), Decimal("16800.00")]
    assert critical_alert(ml) == (BudgetAlert(Decimal("14000.00"), ("alice.nguyen@acme.example",)),)


def test_a_budget_holding_its_critical_alert_on_an_account_with_several_is_updated(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """b-finance has two alerts: the account allows several, so a budget holding only its critical alert lacks
    the others (it is not taken for a one-alert account's budget)."""
    account.add_budget(
        "b-data-eng",
        "chargeback/data-eng",
        {
            "filter": tag_filter("Data Engineering", "data-eng"),
            "alert_configurations": [alert("10000.00", "bob.smith@acme.example")],
        },
    )
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert plan[1:3] == [
        "  ~ update chargeback/data-eng (b-data-eng)",
        "      + alert at 8000.00 USD list price/month, email bob.smith@acme.example",
    ]
    assert not any(line.startswith("  note:") for line in plan)


def test_an_unrelated_refusal_on_an_account_with_several_alerts_is_an_error(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """b-finance has two alerts, so the account allows several: a 400 is not taken for a one-alert limit, whatever
    its text, and no budget loses alerts."""
    from tests.governance.fake_account import ApiError

    refuse(
        account,
        posting("chargeback/data-eng"),
        ApiError(400, "INVALID_PARAMETER_VALUE", "at most one alert configuration may email a distribution list"),
    )
    before = copy.deepcopy(account.budgets)
    assert main(["budgets", "apply", "--date", OCTOBER, "--config", str(CONFIG)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "chargeback: error: cannot create budget chargeback/data-eng: at most one alert configuration may email a "
        "distribution list"
    ]
    assert account.writes == [("POST", f"{BASE}/budgets")], "no retry with fewer alerts"
    assert account.budgets == before


def test_a_refusal_after_a_budget_took_several_alerts_is_an_error(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """No budget has two alerts yet, but this run wrote one with two: a later 400 is an error, not a limit."""
    from tests.governance.fake_account import ApiError

    account.budgets["b-finance"]["alert_configurations"] = account.budgets["b-finance"]["alert_configurations"][:1]
    refuse(account, posting("chargeback/ml-platform"), ApiError(400, "INVALID_PARAMETER_VALUE", "one alert too many"))
    assert main(["budgets", "apply", "--date", OCTOBER, "--config", str(CONFIG)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "chargeback: error: cannot create budget chargeback/ml-platform: one alert too many"
    ]
    assert account.writes == [("POST", f"{BASE}/budgets")] * 2
    assert thresholds(by_name(account)["chargeback/data-eng"]) == {Decimal(8000), Decimal(10000)}


def test_a_refusal_the_single_alert_retry_shares_is_reported_as_first_refused(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """No budget shows several alerts; the retry with one alert is refused too: not a one-alert account. The first
    refusal is the error, and nothing is written with fewer alerts."""
    from tests.governance.fake_account import ApiError

    account.budgets["b-finance"]["alert_configurations"] = account.budgets["b-finance"]["alert_configurations"][:1]

    def unverified(method: str, path: str, body: Any) -> Any:
        if method == "POST" and body["budget"]["display_name"] == "chargeback/data-eng":
            count = len(body["budget"]["alert_configurations"])
            return ApiError(400, "INVALID_PARAMETER_VALUE", f"bob.smith@acme.example is not verified ({count})")
        return None

    account.fail = unverified
    assert main(["budgets", "apply", "--date", OCTOBER, "--config", str(CONFIG)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "chargeback: error: cannot create budget chargeback/data-eng: bob.smith@acme.example is not verified (2)"
    ]
    assert account.writes == [("POST", f"{BASE}/budgets")] * 2
    assert "chargeback/data-eng" not in by_name(account)


def test_a_refused_single_alert_write_is_not_retried(
    old_account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the account is known to allow one alert, a refused write of that one alert is an error, not a probe."""
    from tests.governance.fake_account import ApiError

    refuse(old_account, posting("chargeback/ml-platform"), ApiError(400, "INVALID_PARAMETER_VALUE", "try later"))
    assert main(["budgets", "apply", "--date", OCTOBER, "--config", str(CONFIG)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "chargeback: error: cannot create budget chargeback/ml-platform: try later"
    )
    assert old_account.writes == [("POST", f"{BASE}/budgets")] * 3
    assert "chargeback/ml-platform" not in by_name(old_account)


# --- budgets: filters --------------------------------------------------------------------------------------------

FILTER_FLAG = (
    "  ! filter of chargeback/finance differs: a budget's filter is not changed in place by this tool; run with "
    "--recreate-on-filter-change to replace it"
)


def test_a_filter_change_is_flagged_and_not_applied(account: FakeAccount, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14.3: a filter that differs from the config is shown, never changed by default; the alerts are still
    updated, and the update sends the filter the budget has."""
    account.budgets["b-finance"]["filter"] = tag_filter("Finance")  # e.g. made by hand, or before a rename
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    finance = plan.index("  ~ update chargeback/finance (b-finance)")
    assert plan[finance:] == [
        "  ~ update chargeback/finance (b-finance)",
        "      ~ alert at 18000 -> 21600.00 USD list price/month, email finance-ops@acme.example",
        "      ~ alert at 22000 -> 26400.00 USD list price/month, email finance-ops@acme.example",
        FILTER_FLAG,
        "      ~ filter tag business_unit: Finance -> Finance, finance",
        "  ! not in force in the config chargeback/sales (b-sales): left alone, delete it by hand",
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        "Plan: 2 to create, 1 to update, 0 unchanged, 2 left alone, 1 filter not changed; nothing is deleted.",
    ]
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert account.writes == [("POST", f"{BASE}/budgets")] * 2 + [("PUT", f"{BASE}/budgets/b-finance")]
    put = next(body["budget"] for method, _, body in account.calls if method == "PUT")
    assert put["filter"] == tag_filter("Finance")
    assert account.budgets["b-finance"]["filter"] == tag_filter("Finance")
    assert thresholds(account.budgets["b-finance"]) == {Decimal(21600), Decimal(26400)}

    writes = len(account.writes)
    replan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert replan[-5:] == [
        FILTER_FLAG,
        "      ~ filter tag business_unit: Finance -> Finance, finance",
        "  ! not in force in the config chargeback/sales (b-sales): left alone, delete it by hand",
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        "No changes to apply (2 left alone, 1 filter not changed: see above).",
    ]
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert len(account.writes) == writes


def test_recreate_on_filter_change_creates_the_new_budget_before_deleting_the_old(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.budgets["b-finance"]["filter"] = tag_filter("Finance")
    plan = budgets_run(capsys, "plan", recreate=True)
    finance = plan.index(
        "  +/- replace chargeback/finance (b-finance): its filter differs; a new budget is created, then b-finance "
        "is deleted"
    )
    assert plan[finance + 1 : finance + 4] == [
        "      ~ filter tag business_unit: Finance -> Finance, finance",
        "      ~ alert at 18000 -> 21600.00 USD list price/month, email finance-ops@acme.example",
        "      ~ alert at 22000 -> 26400.00 USD list price/month, email finance-ops@acme.example",
    ]
    assert plan[-1] == (
        "Plan: 2 to create, 0 to update, 1 to replace, 0 unchanged, 2 left alone; "
        "1 deleted once its replacement is created."
    )
    applied = budgets_run(capsys, "apply", recreate=True)
    assert account.writes == [("POST", f"{BASE}/budgets")] * 3 + [("DELETE", f"{BASE}/budgets/b-finance")]
    new = by_name(account)["chargeback/finance"]
    new_id = new["budget_configuration_id"]
    assert applied[-3:] == [
        f"created budget chargeback/finance ({new_id}) to replace b-finance",
        f"deleted budget chargeback/finance (b-finance), replaced by {new_id}",
        "Apply complete: 3 change(s).",
    ]
    assert new["filter"] == tag_filter("Finance", "finance")
    assert thresholds(new) == {Decimal(21600), Decimal(26400)}
    writes = len(account.writes)
    assert (
        budgets_run(capsys, "plan", recreate=True)[-1] == "No changes: the account matches the config (2 left alone)."
    )
    budgets_run(capsys, "apply", recreate=True)
    assert len(account.writes) == writes


def test_a_failed_replacement_keeps_the_old_budget(account: FakeAccount, capsys: pytest.CaptureFixture[str]) -> None:
    """The create comes first: when it is refused, nothing is deleted."""
    from tests.governance.fake_account import ApiError

    account.budgets["b-finance"]["filter"] = tag_filter("Finance")
    refuse(
        account,
        posting("chargeback/finance"),
        ApiError(400, "INVALID_PARAMETER_VALUE", "target finance-ops@acme.example is not a verified address"),
    )
    with pytest.raises(
        GovernanceError,
        match=r"^cannot create budget chargeback/finance to replace b-finance \(which is kept\): target "
        "finance-ops@acme.example is not a verified address$",
    ):
        budgets_run(capsys, "apply", recreate=True)
    assert "b-finance" in account.budgets
    assert not any(method == "DELETE" for method, _ in account.writes)


def test_a_replacement_interrupted_before_the_delete_converges(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """The new budget was created, the old one could not be deleted: the next runs manage the new one (its filter
    matches), list the old one as a duplicate and write nothing, whatever order the account lists them in."""
    from tests.governance.fake_account import ApiError

    account.budgets["b-finance"]["filter"] = tag_filter("Finance")
    refuse(account, lambda method, path, body: method == "DELETE", ApiError(400, "INVALID_STATE", "budget is busy"))
    with pytest.raises(GovernanceError, match=r"^cannot delete b-finance, the budget chargeback/finance replaced by "):
        budgets_run(capsys, "apply", recreate=True)
    new_id = next(
        i for i, b in account.budgets.items() if b["display_name"] == "chargeback/finance" and i != "b-finance"
    )
    account.reorder_lists = True
    state = copy.deepcopy(account.budgets)
    writes = len(account.writes)
    for _ in range(3):
        plan = budgets_run(capsys, "apply", recreate=True)
        assert "  = unchanged chargeback/finance" in plan
        assert (
            "  ! duplicate chargeback/finance (b-finance): another budget has this name; left alone, delete it by "
            "hand" in plan
        )
        assert plan[-1] == "No changes: the account matches the config (3 left alone)."
    assert len(account.writes) == writes and account.budgets == state
    assert account.listings >= 3 and new_id in account.budgets


def test_the_fake_account_takes_a_filter_edit_in_place() -> None:
    """Terraform's databricks_budget updates `filter` in place (finops/resource_budget.go): so does the fake."""
    fake = FakeAccount(ACCOUNT)
    fake.add_budget("b1", "chargeback/finance", {"filter": tag_filter("Finance"), "alert_configurations": [alert("1")]})
    update = existing_update(fake)
    update["filter"] = tag_filter("Finance", "finance")
    budget_call(fake, "PUT", "b1", **update)
    assert fake.budgets["b1"]["filter"] == tag_filter("Finance", "finance")


def test_filters_compare_as_the_api_does() -> None:
    """Tag clauses in any order, workspace ids as a set: the same filter."""
    from chargeback.governance import BudgetShape, filter_differs

    one = BudgetShape("n", (("a", ("1",)), ("b", ("2",))), (1, 2), ())
    assert not filter_differs(one, BudgetShape("n", (("b", ("2",)), ("a", ("1",))), (1, 2), ()))
    assert filter_differs(one, BudgetShape("n", (("a", ("1",)),), (1, 2), ()))
    assert filter_differs(one, BudgetShape("n", (("a", ("1",)), ("b", ("2",))), (1,), ()))


# --- budgets: what the tool leaves alone -------------------------------------------------------------------------


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
    assert "  ~ update chargeback/finance (b-finance)" in plan  # the older one: both filters match
    assert (
        "  ! duplicate chargeback/finance (b-finance-copy): another budget has this name; left alone, delete it by hand"
        in plan
    )
    assert plan[-1] == "Plan: 2 to create, 1 to update, 0 unchanged, 3 left alone; nothing is deleted."


def test_the_managed_budget_of_a_name_is_chosen_the_same_way_on_every_run(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.4 (must fix 4): the list order is not guaranteed. The budget whose filter matches is managed, the
    other is left alone on every run, however the account lists them."""
    account.budgets["b-finance"]["filter"] = tag_filter("Finance")
    account.add_budget(
        "b-finance-copy",
        "chargeback/finance",
        {"filter": tag_filter("Finance", "finance"), "alert_configurations": [alert("1", "someone@acme.example")]},
    )
    account.reorder_lists = True
    old = copy.deepcopy(account.budgets["b-finance"])
    duplicate = (
        "  ! duplicate chargeback/finance (b-finance): another budget has this name; left alone, delete it by hand"
    )
    first = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert "  ~ update chargeback/finance (b-finance-copy)" in first and duplicate in first
    for _ in range(3):
        again = chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
        assert "  = unchanged chargeback/finance" in again and duplicate in again
    assert account.budgets["b-finance"] == old, "the budget reported as left alone is never written"
    assert thresholds(account.budgets["b-finance-copy"]) == {Decimal(21600), Decimal(26400)}
    assert account.listings >= 4


def test_the_managed_budget_is_the_one_whose_filter_matches_then_the_oldest_then_the_lowest_id() -> None:
    from itertools import permutations

    from chargeback.governance import BudgetShape, ExistingBudget, plan_budgets

    config = parse_config(CONFIG.read_text(), "cfg.yml")
    day = dt.date(2026, 10, 15)
    wanted = {s.display_name: s for s in desired_budgets(config, day)}["chargeback/finance"]

    def budget(budget_id: str, values: tuple[str, ...], created: int | None) -> ExistingBudget:
        shape = BudgetShape("chargeback/finance", (("business_unit", values),), (), wanted.alerts)
        return ExistingBudget(budget_id, shape, create_time=created)

    def managed(*budgets: ExistingBudget) -> set[str]:
        chosen = set()
        for order in permutations(budgets):
            plan = plan_budgets(config, order, day)
            duplicates = {b.budget_id for b in plan.duplicates}
            chosen |= {b.budget_id for b in budgets} - duplicates
        return chosen

    match = ("Finance", "finance")
    assert managed(budget("old", ("Finance",), 1), budget("new", match, 9)) == {"new"}
    assert managed(budget("b", match, 5), budget("a", match, 6), budget("c", ("x",), 1)) == {"b"}
    assert managed(budget("b", match, 5), budget("a", match, 5)) == {"a"}
    assert managed(budget("b", match, None), budget("a", match, None)) == {"a"}


def test_two_unmanaged_budgets_of_one_name_are_both_listed(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.add_budget("b-marketing-2", "Q4 marketing push", {"alert_configurations": [alert("7", "cmo@acme.example")]})
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert plan[-3:-1] == [
        "  ! unmanaged Q4 marketing push (b-marketing): left alone",
        "  ! unmanaged Q4 marketing push (b-marketing-2): left alone",
    ]
    assert plan[-1] == "Plan: 2 to create, 1 to update, 0 unchanged, 3 left alone; nothing is deleted."


def test_a_budget_with_settings_the_tool_does_not_model_is_left_alone(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """Should fix 6: an update replaces the whole budget; what the tool cannot carry through safely (a usage
    block, per-user alerts, a gateway budget) makes it leave the budget alone and say why."""
    finance = account.budgets["b-finance"]
    finance["resource_type"] = "BUDGET_RESOURCE_TYPE_UNITY_AI_GATEWAY"
    finance["alert_configurations"][0]["action_configurations"].append({"action_type": "BLOCK_USAGE"})
    finance["alert_configurations"][1]["scope_type"] = "ALERT_CONFIGURATION_SCOPE_TYPE_PER_USER"
    before = copy.deepcopy(finance)
    plan = chargeback(capsys, "budgets", "plan", "--date", OCTOBER)
    assert (
        "  ! unmanageable chargeback/finance (b-finance): it has what this tool does not model (resource_type "
        "BUDGET_RESOURCE_TYPE_UNITY_AI_GATEWAY, a BLOCK_USAGE action, a per-user alert); left alone, change it by "
        "hand" in plan
    )
    assert plan[-1] == "Plan: 2 to create, 0 to update, 0 unchanged, 3 left alone; nothing is deleted."
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    assert account.writes == [("POST", f"{BASE}/budgets")] * 2
    assert account.budgets["b-finance"] == before


def test_an_update_carries_through_what_the_budget_has_and_the_tool_does_not_set(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    finance = account.budgets["b-finance"]
    finance["resource_type"] = "BUDGET_RESOURCE_TYPE_ALL_RESOURCES"
    for item in finance["alert_configurations"]:
        item["scope_type"] = "ALERT_CONFIGURATION_SCOPE_TYPE_SHARED"
    chargeback(capsys, "budgets", "apply", "--date", OCTOBER)
    put = next(body["budget"] for method, _, body in account.calls if method == "PUT")
    assert put["resource_type"] == "BUDGET_RESOURCE_TYPE_ALL_RESOURCES"
    assert [a["scope_type"] for a in put["alert_configurations"]] == ["ALERT_CONFIGURATION_SCOPE_TYPE_SHARED"] * 2
    assert account.budgets["b-finance"]["resource_type"] == "BUDGET_RESOURCE_TYPE_ALL_RESOURCES"


def test_alert_levels_that_round_to_one_cent_are_sent_once() -> None:
    """Issue 14.2: each alert of a budget needs a unique threshold; two levels can round to the same cent."""
    text = CONFIG.read_text().replace(
        "  - {business_unit: data-eng, amount: 10000, warning_percent: 80, critical_percent: 100,",
        "  - {business_unit: data-eng, amount: 1, warning_percent: 80.001, critical_percent: 80.002,",
    )
    shapes = {s.display_name: s for s in desired_budgets(parse_config(text, "cfg.yml"), dt.date(2026, 10, 1))}
    assert shapes["chargeback/data-eng"].alerts == (BudgetAlert(Decimal("0.80"), ("bob.smith@acme.example",)),)


def test_the_cli_passes_recreate_on_filter_change(account: FakeAccount, capsys: pytest.CaptureFixture[str]) -> None:
    account.budgets["b-finance"]["filter"] = tag_filter("Finance")
    code = main(["budgets", "apply", "--recreate-on-filter-change", "--date", OCTOBER, "--config", str(CONFIG)])
    assert code == 0 and ("DELETE", f"{BASE}/budgets/b-finance") in account.writes


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
    (
        "alert id of another budget",
        lambda u: u["alert_configurations"][0].update(alert_configuration_id="alert-x"),
        "does not name an alert",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in FAKE_REFUSALS], ids=[c[0] for c in FAKE_REFUSALS])
def test_the_fake_account_refuses_budget_updates_the_api_refuses(edit: Any, message: str) -> None:
    from tests.governance.fake_account import ApiError

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
    from tests.governance.fake_account import ApiError

    def refused(fake: FakeAccount, method: str, path: str, body: dict[str, Any], message: str) -> None:
        with pytest.raises(ApiError, match=message):
            fake.handle(method, f"{BASE}/{path}", {}, body)

    old, new = FakeAccount(ACCOUNT, alerts_per_budget=1), FakeAccount(ACCOUNT)
    two = [alert("100", "a@acme.example"), alert("200", "a@acme.example")]
    refused(old, "POST", "budgets", {"budget": {"display_name": "b", "alert_configurations": two}}, "between 1 and 1")
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


def test_the_fake_account_lists_budgets_in_another_order_on_request() -> None:
    fake = FakeAccount(ACCOUNT, reorder_lists=True)
    for n in range(5):
        fake.add_budget(f"b{n}", f"n{n}", {"alert_configurations": [alert("1")]})

    def listing() -> list[str]:
        ids, token = [], None
        while True:
            page = fake.handle("GET", f"{BASE}/budgets", {"page_token": token} if token else {}, {})
            ids += [b["budget_configuration_id"] for b in page["budgets"]]
            token = page.get("next_page_token")
            if not token:
                return ids

    orders = [listing() for _ in range(4)]
    assert all(sorted(order) == [f"b{n}" for n in range(5)] for order in orders), "each listing is complete"
    assert len({tuple(order) for order in orders}) == 4


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
