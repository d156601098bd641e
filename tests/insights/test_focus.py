"""Gold focus_costs: FOCUS 1.2 columns and types, totals equal the statements, exact split allocation.

Each test builds its `cost_daily` rows and `usage_costs` lines inline with the tables' exact schemas (allocation
is not run: a change there cannot break these tests) and compares the whole output, in the columns it checks.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED
from chargeback.contracts.cost_tables import COST_DAILY, USAGE_COSTS
from chargeback.contracts.insight_tables import FOCUS_COSTS
from chargeback.insights.focus import SERVICE_CATEGORIES, focus_costs
from chargeback.marts import cost as cost_marts
from tests.helpers import assert_rows, config, spec_frame

SEP1, SEP30, OCT1, OCT5, OCT6, NOV1 = (
    dt.date(2026, 9, 1),
    dt.date(2026, 9, 30),
    dt.date(2026, 10, 1),
    dt.date(2026, 10, 5),
    dt.date(2026, 10, 6),
    dt.date(2026, 11, 1),
)
CONFIG = config(
    """shared_costs:
  - id: net
    match: {billing_origin_products: [NETWORKING]}
    method: proportional
  - id: leftover
    match: {unallocated: true}
    method: even
"""
)
# FOCUS 1.2 mandatory columns and their FOCUS data types, transcribed from the specification.
MANDATORY = {
    "BilledCost": "Decimal",
    "BillingAccountId": "String",
    "BillingAccountName": "String",
    "BillingCurrency": "String",
    "BillingPeriodEnd": "DateTime",
    "BillingPeriodStart": "DateTime",
    "ChargeCategory": "String",
    "ChargeClass": "String",
    "ChargeDescription": "String",
    "ChargePeriodEnd": "DateTime",
    "ChargePeriodStart": "DateTime",
    "ContractedCost": "Decimal",
    "EffectiveCost": "Decimal",
    "InvoiceIssuerName": "String",
    "ListCost": "Decimal",
    "PricingQuantity": "Decimal",
    "PricingUnit": "String",
    "ProviderName": "String",
    "PublisherName": "String",
    "ServiceCategory": "String",
    "ServiceName": "String",
}
# FOCUS 1.2 conditional columns this export fills (usage is measured, so consumed quantities apply).
CONDITIONAL = {"ChargeFrequency": "String", "ConsumedQuantity": "Decimal", "ConsumedUnit": "String"}
# FOCUS 1.2 recommended columns (the FinOps Foundation's validator checks their presence).
RECOMMENDED = {"InvoiceId": "String", "ServiceSubcategory": "String"}
# FOCUS 1.2 ServiceSubcategory allowed values of the ServiceCategory values this export uses, from the specification.
SUBCATEGORIES = {
    "AI and Machine Learning": {
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    },
    "Analytics": {
        "Analytics Platforms",
        "Business Intelligence",
        "Data Processing",
        "Search",
        "Streaming Analytics",
        "Other (Analytics)",
    },
    "Compute": {
        "Containers",
        "End User Computing",
        "Quantum Compute",
        "Serverless Compute",
        "Virtual Machines",
        "Other (Compute)",
    },
    "Databases": {
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
        "Other (Databases)",
    },
    "Integration": {"API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"},
    "Networking": {
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
        "Other (Networking)",
    },
    "Storage": {
        "Backup Storage",
        "Block Storage",
        "File Storage",
        "Object Storage",
        "Storage Platforms",
        "Other (Storage)",
    },
    "Web": {"Application Platforms", "Other (Web)"},
    "Other": {"Other (Other)"},
}
ALLOCATION = {
    "AllocatedMethodId": "String",
    "AllocatedMethodDetails": "JSON",
    "AllocatedResourceId": "String",
    "AllocatedResourceName": "String",
    "AllocatedTags": "JSON",
}
SPARK_TYPE = {"Decimal": "decimal", "String": "string", "DateTime": "timestamp", "JSON": "string"}


def silver(day: dt.date, unit: str, product: str, quantity: str, cost: str, **kw: str) -> dict:
    """A `usage_costs` line of job `wid` (or of pool `pool`) in workspace `ws`: DBUs, list cost twice the cost."""
    ws, wid, pool = kw.get("ws", "1111"), kw.get("wid", "1"), kw.get("pool")
    return {
        "usage_line_id": f"{day}/{ws}/{product}/{wid}",
        "usage_date": day,
        "account_id": "acc-1",
        "workspace_id": ws,
        "workspace_name": f"ws {ws}",
        "cloud": "AWS",
        "sku_name": f"PREMIUM_{product}",
        "billing_origin_product": product,
        "usage_unit": "DBU",
        "usage_quantity": Decimal(quantity),
        "workload_type": "job",
        "workload_id": wid,
        "workload_name": f"job {wid}",
        "is_priced": True,
        "list_cost": Decimal(cost) * 2,
        "effective_cost": Decimal(cost),
        "currency_code": "USD",
        "business_unit": unit,
        "pool_id": pool,
        "run_id": "run-1",
    }


def cost(day: dt.date, unit: str, product: str, amount: str, **kw: str | dt.date) -> dict:
    """A `cost_daily` row: direct cost of job `wid`, or with `pool` the unit's share of that pool; with `corrects`,
    a correction of that closed day booked on `day`. List cost is twice the cost."""
    pool, corrects = kw.get("pool"), kw.get("corrects")
    return {
        "usage_date": day,
        "billing_month": day.replace(day=1),
        "business_unit": unit,
        "workspace_id": kw.get("ws", "1111"),
        "billing_origin_product": product,
        "sku_name": f"PREMIUM_{product}",
        "workload_type": "shared_pool" if pool else "job",
        "workload_id": pool or kw.get("wid", "1"),
        "workload_name": pool or f"job {kw.get('wid', '1')}",
        "cost_kind": "correction" if corrects else "shared" if pool else "direct",
        "pool_id": pool,
        "original_usage_date": corrects,
        "list_cost": Decimal(amount) * 2,
        "effective_cost": Decimal(amount),
        "currency_code": "USD",
        "run_id": "run-1",
    }


def frames(spark: SparkSession, daily: list[dict], lines: list[dict]) -> tuple[DataFrame, DataFrame, DataFrame]:
    """`cost_daily`, `usage_costs` and the FOCUS rows built from them."""
    daily_df, lines_df = spec_frame(spark, COST_DAILY, daily), spec_frame(spark, USAGE_COSTS, lines)
    return daily_df, lines_df, focus_costs(daily_df, lines_df, CONFIG, "run-1")


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def details(ratio: str, method: str) -> str:
    return f'{{"Elements":[{{"AllocatedRatio":{ratio}}}],"x_Method":"{method}"}}'


def tags(unit: str, workload_type: str = "job") -> str:
    return f'{{"business_unit":"{unit}","workload_type":"{workload_type}"}}'


@pytest.mark.transform
def test_columns_and_types(spark) -> None:  # type: ignore[no-untyped-def]
    _, _, focus = frames(
        spark,
        [
            cost(OCT5, "data-eng", "JOBS", "100"),
            cost(OCT5, "finance", "SQL", "200", wid="2"),
            cost(OCT5, "data-eng", "NETWORKING", "10", pool="net"),
            cost(OCT5, "finance", "NETWORKING", "20", pool="net"),
            cost(OCT5, "data-eng", "JOBS", "2", corrects=SEP30),
        ],
        [
            silver(OCT5, "data-eng", "JOBS", "40", "100"),
            silver(OCT5, "finance", "SQL", "25", "200", wid="2"),
            silver(OCT5, UNALLOCATED, "NETWORKING", "7.5", "30", wid="n", pool="net"),
        ],
    )
    assert focus.columns == FOCUS_COSTS.column_names
    types = dict(focus.dtypes)
    for name, focus_type in {**MANDATORY, **CONDITIONAL, **RECOMMENDED, **ALLOCATION}.items():
        assert types[name].startswith(SPARK_TYPE[focus_type]), (name, types[name])
    assert {n: types[n] for n in types} == {c.name: c.type for c in FOCUS_COSTS.columns}
    for row in focus.collect():
        for name in ("BillingAccountId", "BillingCurrency", "ChargeCategory", "ServiceName", "ProviderName"):
            assert row[name] is not None, name
        assert row.ChargePeriodEnd - row.ChargePeriodStart == dt.timedelta(days=1)
        assert row.BillingPeriodStart <= row.ChargePeriodStart or row.ChargeClass == "Correction"
        assert json.loads(row.Tags)["business_unit"] == row.x_BusinessUnit
        assert row.ChargeClass is not None or row.PricingQuantity is not None
        assert (row.ConsumedQuantity, row.ConsumedUnit) == (row.PricingQuantity, row.PricingUnit)
        assert row.InvoiceId is None
        assert row.ServiceSubcategory in SUBCATEGORIES[row.ServiceCategory], row
    # The same on every row: account, currency, provider, frequency, workspace type, no invoice.
    constant = [
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "ChargeCategory",
        "ChargeFrequency",
        "InvoiceIssuerName",
        "ProviderName",
        "PublisherName",
        "SubAccountType",
        "InvoiceId",
        "x_RunId",
    ]
    assert_rows(
        focus.select(*constant).distinct(),
        constant,
        [("acc-1", "acc-1", "USD", "Usage", "Usage-Based", "Databricks", "Databricks", "Databricks", "Workspace",
          None, "run-1")],
    )  # fmt: skip
    oct_period = (midnight(OCT5), midnight(OCT6), midnight(OCT1), midnight(NOV1), None)
    sep30_booked_in_oct = (midnight(SEP30), midnight(OCT1), midnight(OCT1), midnight(NOV1), "Correction")
    jobs = ("JOBS", "Compute", "Other (Compute)")
    sql = ("SQL", "Analytics", "Analytics Platforms")
    net = ("NETWORKING", "Networking", "Network Connectivity")
    assert_rows(
        focus,
        ["ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd", "ChargeClass",
         "ServiceName", "ServiceCategory", "ServiceSubcategory", "SkuId", "ResourceId", "ResourceType",
         "SubAccountId", "SubAccountName", "PricingQuantity", "PricingUnit", "ConsumedQuantity", "ConsumedUnit",
         "Tags", "x_BusinessUnit"],
        [
            (*oct_period, *jobs, "PREMIUM_JOBS", "1", "job", "1111", "ws 1111", Decimal(40), "DBU", Decimal(40),
             "DBU", tags("data-eng"), "data-eng"),
            (*oct_period, *sql, "PREMIUM_SQL", "2", "job", "1111", "ws 1111", Decimal(25), "DBU", Decimal(25),
             "DBU", tags("finance"), "finance"),
            # The pool's 7.5 DBU split 1/3 : 2/3 like its cost.
            (*oct_period, *net, "PREMIUM_NETWORKING", "net", "shared_pool", "1111", "ws 1111", Decimal("2.5"), "DBU",
             Decimal("2.5"), "DBU", tags("data-eng", "shared_pool"), "data-eng"),
            (*oct_period, *net, "PREMIUM_NETWORKING", "net", "shared_pool", "1111", "ws 1111", Decimal(5), "DBU",
             Decimal(5), "DBU", tags("finance", "shared_pool"), "finance"),
            (*sep30_booked_in_oct, *jobs, "PREMIUM_JOBS", "1", "job", "1111", "ws 1111", None, None, None, None,
             tags("data-eng"), "data-eng"),
        ],
    )  # fmt: skip
    services = focus.select("ServiceName", "ServiceCategory", "ServiceSubcategory").distinct()
    assert_rows(services, services.columns, [jobs, sql, net])


def test_each_product_has_one_category_and_one_allowed_subcategory_of_it() -> None:
    products = [p for subs in SERVICE_CATEGORIES.values() for members in subs.values() for p in members]
    assert len(products) == len(set(products))
    for category, subcategories in SERVICE_CATEGORIES.items():
        assert set(subcategories) <= SUBCATEGORIES[category], category


@pytest.mark.transform
def test_totals_equal_the_monthly_statements(spark) -> None:  # type: ignore[no-untyped-def]
    daily, _, focus = frames(
        spark,
        [
            cost(SEP30, "data-eng", "JOBS", "10"),
            cost(SEP30, "data-eng", "NETWORKING", "6", pool="net"),
            cost(OCT5, "data-eng", "JOBS", "100"),
            cost(OCT5, "finance", "SQL", "200", wid="2"),
            cost(OCT5, "data-eng", "NETWORKING", "333.3333333330", pool="net"),
            cost(OCT5, "finance", "NETWORKING", "666.6666666671", pool="net"),
            cost(OCT5, "data-eng", "JOBS", "2", corrects=SEP30),  # September corrected, booked in October
            cost(OCT5, "data-eng", "NETWORKING", "3", pool="net", corrects=SEP30),
            cost(OCT6, "marketing", "JOBS", "70"),
            cost(OCT6, "marketing", "NETWORKING", "-0.0000000002", pool="net"),  # a credit
        ],
        [
            silver(SEP30, "data-eng", "JOBS", "4", "10"),
            silver(SEP30, UNALLOCATED, "NETWORKING", "1", "6", wid="n", pool="net"),
            silver(OCT5, "data-eng", "JOBS", "40", "100"),
            silver(OCT5, "finance", "SQL", "25", "200", wid="2"),
            silver(OCT5, UNALLOCATED, "NETWORKING", "7.5", "1000.0000000001", wid="n", pool="net"),
            silver(OCT6, "marketing", "JOBS", "30", "70"),
            silver(OCT6, UNALLOCATED, "NETWORKING", "0", "-0.0000000002", wid="n", pool="net"),
        ],
    )
    columns = ["month", "business_unit", "billed", "listed"]
    statements = cost_marts.chargeback_monthly(daily, CONFIG, "run-1").select(
        F.col("billing_month").alias("month"),
        "business_unit",
        F.col("effective_cost").alias("billed"),
        F.col("list_cost").alias("listed"),
    )
    exported = focus.groupBy(
        F.to_date("BillingPeriodStart").alias("month"), F.col("x_BusinessUnit").alias("business_unit")
    ).agg(F.sum("BilledCost").alias("billed"), F.sum("ListCost").alias("listed"))
    assert_rows(exported, columns, [tuple(r) for r in statements.collect()])
    assert_rows(
        exported,
        columns,
        [
            (SEP1, "data-eng", Decimal(16), Decimal(32)),
            (OCT1, "data-eng", Decimal("438.3333333330"), Decimal("876.6666666660")),  # with the corrections
            (OCT1, "finance", Decimal("866.6666666671"), Decimal("1733.3333333342")),
            (OCT1, "marketing", Decimal("69.9999999998"), Decimal("139.9999999996")),
        ],
    )
    # One FOCUS row per cost_daily row; billed = effective = contracted cost, list cost apart.
    assert_rows(
        focus,
        ["ChargePeriodStart", "x_BusinessUnit", "x_CostKind", "ServiceName", "BilledCost", "EffectiveCost",
         "ContractedCost", "ListCost"],
        [
            (midnight(SEP30), "data-eng", "direct", "JOBS", *[Decimal(10)] * 3, Decimal(20)),
            (midnight(SEP30), "data-eng", "shared", "NETWORKING", *[Decimal(6)] * 3, Decimal(12)),
            (midnight(OCT5), "data-eng", "direct", "JOBS", *[Decimal(100)] * 3, Decimal(200)),
            (midnight(OCT5), "finance", "direct", "SQL", *[Decimal(200)] * 3, Decimal(400)),
            (midnight(OCT5), "data-eng", "shared", "NETWORKING", *[Decimal("333.3333333330")] * 3,
             Decimal("666.6666666660")),
            (midnight(OCT5), "finance", "shared", "NETWORKING", *[Decimal("666.6666666671")] * 3,
             Decimal("1333.3333333342")),
            (midnight(SEP30), "data-eng", "correction", "JOBS", *[Decimal(2)] * 3, Decimal(4)),
            (midnight(SEP30), "data-eng", "correction", "NETWORKING", *[Decimal(3)] * 3, Decimal(6)),
            (midnight(OCT6), "marketing", "direct", "JOBS", *[Decimal(70)] * 3, Decimal(140)),
            (midnight(OCT6), "marketing", "shared", "NETWORKING", *[Decimal("-0.0000000002")] * 3,
             Decimal("-0.0000000004")),
        ],
    )  # fmt: skip
    assert focus.where(F.col("EffectiveCost") != F.col("BilledCost")).count() == 0


@pytest.mark.transform
def test_allocated_rows_sum_to_their_origin_with_ratios_summing_to_one(spark) -> None:  # type: ignore[no-untyped-def]
    _, lines, focus = frames(
        spark,
        [
            cost(OCT5, "data-eng", "JOBS", "100"),
            cost(OCT5, "finance", "SQL", "200", wid="2"),
            # 1000.0000000001 split by direct cost 100 / 200 (the remainder to the largest share).
            cost(OCT5, "data-eng", "NETWORKING", "333.3333333330", pool="net"),
            cost(OCT5, "finance", "NETWORKING", "666.6666666671", pool="net"),
            cost(OCT5, "marketing", "NETWORKING", "0", pool="net"),
            cost(OCT5, "platform", "NETWORKING", "0", pool="net"),
            # Unallocated JOBS cost of 10 split evenly.
            *(cost(OCT5, unit, "JOBS", "2.5", pool="leftover") for unit in ("data-eng", "finance", "marketing",
                                                                             "platform")),
            # A credit below a millionth.
            cost(OCT6, "data-eng", "NETWORKING", "-0.0000000001", pool="net"),
            cost(OCT6, "finance", "NETWORKING", "0", pool="net"),
            cost(OCT6, "marketing", "NETWORKING", "-0.0000000002", pool="net"),
            cost(OCT6, "platform", "NETWORKING", "0", pool="net"),
        ],
        [
            silver(OCT5, "data-eng", "JOBS", "40", "100"),
            silver(OCT5, "finance", "SQL", "25", "200", wid="2"),
            silver(OCT5, UNALLOCATED, "NETWORKING", "7.5", "1000.0000000001", wid="n", pool="net"),
            silver(OCT5, UNALLOCATED, "JOBS", "3", "10", wid="3", pool="leftover"),
            silver(OCT6, UNALLOCATED, "NETWORKING", "0", "-0.0000000003", wid="n", pool="net"),
        ],
    )  # fmt: skip
    allocated = focus.where(F.col("ChargeClass").isNull() & F.col("AllocatedMethodId").isNotNull()).withColumn(
        "day", F.to_date("ChargePeriodStart")
    )
    third, two_thirds = details("0.333333333333", "proportional"), details("0.666666666667", "proportional")
    nothing, quarter = details("0.000000000000", "proportional"), details("0.250000000000", "proportional")
    even = details("0.250000000000", "even")
    assert_rows(
        allocated,
        ["day", "ResourceId", "x_BusinessUnit", "EffectiveCost", "PricingQuantity", "AllocatedMethodDetails",
         "AllocatedResourceName"],
        [
            (OCT5, "net", "data-eng", Decimal("333.3333333330"), Decimal("2.5"), third, "Data Engineering"),
            (OCT5, "net", "finance", Decimal("666.6666666671"), Decimal(5), two_thirds, "Finance"),  # 7.5 x 2/3
            (OCT5, "net", "marketing", Decimal(0), Decimal(0), nothing, "Marketing"),
            (OCT5, "net", "platform", Decimal(0), Decimal(0), nothing, "Platform"),
            (OCT5, "leftover", "data-eng", Decimal("2.5"), Decimal("0.75"), even, "Data Engineering"),
            (OCT5, "leftover", "finance", Decimal("2.5"), Decimal("0.75"), even, "Finance"),
            (OCT5, "leftover", "marketing", Decimal("2.5"), Decimal("0.75"), even, "Marketing"),
            (OCT5, "leftover", "platform", Decimal("2.5"), Decimal("0.75"), even, "Platform"),
            # The credit's ratios split it evenly, whatever each unit's share of it.
            (OCT6, "net", "data-eng", Decimal("-0.0000000001"), Decimal(0), quarter, "Data Engineering"),
            (OCT6, "net", "finance", Decimal(0), Decimal(0), quarter, "Finance"),
            (OCT6, "net", "marketing", Decimal("-0.0000000002"), Decimal(0), quarter, "Marketing"),
            (OCT6, "net", "platform", Decimal(0), Decimal(0), quarter, "Platform"),
        ],
    )  # fmt: skip
    origin_key = ["day", "ResourceId", "SubAccountId", "ServiceName", "SkuId"]
    origins = {
        tuple(r[:5]): r.cost
        for r in lines.where(F.col("pool_id").isNotNull())
        .groupBy(
            F.col("usage_date").alias("day"),
            F.col("pool_id").alias("ResourceId"),
            F.col("workspace_id").alias("SubAccountId"),
            F.col("billing_origin_product").alias("ServiceName"),
            F.col("sku_name").alias("SkuId"),
        )
        .agg(F.sum("effective_cost").alias("cost"))
        .collect()
    }
    groups: dict[tuple, list] = {}
    for row in allocated.collect():
        groups.setdefault(tuple(row[k] for k in origin_key), []).append(row)
    assert set(groups) == set(origins) and len(origins) == 3
    for key, rows in groups.items():
        assert sum(r.EffectiveCost for r in rows) == origins[key], key
        ratios = [Decimal(str(json.loads(r.AllocatedMethodDetails)["Elements"][0]["AllocatedRatio"])) for r in rows]
        assert sum(ratios) == 1, (key, ratios)
        for r, ratio in zip(rows, ratios, strict=True):
            assert r.AllocatedResourceId == r.x_BusinessUnit == json.loads(r.AllocatedTags)["business_unit"]
            assert r.ResourceType == "shared_pool" and r.AllocatedMethodId == r.ResourceId
            if abs(origins[key]) >= Decimal("1e-6"):
                assert abs(ratio - r.EffectiveCost / origins[key]) < Decimal("1e-11"), (key, r.x_BusinessUnit)
            else:  # a credit below a millionth: ratios split it evenly
                assert abs(ratio - Decimal(1) / len(rows)) < Decimal("1e-11"), (key, r.x_BusinessUnit)
    # The proportional split of the 1000.0000000001 pool: 100 / 200 direct cost (UNALLOCATED has no weight).
    net = {r.x_BusinessUnit: r for r in groups[(OCT5, "net", "1111", "NETWORKING", "PREMIUM_NETWORKING")]}
    assert json.loads(net["finance"].AllocatedMethodDetails)["x_Method"] == "proportional"
    assert net["finance"].PricingQuantity == Decimal("5.0000000000")  # 7.5 DBU x 2/3


@pytest.mark.transform
def test_corrections_of_a_closed_month(spark) -> None:  # type: ignore[no-untyped-def]
    _, _, focus = frames(
        spark,
        [
            cost(OCT5, "data-eng", "JOBS", "100"),
            cost(OCT5, "data-eng", "NETWORKING", "30", pool="net"),
            # September 30 recomputed against its closed statement: (12 - 10) direct, (9 - 6) shared.
            cost(OCT5, "data-eng", "JOBS", "2", corrects=SEP30),
            cost(OCT5, "data-eng", "NETWORKING", "3", pool="net", corrects=SEP30),
        ],
        [
            # Lines of the same keys on the booking day: their quantities are not a correction's.
            silver(OCT5, "data-eng", "JOBS", "40", "100"),
            silver(OCT5, UNALLOCATED, "NETWORKING", "7.5", "30", wid="n", pool="net"),
        ],
    )
    share = "Share of shared-cost pool net (PREMIUM_NETWORKING) allocated to Data Engineering"
    assert_rows(
        focus,
        ["x_CostKind", "ChargeClass", "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BilledCost",
         "PricingQuantity", "AllocatedMethodId", "AllocatedMethodDetails", "ChargeDescription"],
        [
            ("direct", None, midnight(OCT5), midnight(OCT6), midnight(OCT1), Decimal(100), Decimal(40), None, None,
             "PREMIUM_JOBS usage of job job 1"),
            ("shared", None, midnight(OCT5), midnight(OCT6), midnight(OCT1), Decimal(30), Decimal("7.5"), "net",
             details("1.000000000000", "proportional"), share),
            ("correction", "Correction", midnight(SEP30), midnight(OCT1), midnight(OCT1), Decimal(2), None, None,
             None, "Correction: PREMIUM_JOBS usage of job job 1"),
            ("correction", "Correction", midnight(SEP30), midnight(OCT1), midnight(OCT1), Decimal(3), None, "net",
             None, f"Correction: {share}"),
        ],
    )  # fmt: skip
    corrections = focus.where(F.col("ChargeClass") == "Correction").collect()
    assert corrections and all(r.x_CostKind == "correction" for r in corrections)
    assert {r.ChargePeriodStart.date() for r in corrections} == {SEP30}
    assert {r.BillingPeriodStart.date() for r in corrections} == {OCT1}
    assert sum(r.BilledCost for r in corrections) == Decimal(5)  # (12 - 10) direct + (9 - 6) shared
    assert all(r.PricingQuantity is None and r.AllocatedMethodDetails is None for r in corrections)
    assert focus.where(F.col("x_CostKind") != "correction").where(F.col("ChargeClass").isNotNull()).count() == 0
