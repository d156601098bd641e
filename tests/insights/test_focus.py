"""Gold focus_costs: FOCUS 1.2 columns and types, totals equal the statements, exact split allocation."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from chargeback.contracts.insight_tables import FOCUS_COSTS
from chargeback.insights.focus import SERVICE_CATEGORIES, focus_costs
from chargeback.marts import cost as gold
from chargeback.steps.allocation import allocate, assign_pools
from tests.helpers import config

SEP30, OCT5, OCT6 = dt.date(2026, 9, 30), dt.date(2026, 10, 5), dt.date(2026, 10, 6)
LINES = (
    "usage_date date, account_id string, workspace_id string, workspace_name string, billing_origin_product string, "
    "sku_name string, usage_unit string, usage_quantity decimal(38,18), workload_type string, workload_id string, "
    "workload_name string, business_unit string, list_cost decimal(38,10), effective_cost decimal(38,10), "
    "currency_code string"
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


def line(day, unit, product, cost, quantity="10", ws="1111", wid="1", sku=None):
    return (
        day,
        "acc-1",
        ws,
        f"ws {ws}",
        product,
        sku or f"PREMIUM_{product}",
        "DBU",
        Decimal(quantity),
        "job",
        wid,
        f"job {wid}",
        unit,
        Decimal(cost) * 2,
        Decimal(cost),
        "USD",
    )


@pytest.fixture(scope="module")
def built(spark):
    def allocated(rows):
        lines = spark.createDataFrame(rows, LINES).transform(assign_pools, CONFIG.shared_costs)
        return lines, allocate(lines, CONFIG.shared_costs, CONFIG.unit_ids)

    october = [
        line(OCT5, "data-eng", "JOBS", "100", "40"),
        line(OCT5, "finance", "SQL", "200", "25", wid="2"),
        line(OCT5, "UNALLOCATED", "NETWORKING", "1000.0000000001", "7.5", wid="net"),
        line(OCT5, "UNALLOCATED", "JOBS", "10", "3", wid="3"),
        line(OCT6, "data-eng", "JOBS", "50", "20", ws="2222"),
        line(OCT6, "marketing", "JOBS", "70", "30"),
        line(OCT6, "UNALLOCATED", "NETWORKING", "-0.0000000003", "0", wid="net"),  # a credit
    ]
    lines, costs = allocated(october)
    # A closed day recomputed (truth) against what its statement booked: corrections booked on OCT5.
    _, truth = allocated([line(SEP30, "data-eng", "JOBS", "12"), line(SEP30, "UNALLOCATED", "NETWORKING", "9")])
    _, booked = allocated([line(SEP30, "data-eng", "JOBS", "10"), line(SEP30, "UNALLOCATED", "NETWORKING", "6")])
    daily = gold.cost_daily(costs, "run-1").unionByName(gold.corrections(truth, booked, OCT5, "run-1"))
    return lines, daily, focus_costs(daily, lines, CONFIG, "run-1")


@pytest.mark.transform
def test_columns_and_types(built) -> None:
    _, _, focus = built
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
    services = {(r.ServiceName, r.ServiceCategory, r.ServiceSubcategory) for r in focus.collect()}
    assert services == {
        ("JOBS", "Compute", "Other (Compute)"),
        ("SQL", "Analytics", "Analytics Platforms"),
        ("NETWORKING", "Networking", "Network Connectivity"),
    }


def test_each_product_has_one_category_and_one_allowed_subcategory_of_it() -> None:
    products = [p for subs in SERVICE_CATEGORIES.values() for members in subs.values() for p in members]
    assert len(products) == len(set(products))
    for category, subcategories in SERVICE_CATEGORIES.items():
        assert set(subcategories) <= SUBCATEGORIES[category], category


@pytest.mark.transform
def test_totals_equal_the_monthly_statements(built) -> None:
    _, daily, focus = built
    statements = {
        (r.billing_month, r.business_unit): (r.effective_cost, r.list_cost)
        for r in gold.chargeback_monthly(daily, CONFIG, "run-1").collect()
    }
    exported = {
        (r.month.date(), r.x_BusinessUnit): (r.billed, r.listed)
        for r in focus.groupBy(F.col("BillingPeriodStart").alias("month"), "x_BusinessUnit")
        .agg(F.sum("BilledCost").alias("billed"), F.sum("ListCost").alias("listed"))
        .collect()
    }
    assert exported == statements
    assert focus.where(F.col("EffectiveCost") != F.col("BilledCost")).count() == 0


@pytest.mark.transform
def test_allocated_rows_sum_to_their_origin_with_ratios_summing_to_one(built) -> None:
    lines, _, focus = built
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
    allocated = focus.where(F.col("ChargeClass").isNull() & F.col("AllocatedMethodId").isNotNull()).withColumn(
        "day", F.to_date("ChargePeriodStart")
    )
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
def test_corrections_of_a_closed_month(built) -> None:
    _, _, focus = built
    corrections = focus.where(F.col("ChargeClass") == "Correction").collect()
    assert corrections and all(r.x_CostKind == "correction" for r in corrections)
    assert {r.ChargePeriodStart.date() for r in corrections} == {SEP30}
    assert {r.BillingPeriodStart.date() for r in corrections} == {dt.date(2026, 10, 1)}
    assert sum(r.BilledCost for r in corrections) == Decimal(5)  # (12 - 10) direct + (9 - 6) shared
    assert all(r.PricingQuantity is None and r.AllocatedMethodDetails is None for r in corrections)
    assert focus.where(F.col("x_CostKind") != "correction").where(F.col("ChargeClass").isNotNull()).count() == 0
