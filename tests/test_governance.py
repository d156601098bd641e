"""Governance as code: `chargeback policies|budgets plan|apply` with the real databricks-sdk client.

The client talks to `tests.fake_account`, an account API on 127.0.0.1; a guard fails any test that opens a
connection anywhere else, so nothing reaches the internet.
"""

from __future__ import annotations

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


def seed(account: FakeAccount) -> None:
    """The synthetic account's live policies, an unmanaged budget, and two budgets named like ours."""
    for policy, grants in (
        (world.POLICY_DATA_ENG, {MANAGER: [CREATOR], USER: ["groups/data-engineers"]}),
        (world.POLICY_ML, {USER: ["groups/ml-engineers"], MANAGER: ["users/alice.nguyen@acme.example"]}),
        (world.POLICY_CUSTOMER_360, {USER: ["groups/marketing"]}),
    ):
        account.add_policy(policy.policy_id, policy.name, dict(policy.tags), grants)

    def alert(threshold: str, *emails: str) -> dict[str, Any]:
        return {
            "time_period": "MONTH",
            "trigger_type": "CUMULATIVE_SPENDING_EXCEEDED",
            "quantity_type": "LIST_PRICE_DOLLARS_USD",
            "quantity_threshold": threshold,
            "action_configurations": [{"action_type": "EMAIL_NOTIFICATION", "target": e} for e in emails],
        }

    def tag_filter(*values: str) -> dict[str, Any]:
        return {"tags": [{"key": "business_unit", "value": {"operator": "IN", "values": list(values)}}]}

    account.add_budget(
        "b-marketing", "Q4 marketing push", {"alert_configurations": [alert("5000", "cmo@acme.example")]}
    )
    account.add_budget(
        "b-finance",
        "chargeback/finance",
        {
            "filter": tag_filter("Finance", "finance"),
            "alert_configurations": [
                alert("22000.00", "finance-ops@acme.example"),
                alert("18000", "finance-ops@acme.example"),
            ],
        },
    )
    account.add_budget("b-sales", "chargeback/sales", {"alert_configurations": [alert("100")]})


@pytest.fixture
def account(no_databricks_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAccount]:
    fake = FakeAccount(ACCOUNT)
    seed(fake)
    with serve(fake) as url:
        monkeypatch.setenv("DATABRICKS_HOST", url)
        monkeypatch.setenv("DATABRICKS_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        yield fake


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
        "      + alert at 21600.00 USD list price/month, email finance-ops@acme.example",
        "      + alert at 26400.00 USD list price/month, email finance-ops@acme.example",
        "      - alert at 22000 USD, email finance-ops@acme.example",
        "      - alert at 18000 USD, email finance-ops@acme.example",
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
    assert sorted(a["quantity_threshold"] for a in finance["alert_configurations"]) == ["21600", "26400"]
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
    assert "      + alert at 18000.00 USD list price/month, email finance-ops@acme.example" in september


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


# --- authentication -------------------------------------------------------------------------------------------


def test_missing_account_auth_is_one_clear_line(no_databricks_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "plan", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("chargeback: error: cannot authenticate to the Databricks account (")
    assert "DATABRICKS_ACCOUNT_ID" in err[0] and "--profile" in err[0]


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
        "(run as an account admin or billing admin, with account-level auth)"
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
