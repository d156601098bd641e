"""Config sections for governance: managed serverless budget policies and monthly budgets."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from chargeback.config import (
    Budget,
    PolicyGrant,
    ServerlessPolicy,
    load_config,
    parse_config,
)
from chargeback.errors import ConfigError

# Sixteen lines; sections appended to it start on line 17.
BASE = """\
version: 1
currency: USD
price_currency: USD
lookback_days: 30
business_units:
  - {id: data-eng, name: Data Engineering}
  - {id: finance, name: Finance}
  - {id: marketing, name: Marketing}
attribution:
  tag_keys: [business_unit, Cost Center, team]
  tag_values:
    - {value: growth, business_unit: marketing, valid_from: 2025-01-01, valid_to: 2026-01-01}
    - {value: growth, business_unit: finance, valid_from: 2026-01-01}
    - {value: de, business_unit: data-eng, valid_from: 2025-01-01}
    - {value: CC-2001, business_unit: finance, valid_from: 2025-01-01}
  workspaces: []
"""
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"


def section(text: str) -> str:
    return BASE + textwrap.dedent(text)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yml")
    return [str(p) for p in info.value.problems]


def test_policies_and_budgets_parse_into_typed_values() -> None:
    config = parse_config(
        section("""\
        serverless_policies:
          - name: de-serverless
            business_unit: data-eng
            tags: {env: prod, Cost Center: DE, project: lakehouse}
            permissions:
              - {group: data-engineers, role: user}
              - {user: bob@example.com, role: manager}
              - {service_principal: 11111111-2222-3333-4444-555555555555, role: user}
          - {name: finance-serverless, business_unit: finance}
        budgets:
          - {business_unit: data-eng, amount: 1000.50, warning_percent: 80, critical_percent: 100,
             valid_from: 2026-01-01, valid_to: 2026-07-01, alert_percents: [50, 80], recipients: [a@example.com]}
          - {business_unit: data-eng, workspace_id: "42", billing_origin_product: JOBS, amount: "300",
             warning_percent: 90, critical_percent: 120.5, valid_from: 2026-01-01}
          - {business_unit: finance, amount: 5, warning_percent: 50, critical_percent: 75, valid_from: 2026-02-01,
             account_budget: false}
        """),
        "cfg.yml",
    )
    assert config.attribution.tag_key_names == ("business_unit", "Cost Center", "team")
    assert config.attribution.tag_keys == ("business-unit", "cost-center", "team")
    assert config.serverless_policies == (
        ServerlessPolicy(
            "de-serverless",
            "data-eng",
            (("business_unit", "data-eng"), ("env", "prod"), ("Cost Center", "DE"), ("project", "lakehouse")),
            (
                PolicyGrant("group", "data-engineers", "user"),
                PolicyGrant("user", "bob@example.com", "manager"),
                PolicyGrant("service_principal", "11111111-2222-3333-4444-555555555555", "user"),
            ),
        ),
        ServerlessPolicy("finance-serverless", "finance", (("business_unit", "finance"),)),
    )
    assert config.budgets == (
        Budget(
            business_unit="data-eng",
            amount=Decimal("1000.50"),
            warning_percent=Decimal(80),
            critical_percent=Decimal(100),
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2026, 7, 1),
            alert_percents=(Decimal(50), Decimal(80), Decimal(100)),
            recipients=("a@example.com",),
            account_budget=True,
        ),
        # A product scope cannot be an account budget: the Budgets API has no product filter.
        Budget(
            business_unit="data-eng",
            amount=Decimal(300),
            warning_percent=Decimal(90),
            critical_percent=Decimal("120.5"),
            valid_from=dt.date(2026, 1, 1),
            workspace_id="42",
            billing_origin_product="JOBS",
        ),
        Budget("finance", Decimal(5), Decimal(50), Decimal(75), dt.date(2026, 2, 1)),
    )


def test_sections_are_optional_and_the_example_config_declares_both() -> None:
    bare = parse_config(BASE, "cfg.yml")
    assert bare.serverless_policies == () and bare.budgets == ()
    example = load_config(EXAMPLE)
    assert {p.name for p in example.serverless_policies} >= {"data-eng-serverless", "ml-serverless"}
    assert any(b.account_budget for b in example.budgets) and any(not b.account_budget for b in example.budgets)


POLICY = """\
serverless_policies:
  - name: p1
    business_unit: data-eng
"""
CASES = [
    (
        "reserved tag key",
        POLICY + "    tags: {budget-policy-id: x}\n",
        "cfg.yml:20: serverless_policies[0].tags.budget-policy-id",
        "a tag key Databricks reserves for budget policies",
    ),
    (
        "reserved tag key in another case",
        POLICY + "    tags: {env: prod, Budget-Policy-Name: x}\n",
        "cfg.yml:20: serverless_policies[0].tags.Budget-Policy-Name",
        "a tag key Databricks reserves for budget policies",
    ),
    (
        "reserved resolution-result key",
        POLICY + "    tags:\n      budget-policy-resolution-result: x\n",
        "cfg.yml:21: serverless_policies[0].tags.budget-policy-resolution-result",
        "a tag key Databricks reserves for budget policies",
    ),
    (
        "duplicate policy name",
        POLICY + "  - {name: P1, business_unit: data-eng}\n",
        "cfg.yml:20: serverless_policies[1].name",
        "duplicate policy name (first used by serverless_policies[0], line 18)",
    ),
    (
        "tag value naming another unit",
        POLICY + "    tags: {team: Finance}\n",
        "cfg.yml:20: serverless_policies[0].tags.team",
        "business-unit tag team=Finance would attribute usage to finance, not to the policy's business unit 'data-eng'",
    ),
    (
        "tag value alias of another unit",
        POLICY + "    tags: {Cost-Center: cc_2001}\n",
        "cfg.yml:20: serverless_policies[0].tags.Cost-Center",
        "would attribute usage to finance",
    ),
    (
        "effective-dated alias that once named another unit",
        POLICY.replace("data-eng", "finance") + "    tags: {team: Growth}\n",
        "cfg.yml:20: serverless_policies[0].tags.team",
        "would attribute usage to marketing",
    ),
    (
        "business-unit tag selecting no unit",
        POLICY + "    tags: {team: nobody}\n",
        "cfg.yml:20: serverless_policies[0].tags.team",
        "selects no business unit",
    ),
    (
        "first tag key given by hand",
        POLICY + "    tags: {BusinessUnit: data-eng}\n",
        "cfg.yml:20: serverless_policies[0].tags.BusinessUnit",
        "sets from business_unit itself",
    ),
    (
        "too many tags",
        POLICY + "    tags: {" + ", ".join(f"k{i}: v" for i in range(20)) + "}\n",
        "cfg.yml:20: serverless_policies[0].tags",
        "exceed the 20 tags",
    ),
    (
        "unknown unit",
        POLICY.replace("data-eng", "data_eng"),
        "cfg.yml:19: serverless_policies[0].business_unit",
        "unknown business unit",
    ),
    (
        "non-latin-1 name",
        POLICY.replace("p1", "données-€"),
        "cfg.yml:18: serverless_policies[0].name",
        "latin-1",
    ),
    (
        "reserved name prefix",
        POLICY.replace("p1", "'databricks:default-policy-x'"),
        "cfg.yml:18: serverless_policies[0].name",
        "reserved by Databricks",
    ),
    (
        "grant without principal",
        POLICY + "    permissions:\n      - {role: user}\n",
        "cfg.yml:21: serverless_policies[0].permissions[0]",
        "exactly one of user, group, service_principal",
    ),
    (
        "grant with two principals",
        POLICY + "    permissions:\n      - {user: a@example.com, group: g, role: user}\n",
        "cfg.yml:21: serverless_policies[0].permissions[0]",
        "exactly one of",
    ),
    (
        "unknown role",
        POLICY + "    permissions:\n      - {group: g, role: owner}\n",
        "cfg.yml:21: serverless_policies[0].permissions[0].role",
        "unknown value 'owner'",
    ),
    (
        "principal granted twice",
        POLICY + "    permissions:\n      - {group: g, role: user}\n      - {group: g, role: manager}\n",
        "cfg.yml:22: serverless_policies[0].permissions[1]",
        "group 'g' is already granted by serverless_policies[0].permissions[0] (line 21)",
    ),
    # Issue 14.4: the lengths the budget policy API documents (policy_name 1..127, tag key 1..512, value <= 256).
    (
        "policy name over 127 characters",
        POLICY.replace("p1", "p" * 128),
        "cfg.yml:18: serverless_policies[0].name",
        "is 128 characters; a policy name has at most 127",
    ),
    (
        "tag key over 512 characters",
        POLICY + "    tags: {" + "k" * 513 + ": v}\n",
        "cfg.yml:20: serverless_policies[0].tags." + "k" * 56 + "...",  # the path does not print the key in full
        "is 513 characters; a policy tag key has at most 512",
    ),
    (
        "tag value over 256 characters",
        POLICY + "    tags: {env: " + "v" * 257 + "}\n",
        "cfg.yml:20: serverless_policies[0].tags.env",
        "is 257 characters; a policy tag value has at most 256",
    ),
    # budgets
    (
        "budget not starting on a month",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-15}\n",
        "cfg.yml:18: budgets[0].valid_from",
        "must be the first day of a month",
    ),
    (
        "warning not below critical",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 100, critical_percent: 100, "
        "valid_from: 2026-01-01}\n",
        "cfg.yml:18: budgets[0].warning_percent",
        "must be below critical_percent 100",
    ),
    (
        "zero amount",
        "budgets:\n  - {business_unit: finance, amount: 0, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01}\n",
        "cfg.yml:18: budgets[0].amount",
        "greater than 0",
    ),
    (
        "amount with fractions of a cent",
        "budgets:\n  - {business_unit: finance, amount: 1.001, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01}\n",
        "cfg.yml:18: budgets[0].amount",
        "more than 2 decimal places",
    ),
    (
        "too many alert levels",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01, alert_percents: [10, 20, 30]}\n",
        "cfg.yml:18: budgets[0].alert_percents",
        "5 alert levels",
    ),
    (
        "account budget with a product",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01, billing_origin_product: SQL, account_budget: true}\n",
        "cfg.yml:18: budgets[0].account_budget",
        "cannot have billing_origin_product",
    ),
    (
        "recipients on a budget that is not an account budget",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01, account_budget: false, recipients: [a@example.com]}\n",
        "cfg.yml:18: budgets[0].recipients",
        "applies only to account budgets",
    ),
    (
        "two account budgets of one name",
        "budgets:\n  - {business_unit: finance, workspace_id: '42', amount: 1, warning_percent: 80, "
        "critical_percent: 100, valid_from: 2026-01-01}\n  - {business_unit: finance, workspace_id: '042', amount: 2, "
        "warning_percent: 80, critical_percent: 100, valid_from: 2026-03-01}\n",
        "cfg.yml:19: budgets[1]",
        "account budget name 'chargeback/finance/workspace/42' is also the name of budgets[0] (line 18) in an "
        "overlapping period",
    ),
    (
        "overlapping budgets of one scope",
        "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01}\n  - {business_unit: finance, amount: 2, warning_percent: 80, "
        "critical_percent: 100, valid_from: 2026-03-01}\n",
        "cfg.yml:19: budgets[1]",
        "overlaps [2026-01-01, open) of budgets[0] (line 18)",
    ),
]


@pytest.mark.parametrize(("text", "location", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_with_location(text: str, location: str, fragment: str) -> None:
    found = problems(BASE + text)
    assert any(p.startswith(f"{location}: ") and fragment in p for p in found), "\n".join(found)


def test_policies_need_a_business_unit_tag_key() -> None:
    no_keys = BASE.replace("  tag_keys: [business_unit, Cost Center, team]\n", "")
    found = problems(
        no_keys + POLICY + "budgets:\n  - {business_unit: finance, amount: 1, warning_percent: 80, "
        "critical_percent: 100, valid_from: 2026-01-01}\n"
    )
    assert any(p.startswith("cfg.yml:17: serverless_policies[0]: ") and "tag_keys is empty" in p for p in found)
    assert any(p.startswith("cfg.yml:20: budgets[0]: ") and "tag_keys entry, which is empty" in p for p in found)


def test_consistent_business_unit_tags_are_accepted() -> None:
    config = parse_config(BASE + POLICY + "    tags: {team: Data Engineering, cost_center: DE}\n", "cfg.yml")
    assert config.serverless_policies[0].tags == (
        ("business_unit", "data-eng"),
        ("team", "Data Engineering"),
        ("cost_center", "DE"),
    )


def test_validate_config_command_rejects_a_policy_that_contradicts_attribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chargeback.cli import main

    path = tmp_path / "cfg.yml"
    path.write_text(BASE + POLICY + "    tags: {team: Finance, budget-policy-name: x}\n", encoding="utf-8")
    assert main(["validate-config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:20: serverless_policies[0].tags.team: business-unit tag team=Finance would attribute usage to "
        "finance, not to the policy's business unit 'data-eng'",
        f"{path}:20: serverless_policies[0].tags.budget-policy-name: 'budget-policy-name' is a tag key Databricks "
        "reserves for budget policies",
        f"{path}: 2 problem(s)",
    ]


def with_unit(unit_id: str) -> str:
    """BASE with one more business unit: seventeen lines, so sections appended to it start on line 18."""
    marketing = "  - {id: marketing, name: Marketing}\n"
    return BASE.replace(marketing, marketing + f"  - {{id: {unit_id}, name: Long}}\n")


def test_an_account_budget_name_over_128_characters_is_a_problem() -> None:
    """Issue 14.4: the Budgets API takes display names of at most 128 characters: chargeback/<unit>[/workspace/<id>]."""
    longest = "u" * (128 - len("chargeback/"))
    budget = (
        "budgets:\n  - {business_unit: %s, amount: 1, warning_percent: 80, critical_percent: 100, "
        "valid_from: 2026-01-01%s}\n"
    )
    config = parse_config(with_unit(longest) + budget % (longest, ""), "cfg.yml")
    assert len(config.budgets) == 1
    found = problems(with_unit(longest + "u") + budget % (longest + "u", ""))
    assert found == [
        "cfg.yml:19: budgets[0].business_unit: account budget name 'chargeback/"
        + "u" * 118
        + "' is 129 characters; the Budgets API allows at most 128 (use a shorter unit id, or account_budget: false)"
    ]
    # The unit id fits; the workspace suffix makes the name too long: reported at workspace_id.
    found = problems(with_unit(longest) + budget % (longest, ", workspace_id: '7'"))
    assert len(found) == 1 and found[0].startswith("cfg.yml:19: budgets[0].workspace_id: account budget name ")
    assert "is 140 characters" in found[0]
    found = problems(with_unit(longest + "u") + budget % (longest + "u", ", workspace_id: '7'"))
    assert len(found) == 1 and found[0].startswith("cfg.yml:19: budgets[0].business_unit: account budget name ")
    # Not an account budget: no name, no limit.
    parse_config(with_unit(longest + "u") + budget % (longest + "u", ", account_budget: false"), "cfg.yml")


def test_policy_limits_accept_their_maximum() -> None:
    config = parse_config(
        BASE + POLICY.replace("p1", "p" * 127) + "    tags: {" + "k" * 512 + ": " + "v" * 256 + "}\n", "cfg.yml"
    )
    assert config.serverless_policies[0].name == "p" * 127
    assert config.serverless_policies[0].tags[1] == ("k" * 512, "v" * 256)


def test_a_policy_whose_unit_id_is_too_long_for_a_tag_value_is_a_problem() -> None:
    unit = "u" * 257
    found = problems(with_unit(unit) + f"serverless_policies:\n  - {{name: p1, business_unit: {unit}}}\n")
    assert any(
        p.startswith("cfg.yml:19: serverless_policies[0].business_unit: ")
        and "257 characters; a policy tag value has at most 256" in p
        for p in found
    ), found


def test_account_budgets_of_one_name_in_back_to_back_periods_are_accepted() -> None:
    """Workspace 42 written two ways is one budget name, but one period ends when the other starts: no overlap."""
    config = parse_config(
        BASE + "budgets:\n  - {business_unit: finance, workspace_id: '42', amount: 1, warning_percent: 80, "
        "critical_percent: 100, valid_from: 2026-01-01, valid_to: 2026-03-01}\n  - {business_unit: finance, "
        "workspace_id: '042', amount: 2, warning_percent: 80, critical_percent: 100, valid_from: 2026-03-01}\n",
        "cfg.yml",
    )
    assert [b.workspace_id for b in config.budgets] == ["42", "042"]


def test_every_problem_of_a_policy_tag_is_reported() -> None:
    """A tag whose key is reserved and whose value is too long: both problems, not the first one found."""
    found = problems(BASE + POLICY + "    tags: {budget-policy-id: " + "v" * 257 + "}\n")
    assert [p.split(": ", 2)[1:] for p in found] == [
        [
            "serverless_policies[0].tags.budget-policy-id",
            "'budget-policy-id' is a tag key Databricks reserves for budget policies",
        ],
        [
            "serverless_policies[0].tags.budget-policy-id",
            "'" + "v" * 55 + "...' is 257 characters; a policy tag value has at most 256",
        ],
    ]
    found = problems(BASE + POLICY + "    tags: {" + "k" * 513 + ": " + "v" * 257 + "}\n")
    assert len(found) == 2 and "a policy tag key has at most 512" in found[0]
    assert "a policy tag value has at most 256" in found[1]
    assert all(len(p) < 250 for p in found), found  # neither the path nor the message holds the 513 characters
