"""Property tests: for random usage and random valid rules, money is conserved, signs hold, runs repeat.

Each example builds raw usage records (with corrections and hostile tag values), list prices with a
change inside a usage hour, and a random valid config (attribution rules and shared-cost pools), then
runs the pure pipeline functions: silver lines (netting, pricing, attribution, pools) and allocation.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from chargeback.allocation import allocate
from chargeback.config import UNALLOCATED, Config, parse_config
from chargeback.pipeline import Enrichment, RunParams, usage_costs
from chargeback.schemas import JOBS, LIST_PRICES, PIPELINES, SERVED_ENTITIES, USAGE, WORKSPACES_LATEST
from tests.helpers import DAY, price_row, usage_row

pytestmark = pytest.mark.transform

UNITS = ("data-eng", "finance", "marketing")
WORKSPACES = ("1001", "1002", "1003")
PRODUCTS = ("JOBS", "SQL", "NETWORKING")
SKUS = ("SKU_A", "SKU_B", "SKU_UNPRICED")
POLICIES = ("pol-1", "pol-2")
IDENTITIES = ("a@x.io", "b@x.io")
PRICE_CHANGE = dt.datetime.combine(DAY, dt.time(10, 17, 3))
PRICES = [
    price_row("SKU_A", "0.55", dt.datetime(2020, 1, 1), PRICE_CHANGE),
    price_row("SKU_A", "0.6125", PRICE_CHANGE, None),
    price_row("SKU_B", "0.07", dt.datetime(2020, 1, 1), None),
]
HOSTILE = ("", "Data Eng", "FINANCE", "x'; DROP TABLE t; --", "`marketing`", "🚀", "é" * 300, "data_eng")

quantities = st.decimals(min_value=Decimal("0.000000000000000001"), max_value=Decimal(5000), places=18)


@st.composite
def records(draw: st.DrawFn) -> list[tuple]:
    """ORIGINAL records, some corrected by a RETRACTION (and maybe a RESTATEMENT) later."""
    rows = []
    for i in range(draw(st.integers(1, 25))):
        tags = draw(
            st.dictionaries(st.sampled_from(("business_unit", "Team", "env")), st.sampled_from(HOSTILE), max_size=2)
        )
        policy = draw(st.sampled_from((None, *POLICIES)))
        common = {
            "sku": draw(st.sampled_from(SKUS)),
            "hour": draw(st.sampled_from((9, 10, 11))),
            "day": DAY + dt.timedelta(days=draw(st.integers(0, 2))),
            "workspace_id": draw(st.sampled_from(WORKSPACES)),
            "tags": tags,
            "metadata": {"job_id": str(draw(st.integers(1, 3))), "budget_policy_id": policy},
            "identity": {"run_as": draw(st.sampled_from(IDENTITIES))},
            "product": draw(st.sampled_from(PRODUCTS)),
        }
        quantity = draw(quantities)
        rows.append(usage_row(str(quantity), record_id=f"r{i}", **common))  # type: ignore[arg-type]
        correction = draw(st.sampled_from(("none", "none", "retract", "restate")))
        if correction != "none":
            rows.append(usage_row(str(-quantity), record_type="RETRACTION", record_id=f"r{i}", **common))  # type: ignore[arg-type]
        if correction == "restate":
            restated = draw(quantities)
            rows.append(usage_row(str(restated), record_type="RESTATEMENT", record_id=f"r{i}", **common))  # type: ignore[arg-type]
    return rows


def _rule(key: str, value: str, unit: str) -> str:
    return f'    - {{{key}: "{value}", business_unit: {unit}, valid_from: 2020-01-01}}\n'


@st.composite
def configs(draw: st.DrawFn) -> Config:
    """A valid config: at most one rule per key, and 0 to 3 shared-cost pools of any method."""
    unit = st.sampled_from(UNITS)
    text = "version: 1\ncurrency: USD\nprice_currency: USD\nlookback_days: 30\nbusiness_units:\n"
    text += "".join(f"  - {{id: {u}, name: {u.title()}}}\n" for u in UNITS)
    text += "attribution:\n  tag_keys: [business_unit, team]\n"
    policies = draw(st.lists(st.sampled_from(POLICIES), unique=True))
    text += "  budget_policies:\n" + "".join(_rule("policy_id", p, draw(unit)) for p in policies) if policies else ""
    people = draw(st.lists(st.sampled_from(IDENTITIES), unique=True))
    text += "  identities:\n" + "".join(_rule("identity", p, draw(unit)) for p in people) if people else ""
    spaces = draw(st.lists(st.sampled_from(WORKSPACES), unique=True))
    text += "  workspaces:\n" + "".join(_rule("workspace_id", w, draw(unit)) for w in spaces) if spaces else ""
    pools = []
    for i in range(draw(st.integers(0, 3))):
        match = draw(
            st.sampled_from(
                (
                    f"{{billing_origin_products: [{draw(st.sampled_from(PRODUCTS))}]}}",
                    f'{{workspace_ids: ["{draw(st.sampled_from(WORKSPACES))}"]}}',
                    "{unallocated: true}",
                    f'{{sku_patterns: ["SKU_{draw(st.sampled_from("AB?*"))}*"]}}',
                )
            )
        )
        method = draw(st.sampled_from(("proportional", "proportional same", "even", "fixed", "central")))
        body = {
            "proportional": "method: proportional",
            "proportional same": "method: proportional\n    same_product: true",
            "even": "method: even",
            "fixed": "method: fixed\n    percentages: {data-eng: 33.3333, finance: 33.3333, marketing: 33.3334}",
            "central": f"method: central\n    business_unit: {draw(unit)}",
        }[method]
        pools.append(f"  - id: pool-{i}\n    match: {match}\n    {body}\n")
    if pools:
        text += "shared_costs:\n" + "".join(pools)
    return parse_config(text, "property.yml")


def _frames(spark, rows):  # type: ignore[no-untyped-def]
    return (
        spark.createDataFrame(rows, USAGE),
        spark.createDataFrame(PRICES, LIST_PRICES),
        Enrichment(*(spark.createDataFrame([], s) for s in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES))),
    )


def _record_cost(row: tuple) -> Decimal:
    """Python reference: one record's list cost at the price in force at its usage_end_time."""
    names = USAGE.fieldNames()
    record = dict(zip(names, row, strict=True))
    for price in PRICES:
        p = dict(zip(LIST_PRICES.fieldNames(), price, strict=True))
        end = p["price_end_time"]
        if (
            p["sku_name"] == record["sku_name"]
            and p["price_start_time"] <= record["usage_end_time"]
            and (end is None or record["usage_end_time"] < end)
        ):
            return record["usage_quantity"] * p["pricing"][2][0]
    return Decimal(0)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=records(), config=configs())
def test_allocation_conserves_money_keeps_pool_signs_and_repeats(spark, rows, config) -> None:
    params = RunParams("main", "chargeback", DAY, DAY + dt.timedelta(days=2), "p", dt.datetime(2026, 11, 1))
    computed = usage_costs(*_frames(spark, rows), config, params)
    # Materialised once: every later check reads these rows instead of re-running the whole plan.
    silver = spark.createDataFrame(computed.collect(), computed.schema)
    lines = silver.collect()
    allocated = allocate(silver, config.shared_costs, config.unit_ids)
    shares = allocated.collect()

    billed = sum((r.effective_cost for r in lines), Decimal(0))
    assert sum((r.effective_cost for r in shares), Decimal(0)) == billed  # exact, not only to the cent
    assert abs(billed - sum(map(_record_cost, rows))) <= Decimal("0.01")
    assert {r.business_unit for r in lines} <= {*UNITS, UNALLOCATED}
    assert {r.business_unit for r in shares} <= {*UNITS, UNALLOCATED}

    group = ("pool_id", "usage_date", "workspace_id", "billing_origin_product", "sku_name", "currency_code")
    pools: dict[tuple, Decimal] = {}
    for r in lines:
        if r.pool_id is not None:
            key = tuple(r[c] for c in group)
            pools[key] = pools.get(key, Decimal(0)) + r.effective_cost
    for r in shares:
        if r.cost_kind == "shared":
            assert r.effective_cost * pools[tuple(r[c] for c in group)] >= 0, r

    again = allocate(silver.orderBy(F.desc("usage_line_id")), config.shared_costs, config.unit_ids)
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, shares))
