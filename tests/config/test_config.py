"""Config loading and validation: every problem is found, located and reported in one pass."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargeback.config import (
    CONFIG_TABLES,
    UNALLOCATED,
    BusinessUnit,
    Config,
    IdleRule,
    PoolMatch,
    SharedPool,
    TagValueRule,
    config_frames,
    in_force,
    load_config,
    normalise,
    parse_config,
    validate_config_file,
)
from chargeback.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Eight lines; sections appended to it start on line 9.
BASE = """\
version: 1
currency: USD
price_currency: USD
lookback_days: 30
business_units:
  - {id: engineering, name: Engineering}
  - {id: data-eng, name: Data Engineering, parent: engineering, cost_center: CC-1001}
  - {id: finance, name: Finance}
"""

FULL = (
    BASE.replace("currency: USD\n", "currency: EUR\n", 1)
    + """\
fx_rates:
  - {from_currency: USD, to_currency: EUR, rate: 0.1, valid_from: 2025-01-01, valid_to: 2026-01-01}
  - {from_currency: USD, to_currency: EUR, rate: "0.92", valid_from: 2026-01-01}
attribution:
  tag_keys: [business_unit, Cost Center]
  tag_values:
    - {value: "DE", business_unit: data-eng, valid_from: 2025-01-01}
  budget_policies:
    - {policy_id: p-1, business_unit: data-eng, valid_from: 2025-01-01, valid_to: 2026-01-01}
    - {policy_id: p-1, business_unit: finance, valid_from: 2026-01-01}
  workloads:
    - {workload_type: job, workload_id: 123456789, business_unit: finance, valid_from: 2025-01-01}
  identities:
    - {identity: alice@example.com, business_unit: finance, valid_from: 2025-01-01}
  workspaces:
    - {workspace_id: "1234567890123456", business_unit: engineering, valid_from: 2025-01-01}
discounts:
  - {billing_origin_product: SQL, sku_pattern: "PREMIUM_*", percent: 12.5, valid_from: 2025-01-01}
shared_costs:
  - id: networking
    match: {billing_origin_products: [NETWORKING], unallocated: true}
    method: proportional
    same_product: true
  - id: platform
    match: {sku_patterns: ["*_STORAGE_*"]}
    method: fixed
    percentages: {data-eng: "33.3333", finance: "33.3333", engineering: "33.3334"}
  - id: leftovers
    match: {unallocated: true}
    method: central
    business_unit: engineering
  - id: bi-warehouse
    match: {warehouse_ids: [b2e4d6f8a0c3e5b7], workspace_ids: ["1234567890123456"]}
    method: consumption
    idle: {method: unit, business_unit: finance}
closed_months: ["2026-08", 2026-07]
"""
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yml")
    assert info.value.problems, "ConfigError without problems"
    return [str(p) for p in info.value.problems]


def assert_problem(text: str, location: str, fragment: str) -> None:
    found = problems(text)
    assert any(p.startswith(f"{location}: ") and fragment in p for p in found), "\n".join(found)


def section(text: str) -> str:
    return BASE + textwrap.dedent(text)


# --- normalise and the happy path --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Data-Eng", "data-eng"),
        ("data_eng", "data-eng"),
        ("DATA ENG", "data-eng"),
        ("  --Data__ENG!! ", "data-eng"),
        ("Équipe Données", "équipe-données"),
        ("データ 2", "データ-2"),
        ("🚀 team", "team"),
        ("---", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_full_config_parses_into_typed_values() -> None:
    config = parse_config(FULL, "cfg.yml")
    assert config.currency == "EUR" and config.price_currency == "USD" and config.source == "cfg.yml"
    assert config.unit_ids == ("engineering", "data-eng", "finance")
    assert config.business_units[1] == BusinessUnit("data-eng", "Data Engineering", "engineering", "CC-1001")
    # YAML numbers are read from their source text: 0.1 is exactly Decimal("0.1"), never a float.
    assert [r.rate for r in config.fx_rates] == [Decimal("0.1"), Decimal("0.92")]
    assert config.discounts[0].percent == Decimal("12.5")
    assert config.attribution.tag_keys == ("business-unit", "cost-center")
    assert config.attribution.tag_values == (TagValueRule("de", "data-eng", dt.date(2025, 1, 1), None),)
    assert config.attribution.workloads[0].workload_id == "123456789"
    fixed = config.shared_costs[1]
    assert fixed.business_units == ("data-eng", "finance", "engineering")
    assert sum(p for _, p in fixed.percentages) == 100
    assert config.shared_costs[2] == SharedPool(
        "leftovers", PoolMatch(unallocated=True), "central", False, ("engineering",), (), "engineering"
    )
    assert config.closed_months == (dt.date(2026, 7, 1), dt.date(2026, 8, 1))
    assert config.is_closed(dt.date(2026, 8, 1)) and not config.is_closed(dt.date(2026, 9, 1))


def test_optional_sections_default_to_empty_and_pools_to_all_units() -> None:
    config = parse_config(
        section("""\
        attribution:
          budget_policies:
        shared_costs:
          - {id: even-split, match: {billing_origin_products: [SQL]}, method: even}
        """),
        "cfg.yml",
    )
    assert config.attribution.budget_policies == () and config.discounts == () and config.closed_months == ()
    assert config.shared_costs[0].business_units == config.unit_ids


@pytest.mark.parametrize(
    ("idle", "expected"),
    [
        ("", IdleRule("spread")),
        ("idle: {method: spread}", IdleRule("spread")),
        ("idle: {method: unit, business_unit: finance}", IdleRule("unit", "finance")),
        ("idle: {method: keep}", IdleRule("keep")),
    ],
    ids=["default", "spread", "unit", "keep"],
)
def test_consumption_pool_parses_with_its_idle_rule(idle: str, expected: IdleRule) -> None:
    config = parse_config(
        section(f"""\
        shared_costs:
          - id: bi
            match: {{warehouse_ids: [wh-1, wh-2], workspace_ids: ["1"], sku_patterns: ["*SQL*"], unallocated: false}}
            method: consumption
            {idle}
        """),
        "cfg.yml",
    )
    (pool,) = config.shared_costs
    match = PoolMatch(warehouse_ids=("wh-1", "wh-2"), workspace_ids=("1",), sku_patterns=("*SQL*",), unallocated=False)
    # No target units: the cost goes to the identities that used the warehouses.
    assert pool == SharedPool("bi", match, "consumption", False, (), (), None, expected)


def test_only_consumption_pools_have_an_idle_rule() -> None:
    assert [pool.idle for pool in parse_config(FULL, "cfg.yml").shared_costs] == [
        None,
        None,
        None,
        IdleRule("unit", "finance"),
    ]


def test_adjacent_validity_periods_do_not_overlap() -> None:
    config = parse_config(FULL, "cfg.yml")
    first, second = config.attribution.budget_policies
    assert first.valid_to == second.valid_from  # valid_to is exclusive
    day = dt.date(2026, 1, 1)  # the day the policy changes hands: only the second rule is in force
    assert [in_force(rule, day) for rule in (first, second)] == [False, True]
    assert in_force(first, first.valid_from) and not in_force(first, first.valid_from - dt.timedelta(days=1))
    assert in_force(second, dt.date(9999, 12, 31))  # open-ended


def test_load_config_and_validate_config_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(FULL, encoding="utf-8")
    bad.write_text(BASE.replace("lookback_days: 30", "lookback_days: 0"), encoding="utf-8")
    assert load_config(good).source == str(good)
    assert validate_config_file(good) == []
    assert validate_config_file(bad) == [ConfigProblem(f"{bad}:4: lookback_days", "0 is outside 1..365")]
    missing = validate_config_file(tmp_path / "missing.yml")
    assert len(missing) == 1 and "cannot read the config file" in missing[0].message


# --- every problem, located --------------------------------------------------------------------------------

CASES = [
    # YAML itself
    ("syntax error", "version: 1\ncurrency: [USD\nlookback_days: 3\n", "cfg.yml:3", "YAML syntax error"),
    (
        "duplicate top-level key",
        BASE + "currency: EUR\n",
        "cfg.yml:9: currency",
        "duplicate key (first given on line 2)",
    ),
    (
        "duplicate nested key",
        section("""\
        attribution:
          identities:
            - identity: a@example.com
              identity: b@example.com
              business_unit: finance
              valid_from: 2025-01-01
        """),
        "cfg.yml:12: attribution.identities[0].identity",
        "duplicate key",
    ),
    ("merge key", BASE + "<<: {x: 1}\n", "cfg.yml:9", "merge keys"),
    ("empty file", "", "cfg.yml:1", "empty"),
    ("top-level list", "- 1\n- 2\n", "cfg.yml:1", "expected a mapping, got a list"),
    # keys
    (
        "unknown top-level key",
        BASE + "busines_units: []\n",
        "cfg.yml:9: busines_units",
        "did you mean 'business_units'",
    ),
    (
        "unknown nested key",
        BASE.replace("{id: finance, name: Finance}", "{id: finance, name: Finance, cost_centre: X}"),
        "cfg.yml:8: business_units[2].cost_centre",
        "unknown key (did you mean 'cost_center'?)",
    ),
    ("missing top-level field", BASE.replace("lookback_days: 30\n", ""), "cfg.yml:1: lookback_days", "missing"),
    (
        "missing rule field",
        section("""\
        attribution:
          budget_policies:
            - {policy_id: p-1, valid_from: 2025-01-01}
        """),
        "cfg.yml:11: attribution.budget_policies[0].business_unit",
        "required field is missing",
    ),
    ("missing unit name", BASE.replace(", name: Finance", ""), "cfg.yml:8: business_units[2].name", "missing"),
    # types
    ("quoted integer", BASE.replace("lookback_days: 30", 'lookback_days: "30"'), "cfg.yml:4: lookback_days", "whole"),
    ("list expected", BASE + "discounts: {a: 1}\n", "cfg.yml:9: discounts", "expected a list, got a mapping"),
    (
        "float id",
        section("""\
        attribution:
          workloads:
            - {workload_type: job, workload_id: 1.5, business_unit: finance, valid_from: 2025-01-01}
        """),
        "cfg.yml:11: attribution.workloads[0].workload_id",
        "expected a string, got a decimal number (quote it)",
    ),
    (
        "boolean name",
        BASE.replace("name: Finance", "name: yes"),
        "cfg.yml:8: business_units[2].name",
        "expected a string, got a boolean",
    ),
    ("version", BASE.replace("version: 1", "version: 2"), "cfg.yml:1: version", "unsupported version 2"),
    # business units
    (
        "unknown unit in a rule",
        section("""\
        attribution:
          identities:
            - {identity: a@example.com, business_unit: Finance, valid_from: 2025-01-01}
        """),
        "cfg.yml:11: attribution.identities[0].business_unit",
        "unknown business unit 'Finance' (did you mean 'finance'?)",
    ),
    (
        "unknown parent",
        BASE.replace("{id: finance, name: Finance}", "{id: finance, name: Finance, parent: enginering}"),
        "cfg.yml:8: business_units[2].parent",
        "unknown business unit 'enginering' (did you mean 'engineering'?)",
    ),
    (
        "duplicate unit id",
        BASE + "  - {id: finance, name: Finance Two}\n",
        "cfg.yml:9: business_units[3].id",
        "clashes with business_units[2].id",
    ),
    (
        "unit name clashing after normalisation",
        BASE + "  - {id: fin, name: FINANCE}\n",
        "cfg.yml:9: business_units[3].name",
        "clashes with business_units[2].id: both normalise to 'finance'",
    ),
    (
        "unit id clashing with another name after normalisation",
        BASE + "  - {id: data_engineering, name: DE}\n",
        "cfg.yml:9: business_units[3].id",
        "clashes with business_units[1].name",
    ),
    (
        "parent cycle",
        BASE.replace("{id: engineering, name: Engineering}", "{id: engineering, name: Engineering, parent: data-eng}"),
        "cfg.yml:6: business_units[0].parent",
        "parent cycle: engineering -> data-eng -> engineering",
    ),
    (
        "self parent",
        BASE.replace("{id: finance, name: Finance}", "{id: finance, name: Finance, parent: finance}"),
        "cfg.yml:8: business_units[2].parent",
        "parent cycle: finance -> finance",
    ),
    ("reserved id", BASE + "  - {id: unallocated, name: Nobody}\n", "cfg.yml:9: business_units[3].id", "reserved"),
    ("reserved name", BASE + "  - {id: nobody, name: UNALLOCATED}\n", "cfg.yml:9: business_units[3].name", "cannot"),
    ("invalid id", BASE + "  - {id: Data Eng, name: X}\n", "cfg.yml:9: business_units[3].id", "not a valid id"),
    ("no units", BASE[: BASE.index("  - ")] + "  []\n", "cfg.yml:6: business_units", "at least one"),
    # dates and validity
    (
        "bad date",
        section("""\
        attribution:
          workspaces:
            - {workspace_id: "1", business_unit: finance, valid_from: 2025-02-30}
        """),
        "cfg.yml:11: attribution.workspaces[0].valid_from",
        "expected a date YYYY-MM-DD, got '2025-02-30'",
    ),
    (
        "valid_to not after valid_from",
        section("""\
        attribution:
          budget_policies:
            - {policy_id: p, business_unit: finance, valid_from: 2025-01-01}
            - {policy_id: q, business_unit: finance, valid_from: 2025-01-01, valid_to: 2025-01-01}
        """),
        "cfg.yml:12: attribution.budget_policies[1].valid_to",
        "valid_to 2025-01-01 must be after valid_from 2025-01-01",
    ),
    (
        "overlapping policies",
        section("""\
        attribution:
          budget_policies:
            - {policy_id: p, business_unit: finance, valid_from: 2025-01-01, valid_to: 2025-07-01}
            - {policy_id: p, business_unit: data-eng, valid_from: 2025-06-30}
        """),
        "cfg.yml:12: attribution.budget_policies[1]",
        "overlaps [2025-01-01, 2025-07-01) of attribution.budget_policies[0] (line 11) for the same policy_id 'p'",
    ),
    (
        "overlapping tag values after normalisation",
        section("""\
        attribution:
          tag_values:
            - {value: Fin Ops, business_unit: finance, valid_from: 2025-01-01}
            - {value: fin_ops, business_unit: data-eng, valid_from: 2026-01-01}
        """),
        "cfg.yml:12: attribution.tag_values[1]",
        "for the same tag value 'fin-ops'",
    ),
    (
        "overlapping workloads",
        section("""\
        attribution:
          workloads:
            - {workload_type: job, workload_id: "1", business_unit: finance, valid_from: 2025-01-01}
            - {workload_type: job, workload_id: "1", business_unit: finance, valid_from: 2024-01-01}
        """),
        "cfg.yml:11: attribution.workloads[0]",
        "for the same workload",
    ),
    (
        "overlapping identities",
        section("""\
        attribution:
          identities:
            - {identity: a@example.com, business_unit: finance, valid_from: 2025-01-01}
            - {identity: a@example.com, business_unit: finance, valid_from: 2025-03-01, valid_to: 2025-04-01}
        """),
        "cfg.yml:12: attribution.identities[1]",
        "for the same identity",
    ),
    (
        "overlapping workspaces",
        section("""\
        attribution:
          workspaces:
            - {workspace_id: "42", business_unit: finance, valid_from: 2025-01-01}
            - {workspace_id: "42", business_unit: finance, valid_from: 2025-01-01}
        """),
        "cfg.yml:12: attribution.workspaces[1]",
        "for the same workspace_id '42'",
    ),
    (
        "overlapping discounts",
        section("""\
        discounts:
          - {billing_origin_product: SQL, percent: 10, valid_from: 2025-01-01}
          - {billing_origin_product: SQL, percent: 20, valid_from: 2025-06-01}
        """),
        "cfg.yml:11: discounts[1]",
        "overlaps",
    ),
    (
        "overlapping fx rates",
        section("""\
        fx_rates:
          - {from_currency: USD, to_currency: EUR, rate: 0.9, valid_from: 2025-01-01}
          - {from_currency: USD, to_currency: EUR, rate: 0.8, valid_from: 2025-06-01}
        """),
        "cfg.yml:11: fx_rates[1]",
        "for the same currency pair",
    ),
    (
        "tag value that is another unit's name",
        section("""\
        attribution:
          tag_values:
            - {value: Data Engineering, business_unit: finance, valid_from: 2025-01-01}
        """),
        "cfg.yml:11: attribution.tag_values[0].value",
        "business unit 'data-eng'",
    ),
    (
        "tag keys equal after normalisation",
        section("""\
        attribution:
          tag_keys: [team, Team]
        """),
        "cfg.yml:10: attribution.tag_keys[1]",
        "already listed",
    ),
    # workloads and currencies
    (
        "unknown workload type",
        section("""\
        attribution:
          workloads:
            - {workload_type: jobs, workload_id: "1", business_unit: finance, valid_from: 2025-01-01}
        """),
        "cfg.yml:11: attribution.workloads[0].workload_type",
        "unknown value 'jobs' (did you mean 'job'?)",
    ),
    ("bad currency", BASE.replace("currency: USD", "currency: usd", 1), "cfg.yml:2: currency", "ISO 4217"),
    ("bad price currency", BASE.replace("price_currency: USD", "price_currency: US$"), "cfg.yml:3", "ISO 4217"),
    (
        "currency without fx rate",
        BASE.replace("currency: USD", "currency: EUR", 1),
        "cfg.yml:2: currency",
        "fx_rates has no rate with from_currency USD and to_currency EUR",
    ),
    (
        "fx rate in the wrong direction",
        BASE.replace("currency: USD", "currency: EUR", 1)
        + "fx_rates: [{from_currency: EUR, to_currency: USD, rate: 1.1, valid_from: 2025-01-01}]\n",
        "cfg.yml:2: currency",
        "no rate with from_currency USD",
    ),
    (
        "fx rates with a gap",
        BASE.replace("currency: USD", "currency: EUR", 1)
        + textwrap.dedent("""\
        fx_rates:
          - {from_currency: USD, to_currency: EUR, rate: 0.9, valid_from: 2025-01-01, valid_to: 2025-02-01}
          - {from_currency: USD, to_currency: EUR, rate: 0.8, valid_from: 2025-03-01}
        """),
        "cfg.yml:11: fx_rates[1]",
        "no USD->EUR rate covers [2025-02-01, 2025-03-01)",
    ),
    (
        "fx rates ending",
        BASE.replace("currency: USD", "currency: EUR", 1)
        + "fx_rates: [{from_currency: USD, to_currency: EUR, rate: 1, valid_from: 2025-01-01, valid_to: 2026-01-01}]\n",
        "cfg.yml:2: currency",
        "rates end on 2026-01-01",
    ),
    (
        "fx rate of zero",
        section("""\
        fx_rates: [{from_currency: USD, to_currency: EUR, rate: "0", valid_from: 2025-01-01}]
        """),
        "cfg.yml:9: fx_rates[0].rate",
        "greater than 0",
    ),
    ("lookback 0", BASE.replace("lookback_days: 30", "lookback_days: 0"), "cfg.yml:4: lookback_days", "1..365"),
    ("lookback 366", BASE.replace("lookback_days: 30", "lookback_days: 366"), "cfg.yml:4: lookback_days", "1..365"),
    ("closed month 13", BASE + 'closed_months: ["2026-13"]\n', "cfg.yml:9: closed_months[0]", "YYYY-MM"),
    ("closed month as date", BASE + "closed_months: [2026-08-01]\n", "cfg.yml:9: closed_months[0]", "YYYY-MM"),
    ("closed month twice", BASE + "closed_months: [2026-08, '2026-08']\n", "cfg.yml:9: closed_months[1]", "twice"),
    # discounts
    *(
        (
            f"discount percent {value}",
            section(f"""\
            discounts:
              - {{sku_pattern: "*", percent: {value}, valid_from: 2025-01-01}}
            """),
            "cfg.yml:10: discounts[0].percent",
            message,
        )
        for value, message in [
            ("101", "outside [0, 100]"),
            ("-1", "outside [0, 100]"),
            ('"100.00001"', "outside [0, 100]"),
            ("1.23456", "more than 4 decimal places"),
            (".nan", "expected a number"),
            ('"NaN"', "expected a number"),
            ('"Infinity"', "expected a number"),
            (".inf", "expected a number"),
            ("ten", "expected a number"),
            ("true", "expected a number"),
        ]
    ),
    (
        "discount without product or pattern",
        section("""\
        discounts:
          - {percent: 5, valid_from: 2025-01-01}
        """),
        "cfg.yml:10: discounts[0]",
        "needs billing_origin_product, sku_pattern or both",
    ),
    (
        "lower-case product",
        section("""\
        discounts:
          - {billing_origin_product: sql, percent: 5, valid_from: 2025-01-01}
        """),
        "cfg.yml:10: discounts[0].billing_origin_product",
        "upper-case",
    ),
    # shared costs
    (
        "fixed percentages not summing to 100",
        section("""\
        shared_costs:
          - id: p
            match: {billing_origin_products: [SQL]}
            method: fixed
            percentages: {finance: "33.3333", data-eng: "33.3333", engineering: "33.3333"}
        """),
        "cfg.yml:13: shared_costs[0].percentages",
        "percentages sum to 99.9999, not exactly 100",
    ),
    (
        "unknown unit in percentages",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: fixed, percentages: {finance: 50, marketing: 50}}
        """),
        "cfg.yml:10: shared_costs[0].percentages.marketing",
        "unknown business unit 'marketing'",
    ),
    (
        "percentages on a proportional pool",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: proportional, percentages: {finance: 100}}
        """),
        "cfg.yml:10: shared_costs[0].percentages",
        "applies only to method fixed, not proportional",
    ),
    (
        "fixed pool without percentages",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: fixed}
        """),
        "cfg.yml:10: shared_costs[0].percentages",
        "method fixed needs percentages",
    ),
    (
        "central pool without business_unit",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: central}
        """),
        "cfg.yml:10: shared_costs[0].business_unit",
        "method central needs business_unit",
    ),
    (
        "central pool with an unknown unit",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: central, business_unit: platform}
        """),
        "cfg.yml:10: shared_costs[0].business_unit",
        "unknown business unit 'platform'",
    ),
    (
        "unknown unit in pool targets",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: even, business_units: [finance, sales]}
        """),
        "cfg.yml:10: shared_costs[0].business_units[1]",
        "unknown business unit 'sales'",
    ),
    (
        "targets on a central pool",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: central, business_unit: finance, business_units: [finance]}
        """),
        "cfg.yml:10: shared_costs[0].business_units",
        "applies only to methods proportional and even",
    ),
    (
        "same_product on an even pool",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: even, same_product: true}
        """),
        "cfg.yml:10: shared_costs[0].same_product",
        "only to method proportional",
    ),
    (
        "unknown method",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: weighted}
        """),
        "cfg.yml:10: shared_costs[0].method",
        "expected one of proportional, even, fixed, central, consumption",
    ),
    (
        "empty pool match",
        section("""\
        shared_costs:
          - {id: p, match: {}, method: even}
        """),
        "cfg.yml:10: shared_costs[0].match",
        "at least one criterion",
    ),
    (
        "empty criterion list",
        section("""\
        shared_costs:
          - {id: p, match: {workspace_ids: []}, method: even}
        """),
        "cfg.yml:10: shared_costs[0].match.workspace_ids",
        "must not be empty",
    ),
    (
        "duplicate pool ids",
        section("""\
        shared_costs:
          - {id: p, match: {unallocated: true}, method: even}
          - {id: p, match: {unallocated: false}, method: even}
        """),
        "cfg.yml:11: shared_costs[1].id",
        "duplicate pool id (first used by shared_costs[0], line 10)",
    ),
    (
        "consumption pool without warehouses",
        section("""\
        shared_costs:
          - {id: p, match: {workspace_ids: ["1"]}, method: consumption}
        """),
        "cfg.yml:10: shared_costs[0].match.warehouse_ids",
        "method consumption needs match.warehouse_ids",
    ),
    (
        "warehouse in two consumption pools",
        section("""\
        shared_costs:
          - {id: first, match: {warehouse_ids: [wh-1, wh-2]}, method: consumption}
          - {id: second, match: {warehouse_ids: [wh-3, wh-2]}, method: consumption}
        """),
        "cfg.yml:11: shared_costs[1].match.warehouse_ids",
        "warehouse 'wh-2' is already split by consumption pool 'first' (shared_costs[0], line 10)",
    ),
    (
        "targets on a consumption pool",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, business_units: [finance]}
        """),
        "cfg.yml:10: shared_costs[0].business_units",
        "applies only to methods proportional and even, not consumption",
    ),
    (
        "percentages on a consumption pool",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, percentages: {finance: 100}}
        """),
        "cfg.yml:10: shared_costs[0].percentages",
        "applies only to method fixed, not consumption",
    ),
    (
        "same_product on a consumption pool",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, same_product: true}
        """),
        "cfg.yml:10: shared_costs[0].same_product",
        "only to method proportional",
    ),
    (
        "keeping unit on a consumption pool",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, business_unit: finance}
        """),
        "cfg.yml:10: shared_costs[0].business_unit",
        "only to method central, not consumption (idle hours go to a unit by idle: {method: unit",
    ),
    (
        "idle rule on a fixed pool",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: fixed, percentages: {finance: 100}, idle: {method: keep}}
        """),
        "cfg.yml:10: shared_costs[0].idle",
        "idle applies only to method consumption, not fixed",
    ),
    (
        "idle rule without method",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {}}
        """),
        "cfg.yml:10: shared_costs[0].idle.method",
        "required field is missing",
    ),
    (
        "unknown idle method",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {method: owner}}
        """),
        "cfg.yml:10: shared_costs[0].idle.method",
        "expected one of spread, unit, keep",
    ),
    (
        "idle unit without business_unit",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {method: unit}}
        """),
        "cfg.yml:10: shared_costs[0].idle.business_unit",
        "idle method unit needs business_unit",
    ),
    (
        "idle unit unknown",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {method: unit, business_unit: it}}
        """),
        "cfg.yml:10: shared_costs[0].idle.business_unit",
        "unknown business unit 'it'",
    ),
    (
        "business_unit on a spread idle rule",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {method: spread, business_unit: finance}}
        """),
        "cfg.yml:10: shared_costs[0].idle.business_unit",
        "applies only to idle method unit, not spread",
    ),
    (
        "unknown key in an idle rule",
        section("""\
        shared_costs:
          - {id: p, match: {warehouse_ids: [w]}, method: consumption, idle: {method: keep, unit: finance}}
        """),
        "cfg.yml:10: shared_costs[0].idle.unit",
        "unknown key",
    ),
    # hostile values stay readable and harmless
    (
        "control characters",
        BASE.replace("name: Finance", 'name: "Fin\\u0000ance"'),
        "cfg.yml:8: business_units[2].name",
        "control characters",
    ),
    (
        "SQL in an id",
        BASE + '  - {id: "x\'; DROP TABLE t; --", name: X}\n',
        "cfg.yml:9: business_units[3].id",
        "not a valid id",
    ),
]


@pytest.mark.parametrize(("text", "location", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_with_location(text: str, location: str, fragment: str) -> None:
    assert_problem(text, location, fragment)


def test_every_problem_is_reported_in_one_pass() -> None:
    text = BASE.replace("lookback_days: 30", "lookback_days: 0").replace(
        "currency: USD", "currency: usd", 1
    ) + textwrap.dedent("""\
        attribution:
          budget_policies:
            - {policy_id: p, business_unit: nobody, valid_from: 2025-01-01}
        discounts:
          - {sku_pattern: "*", percent: 150, valid_from: 2025-01-01}
        shared_costs:
          - {id: p, match: {}, method: magic}
        closed_months: [August]
        """)
    found = problems(text)
    assert [p.split(": ", 2)[1] for p in found] == [
        "currency",
        "lookback_days",
        "attribution.budget_policies[0].business_unit",
        "discounts[0].percent",
        "shared_costs[0].match",
        "shared_costs[0].method",
        "closed_months[0]",
    ]
    assert str(ConfigError([ConfigProblem("a", "b"), ConfigProblem("c", "d")])) == "a: b (and 1 more problem(s))"


def test_huge_values_do_not_flood_messages() -> None:
    found = problems(BASE + f"  - {{id: {'X' * 100_000}, name: Huge}}\n")
    assert len(found) == 1 and len(found[0]) < 200


# --- hostile input never raises anything but ConfigError ---------------------------------------------------

KNOWN_KEYS = [
    "version", "currency", "price_currency", "fx_rates", "lookback_days", "business_units", "id", "name", "parent",
    "cost_center", "attribution", "tag_keys", "tag_values", "value", "business_unit", "valid_from", "valid_to",
    "budget_policies", "policy_id", "workloads", "workload_type", "workload_id", "identities", "identity",
    "workspaces", "workspace_id", "discounts", "billing_origin_product", "sku_pattern", "percent", "shared_costs",
    "match", "method", "same_product", "business_units", "percentages", "closed_months", "unallocated", "idle",
]  # fmt: skip
HOSTILE_TEXT = ["'; DROP TABLE usage; --", "`x`", '"', "😀🚀", "a" * 5000, "\u202e", "NaN", "-Infinity", "1e999999"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.dates(),
    st.text(max_size=20),
    st.sampled_from([*HOSTILE_TEXT, "USD", "EUR", "finance", "job", "fixed", "central", "2025-01-01", "2026-08"]),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10), st.integers(), st.booleans())
yamlish = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=25
)


def parses_or_config_error(text: str) -> None:
    try:
        config = parse_config(text, "h.yml")
    except ConfigError as exc:
        assert exc.problems and all(p.location.startswith("h.yml") for p in exc.problems)
    else:
        assert isinstance(config, Config)


@st.composite
def mutated_full_config(draw: st.DrawFn) -> object:
    """The valid FULL config with one subtree replaced by, or extended with, something random."""

    def mutate(tree: object, depth: int) -> object:
        stop = depth > 0 and draw(st.integers(0, 3)) == 0  # mostly descend: deep fields need deep mutations
        if isinstance(tree, dict) and tree and not stop:
            key = draw(st.sampled_from(sorted(tree, key=str)))
            if draw(st.integers(0, 4)) == 0:
                return {k: v for k, v in tree.items() if k != key}
            return {**tree, key: mutate(tree[key], depth + 1)}
        if isinstance(tree, list) and tree and not stop:
            index = draw(st.integers(0, len(tree) - 1))
            return [*tree[:index], mutate(tree[index], depth + 1), *tree[index + 1 :]]
        return draw(yamlish)

    return mutate(yaml.safe_load(FULL), 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_random_text_never_crashes(text: str) -> None:
    parses_or_config_error(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yamlish)
def test_random_yaml_structures_never_crash(data: object) -> None:
    parses_or_config_error(yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_full_config())
def test_mutated_configs_never_crash(data: object) -> None:
    parses_or_config_error(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000,
        "a: &a [*a]\nbusiness_units: *a\n",
        BASE + "attribution: &x {tag_keys: *x}\n",
        "x: !!python/object/apply:os.system ['echo pwned']\n",
        BASE + "discounts: !!set {a, b}\n",
        BASE.replace("lookback_days: 30", "lookback_days: " + "9" * 10_000),
        BASE.replace("lookback_days: 30", "lookback_days: !!int 'x'"),
        BASE + "closed_months: !!timestamp [1]\n",
        "version: 1\n---\nversion: 1\n",
        "\x00",
        "\ufeffversion: 1\n",
    ],
)
def test_pathological_yaml_raises_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, "cfg.yml")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (BASE + "attribution: " + "[" * 1000 + "]" * 1000 + "\n", 9),
        # two levels (a list and a mapping) a line: the 101st level starts on the 51st line of the section
        (BASE + "discounts:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, 1000)), 9 + 50),
    ],
    ids=["flow", "block"],
)
def test_too_deep_nesting_is_located(text: str, line: int) -> None:
    # Found by tests/config/test_config_fuzz.py: the composer's RecursionError was reported without a line.
    assert problems(text) == [f"cfg.yml:{line}: YAML nesting is too deep"]


# --- config tables ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from chargeback.local.engine import local_session

    with local_session([]) as session:
        yield session


def test_config_frames_have_exactly_the_spec_columns(spark: SparkSession) -> None:
    frames = config_frames(spark, parse_config(FULL, "cfg.yml"))
    assert frames.keys() == CONFIG_TABLES.keys()
    for name, spec in CONFIG_TABLES.items():
        assert [(f.name, f.dataType.simpleString().upper()) for f in frames[name].schema.fields] == [
            (c.name, c.type) for c in spec.columns
        ], name
        assert all(c.comment for c in spec.columns) and spec.primary_key and spec.table == name
    empty = config_frames(spark, parse_config(BASE, "cfg.yml"))
    assert empty["discount_rules"].count() == 0 and empty["business_units"].count() == 3


def test_config_frames_rows(spark: SparkSession) -> None:
    from chispa import assert_df_equality

    frames = config_frames(spark, parse_config(FULL, "cfg.yml"))
    expected_units = spark.createDataFrame(
        [
            ("engineering", "Engineering", None, None),
            ("data-eng", "Data Engineering", "engineering", "CC-1001"),
            ("finance", "Finance", None, None),
        ],
        frames["business_units"].schema,
    )
    assert_df_equality(frames["business_units"], expected_units, ignore_row_order=True)

    networking = '{"billing_origin_products": ["NETWORKING"], "unallocated": true}'
    storage = '{"sku_patterns": ["*_STORAGE_*"]}'
    warehouse = '{"workspace_ids": ["1234567890123456"], "warehouse_ids": ["b2e4d6f8a0c3e5b7"]}'
    expected_pools = spark.createDataFrame(
        [
            ("networking", 1, "proportional", True, networking, "engineering", None, None, None),
            ("networking", 1, "proportional", True, networking, "data-eng", None, None, None),
            ("networking", 1, "proportional", True, networking, "finance", None, None, None),
            ("platform", 2, "fixed", False, storage, "data-eng", Decimal("33.3333"), None, None),
            ("platform", 2, "fixed", False, storage, "finance", Decimal("33.3333"), None, None),
            ("platform", 2, "fixed", False, storage, "engineering", Decimal("33.3334"), None, None),
            ("leftovers", 3, "central", False, '{"unallocated": true}', "engineering", Decimal(100), None, None),
            ("bi-warehouse", 4, "consumption", False, warehouse, None, None, "unit", "finance"),
        ],
        frames["shared_cost_rules"].schema,
    )
    assert_df_equality(frames["shared_cost_rules"], expected_pools, ignore_row_order=True)

    rules = {tuple(row) for row in frames["attribution_rules"].collect()}
    assert ("workload", 3, "job:123456789", "finance", dt.date(2025, 1, 1), None) in rules
    assert ("tag_value", 1, "de", "data-eng", dt.date(2025, 1, 1), None) in rules
    assert ("budget_policy", 2, "p-1", "data-eng", dt.date(2025, 1, 1), dt.date(2026, 1, 1)) in rules
    assert UNALLOCATED not in {row.business_unit_id for row in frames["business_units"].collect()}


def test_each_consumption_pool_is_one_config_row_with_its_idle_rule(spark: SparkSession) -> None:
    config = parse_config(
        section("""\
        shared_costs:
          - {id: spread, match: {warehouse_ids: [w1]}, method: consumption}
          - {id: keep, match: {warehouse_ids: [w2, w3]}, method: consumption, idle: {method: keep}}
        """),
        "cfg.yml",
    )
    rules = config_frames(spark, config)["shared_cost_rules"]
    columns = ("pool_id", "business_unit_id", "percent", "idle_method", "idle_business_unit_id")
    assert sorted(tuple(row) for row in rules.select(*columns).collect()) == [
        ("keep", None, None, "keep", None),
        ("spread", None, None, "spread", None),
    ]
