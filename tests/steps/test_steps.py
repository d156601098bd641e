"""Unit tests of each pipeline step on tiny inline data, on every engine (Sail and the JVM reference)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from chargeback.contracts.system_tables import LIST_PRICES, USAGE
from chargeback.steps.allocation import allocate, assign_pools
from chargeback.steps.attribution import TagSets, attribute
from chargeback.steps.pricing import apply_discounts_and_fx, price_intervals, price_usage
from chargeback.steps.usage import net_usage, stage_usage
from tests.helpers import DAY, assert_rows, config, price_row, usage_row

pytestmark = pytest.mark.transform

SKU = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"


def netted(spark, rows):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(rows, USAGE).transform(stage_usage).transform(net_usage)


def test_retraction_and_restatement_net_to_the_restated_value(spark):
    rows = [
        usage_row("259.4356", record_id="o"),
        usage_row("-259.4356", record_type="RETRACTION", record_id="r", ingestion_date=DAY + dt.timedelta(days=3)),
        usage_row("200.5", record_type="RESTATEMENT", record_id="s", ingestion_date=DAY + dt.timedelta(days=3)),
        usage_row("7", hour=11, record_id="o2"),
        usage_row("-7", hour=11, record_type="RETRACTION", record_id="r2"),  # retraction only: line disappears
    ]
    actual = netted(spark, rows).select("usage_start_time", "usage_quantity", "source_record_count", "has_correction")
    expected = spark.createDataFrame(
        [(dt.datetime(2026, 10, 5, 10), Decimal("200.5"), 3, True)],
        "usage_start_time timestamp, usage_quantity decimal(38,18), source_record_count int, has_correction boolean",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_restatement_with_new_tags_moves_cost_to_another_line(spark):
    rows = [
        usage_row("10", tags={"team": "finance"}),
        usage_row("-10", record_type="RETRACTION", tags={"team": "finance"}),
        usage_row("10", record_type="RESTATEMENT", tags={"team": "marketing"}),
    ]
    actual = netted(spark, rows).select("tags_json", "usage_quantity")
    expected = spark.createDataFrame(
        [('[{"key":"team","value":"marketing"}]', Decimal("10"))], "tags_json string, usage_quantity decimal(38,18)"
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_price_change_mid_day_is_half_open_on_usage_end_time(spark):
    change = dt.datetime(2026, 10, 5, 12, 0, 0)
    prices = spark.createDataFrame(
        [
            price_row(SKU, "0.35", dt.datetime(2013, 1, 1), change, default="0.40"),
            price_row(SKU, "0.50", change, None),
        ],
        LIST_PRICES,
    )
    # Line ending 11:00 and 12:00 (exactly on the change) and 13:00; thousands of DBUs to catch overflow.
    rows = [usage_row("1500.123456789012345678", hour=h, record_id=str(h)) for h in (10, 11, 12)]
    priced = price_usage(netted(spark, rows), price_intervals(prices, "USD"))
    actual = priced.select(F.hour("usage_end_time").alias("end_hour"), "unit_price", "list_cost", "is_priced")
    expected = spark.createDataFrame(
        [
            (11, Decimal("0.35"), Decimal("525.0432098762"), True),
            (12, Decimal("0.50"), Decimal("750.0617283945"), True),
            (13, Decimal("0.50"), Decimal("750.0617283945"), True),
        ],
        "end_hour int, unit_price decimal(38,18), list_cost decimal(38,10), is_priced boolean",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_unpriced_sku_is_kept_at_zero_cost_and_flagged(spark):
    prices = spark.createDataFrame([price_row(SKU, "0.35", dt.datetime(2013, 1, 1), None)], LIST_PRICES)
    rows = [usage_row("3", sku="PREMIUM_BRAND_NEW_SKU", record_id="n"), usage_row("2", record_id="k")]
    priced = price_usage(netted(spark, rows), price_intervals(prices, "USD"))
    actual = priced.select("sku_name", "is_priced", "list_cost")
    expected = spark.createDataFrame(
        [("PREMIUM_BRAND_NEW_SKU", False, Decimal(0)), (SKU, True, Decimal("0.70"))],
        "sku_name string, is_priced boolean, list_cost decimal(38,10)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_each_line_is_priced_once_whatever_overlaps_the_price_table_holds(spark):
    """Issue 15: a price table exported twice, a row nested in an open-ended one, two prices at once, a NULL price.

    Identical rows count once; a nested row cuts nothing off; where two rows disagree, or the price in force is
    NULL, the line is kept unpriced with the reason (the run refuses such prices before it writes)."""
    nested_from, nested_to = dt.datetime(2026, 10, 5, 10), dt.datetime(2026, 10, 5, 12)
    null_price = list(price_row("NULL_PRICED_SKU", "1", dt.datetime(2013, 1, 1), None))
    null_price[LIST_PRICES.fieldNames().index("pricing")] = None
    prices = spark.createDataFrame(
        [
            price_row(SKU, "0.5", dt.datetime(2013, 1, 1), None),
            price_row(SKU, "0.5", dt.datetime(2013, 1, 1), None),  # the same row again
            price_row(SKU, "0.5", dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)),  # nested, same price
            price_row(SKU, "0.9", nested_from, nested_to),  # nested, another price
            tuple(null_price),
        ],
        LIST_PRICES,
    )
    rows = [usage_row("10", hour=h, record_id=str(h)) for h in (8, 10, 12, 14)]  # ending 9:00, 11:00, 13:00, 15:00
    rows.append(usage_row("4", sku="NULL_PRICED_SKU", record_id="n"))
    priced = price_usage(netted(spark, rows), price_intervals(prices, "USD"))
    actual = priced.select(
        F.hour("usage_end_time").alias("end_hour"), "sku_name", "is_priced", "unpriced_reason", "list_cost"
    )
    expected = spark.createDataFrame(
        [
            (9, SKU, True, None, Decimal(5)),
            (11, SKU, False, "conflicting list prices", Decimal(0)),
            (13, SKU, True, None, Decimal(5)),
            (15, SKU, True, None, Decimal(5)),
            (11, "NULL_PRICED_SKU", False, "NULL list price", Decimal(0)),
        ],
        "end_hour int, sku_name string, is_priced boolean, unpriced_reason string, list_cost decimal(38,10)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_day_without_an_fx_rate_leaves_its_lines_unpriced_never_null(spark):
    """Issue 15: the run refuses such a window before writing; the step itself never yields a NULL cost."""
    base = config("fx_rates:\n  - {from_currency: USD, to_currency: EUR, rate: '0.92', valid_from: 2026-10-05}\n")
    lines = spark.createDataFrame(
        [(DAY - dt.timedelta(days=1), "JOBS", SKU, Decimal("10"), True), (DAY, "JOBS", SKU, Decimal("10"), True)],
        "usage_date date, billing_origin_product string, sku_name string, list_cost decimal(38,10), is_priced boolean",
    )
    out = apply_discounts_and_fx(lines, base.discounts, base.fx_rates, "USD", "EUR")
    actual = out.select("usage_date", "is_priced", "unpriced_reason", "list_cost", "effective_cost")
    expected = spark.createDataFrame(
        [
            (DAY - dt.timedelta(days=1), False, "no fx rate", Decimal(0), Decimal(0)),
            (DAY, True, None, Decimal("9.2"), Decimal("9.2")),
        ],
        "usage_date date, is_priced boolean, unpriced_reason string, list_cost decimal(38,10), "
        "effective_cost decimal(38,10)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_discount_and_fx_give_effective_cost_in_the_chargeback_currency(spark):
    """1000 USD list -> 920 EUR list; 12.5% off -> 805 EUR."""
    base = config(
        "discounts:\n  - {billing_origin_product: JOBS, percent: '12.5', valid_from: 2026-01-01}\n"
        "fx_rates:\n  - {from_currency: USD, to_currency: EUR, rate: '0.92', valid_from: 2026-01-01}\n"
    )
    lines = spark.createDataFrame(
        [(DAY, "JOBS", SKU, Decimal("1000.00"))],
        "usage_date date, billing_origin_product string, sku_name string, list_cost decimal(38,10)",
    )
    out = apply_discounts_and_fx(lines, base.discounts, base.fx_rates, "USD", "EUR")
    actual = out.select("list_cost", "effective_cost", "currency_code")
    expected = spark.createDataFrame(
        [(Decimal("920.00"), Decimal("805.00"), "EUR")],
        "list_cost decimal(38,10), effective_cost decimal(38,10), currency_code string",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


# --- attribution --------------------------------------------------------------------------------------

LINE_SCHEMA = (
    "usage_line_id string, usage_date date, workspace_id string, tags_json string, pipeline_tags_json string, "
    "policy_id string, workload_type string, workload_id string, owner_identity string"
)


def line(line_id, tags="[]", pipeline_tags="[]", policy=None, wtype="job", wid="1", owner=None, day=DAY, ws="1111"):  # type: ignore[no-untyped-def]
    return (line_id, day, ws, tags, pipeline_tags, policy, wtype, wid, owner)


def tags(**kv: str) -> str:
    import json

    return json.dumps([{"key": k, "value": v} for k, v in sorted(kv.items())], separators=(",", ":"))


ATTRIBUTION = """attribution:
  tag_keys: [business_unit, team]
  tag_values:
    - {value: "mktg", business_unit: marketing, valid_from: 2026-01-01}
  budget_policies:
    - {policy_id: pol-1, business_unit: finance, valid_from: 2026-01-01}
    - {policy_id: pol-old, business_unit: finance, valid_from: 2025-01-01, valid_to: 2026-10-01}
  workloads:
    - {workload_type: job, workload_id: "77", business_unit: marketing, valid_from: 2026-01-01}
  identities:
    - {identity: bob@example.com, business_unit: finance, valid_from: 2026-01-01}
  workspaces:
    - {workspace_id: "1111", business_unit: platform, valid_from: 2026-01-01}
"""


def test_attribution_precedence_and_validity(spark):
    cfg = config(attribution=ATTRIBUTION)
    lines = spark.createDataFrame(
        [
            line("spellings", tags=tags(BusinessUnit="DATA ENG", team="finance")),  # first key wins, any spelling
            line("alias", tags=tags(team="MKTG")),
            line("policy-beats-workspace", policy="pol-1"),
            line("expired-policy", policy="pol-old"),  # valid_to passed: falls to the workspace default
            line("workload", wid="77"),
            line("pipeline", wtype="pipeline", wid="p1", pipeline_tags=tags(team="Data_Eng")),
            line("identity", owner="bob@example.com", ws="9999"),
            line("nobody", ws="9999", tags=tags(team="unknown-team")),
        ],
        LINE_SCHEMA,
    )
    actual = attribute(lines, cfg).select(
        "usage_line_id", "business_unit", "attribution_method", "attribution_confidence"
    )
    expected = spark.createDataFrame(
        [
            ("spellings", "data-eng", "tag", "high"),
            ("alias", "marketing", "tag", "high"),
            ("policy-beats-workspace", "finance", "budget_policy", "high"),
            ("expired-policy", "platform", "workspace", "low"),
            ("workload", "marketing", "workload", "high"),
            ("pipeline", "data-eng", "pipeline_tag", "medium"),
            ("identity", "finance", "identity", "medium"),
            ("nobody", "UNALLOCATED", "unallocated", "none"),
        ],
        "usage_line_id string, business_unit string, attribution_method string, attribution_confidence string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_attribution_fails_on_a_line_whose_tags_are_not_among_the_tag_sets_given(spark):
    """Tags are chosen per distinct tag set of the sources; a line whose tags they lack must fail the run, not go
    quietly to the next rule (fails if `best_tags` drops its `missing` check, for its own tags or its pipeline's:
    the line reads `workspace`)."""
    cfg = config(attribution=ATTRIBUTION)
    lines = spark.createDataFrame([line("alias", tags=tags(team="MKTG"))], LINE_SCHEMA)
    given = TagSets(
        spark.createDataFrame([(tags(team="finance"),)], "tags_json string"),
        spark.createDataFrame([("[]",)], "tags_json string"),
    )
    with pytest.raises(Exception, match="not among the tag sets"):
        attribute(lines, cfg, given).collect()
    pipeline = spark.createDataFrame([line("p", wtype="pipeline", pipeline_tags=tags(team="MKTG"))], LINE_SCHEMA)
    with pytest.raises(Exception, match="not among the tag sets"):  # the pipeline's tags, not given either
        attribute(pipeline, cfg, given).collect()
    (attributed,) = attribute(lines, cfg, TagSets(lines.select("tags_json"), given.pipeline)).collect()
    assert attributed.business_unit == "marketing"


# --- allocation ---------------------------------------------------------------------------------------

ALLOC_SCHEMA = (
    "usage_date date, business_unit string, workspace_id string, warehouse_id string, billing_origin_product string, "
    "sku_name string, workload_type string, workload_id string, workload_name string, currency_code string, "
    "list_cost decimal(38,10), effective_cost decimal(38,10)"
)


def cost_line(unit, product, cost, sku="SKU", ws="w1"):  # type: ignore[no-untyped-def]
    amount = Decimal(cost)
    return (DAY, unit, ws, None, product, sku, "job", f"{unit}-{product}", "n", "USD", amount, amount)


POOLS = {
    "proportional": "    method: proportional\n",
    "proportional_same_product": "    method: proportional\n    same_product: true\n",
    "even": "    method: even\n    business_units: [data-eng, finance, marketing]\n",
    "fixed": "    method: fixed\n    percentages: {data-eng: '50', finance: '33.3333', marketing: '16.6667'}\n",
    "central": "    method: central\n    business_unit: platform\n",
}
EXPECTED = {
    # pool 1000.0000000001 split by direct cost 100 / 200 / 0 (platform) or equally or by percent.
    # Ratios carry 12 digits; shares are truncated and the residual goes to the largest weight (ties: unit id).
    "proportional": {"data-eng": "333.3333333330", "finance": "666.6666666671", "marketing": "0", "platform": "0"},
    "proportional_same_product": {"data-eng": "1000.0000000001", "finance": "0", "marketing": "0", "platform": "0"},
    "even": {"data-eng": "333.3333333341", "finance": "333.3333333330", "marketing": "333.3333333330"},
    "fixed": {"data-eng": "500.0000000001", "finance": "333.3330000000", "marketing": "166.6670000000"},
    "central": {"platform": "1000.0000000001"},
}


@pytest.mark.parametrize("method", list(POOLS))
def test_each_split_method_sums_back_exactly(spark, method):
    cfg = config("shared_costs:\n  - id: net\n    match: {billing_origin_products: [NETWORKING]}\n" + POOLS[method])
    lines = spark.createDataFrame(
        [
            cost_line("data-eng", "JOBS", "100"),
            cost_line("finance", "SQL", "200"),
            cost_line("UNALLOCATED", "NETWORKING", "1000.0000000001"),
        ],
        ALLOC_SCHEMA,
    ).transform(assign_pools, cfg.shared_costs)
    shared = allocate(lines, cfg.shared_costs, cfg.unit_ids).where(F.col("cost_kind") == "shared")
    if method == "proportional_same_product":
        # No direct NETWORKING cost: the pool falls back to an even split over all units.
        expected = {"data-eng": "250.0000000001", "finance": "250", "marketing": "250", "platform": "250"}
    else:
        expected = EXPECTED[method]
    actual = shared.select("business_unit", "effective_cost")
    assert_df_equality(
        actual,
        spark.createDataFrame(
            [(u, Decimal(v)) for u, v in expected.items()], "business_unit string, effective_cost decimal(38,10)"
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    total = shared.agg(F.sum("effective_cost")).collect()[0][0]
    assert total == Decimal("1000.0000000001")


def test_negative_pool_allocations_keep_the_pool_sign(spark):
    cfg = config("shared_costs:\n  - id: net\n    match: {billing_origin_products: [NETWORKING]}\n    method: even\n")
    lines = spark.createDataFrame([cost_line("UNALLOCATED", "NETWORKING", "-0.0000000002")], ALLOC_SCHEMA).transform(
        assign_pools, cfg.shared_costs
    )
    allocated = allocate(lines, cfg.shared_costs, cfg.unit_ids)
    # A quarter of the credit truncates to zero; the residual goes to the first unit (all weights tie).
    assert_rows(
        allocated,
        ["business_unit", "cost_kind", "pool_id", "list_cost", "effective_cost"],
        [
            ("data-eng", "shared", "net", Decimal("-0.0000000002"), Decimal("-0.0000000002")),
            ("finance", "shared", "net", Decimal(0), Decimal(0)),
            ("marketing", "shared", "net", Decimal(0), Decimal(0)),
            ("platform", "shared", "net", Decimal(0), Decimal(0)),
        ],
    )
    rows = allocated.collect()
    assert sum(r.effective_cost for r in rows) == Decimal("-0.0000000002")
    assert all(r.effective_cost <= 0 for r in rows)


# --- workloads: names from the latest SCD rows, pipeline tags for serverless pipelines -------------------


def test_serverless_pipeline_with_empty_custom_tags_is_attributed_through_its_pipeline_tags(spark):
    from chargeback.contracts.system_tables import JOBS, PIPELINES, SERVED_ENTITIES, WORKSPACES_LATEST
    from chargeback.jobs.daily import usage_costs
    from chargeback.jobs.params import RunParams
    from chargeback.steps.workloads import Enrichment
    from tests.helpers import struct_value

    ws = "1111111111111111"
    created, renamed = dt.datetime(2026, 1, 1), dt.datetime(2026, 10, 1)
    usage = spark.createDataFrame(
        [
            usage_row("3", tags={}, metadata={"dlt_pipeline_id": "p-1"}, product="DLT", record_id="a"),
            usage_row("5", tags={}, metadata={"job_id": "42", "job_name": None}, record_id="b"),
        ],
        USAGE,
    )
    enrichment = Enrichment(
        spark.createDataFrame(
            [struct_value(WORKSPACES_LATEST, {"workspace_id": ws, "workspace_name": "prod"})], WORKSPACES_LATEST
        ),
        spark.createDataFrame(
            [
                struct_value(JOBS, {"workspace_id": ws, "job_id": "42", "name": "old_name", "change_time": created}),
                struct_value(JOBS, {"workspace_id": ws, "job_id": "42", "name": "new_name", "change_time": renamed}),
            ],
            JOBS,
        ),
        spark.createDataFrame(
            [
                struct_value(
                    PIPELINES,
                    {
                        "workspace_id": ws,
                        "pipeline_id": "p-1",
                        "name": "leads",
                        "tags": {"Team": "Data_Eng"},
                        "change_time": created,
                    },
                )
            ],
            PIPELINES,
        ),
        spark.createDataFrame([], SERVED_ENTITIES),
    )
    prices = spark.createDataFrame([price_row(SKU, "0.5", dt.datetime(2020, 1, 1), None)], LIST_PRICES)
    params = RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 10, 6))
    actual = usage_costs(usage, prices, enrichment, config(), params).select(
        "workload_type",
        "workload_id",
        "workload_name",
        "workspace_name",
        "business_unit",
        "attribution_method",
        "effective_cost",
    )
    expected = spark.createDataFrame(
        [
            ("pipeline", "p-1", "leads", "prod", "data-eng", "pipeline_tag", Decimal("1.5")),
            ("job", "42", "new_name", "prod", "UNALLOCATED", "unallocated", Decimal("2.5")),
        ],
        "workload_type string, workload_id string, workload_name string, workspace_name string, "
        "business_unit string, attribution_method string, effective_cost decimal(38,10)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_clusters_are_named_from_the_rows_of_the_clusters_the_records_bill(spark):
    """`Enrichment.for_records` keeps every row of each billed cluster (its latest name wins) and no other: not
    a cluster the records do not bill, nor one of the same id in another workspace."""
    from chargeback.contracts.system_tables import CLUSTERS, JOBS, PIPELINES, SERVED_ENTITIES, WORKSPACES_LATEST
    from chargeback.jobs.daily import usage_costs
    from chargeback.jobs.params import RunParams
    from chargeback.steps.workloads import Enrichment
    from tests.helpers import struct_value

    ws, other_ws = "1111111111111111", "2222222222222222"
    created, renamed = dt.datetime(2026, 1, 1), dt.datetime(2026, 10, 1)
    usage = spark.createDataFrame(
        [usage_row("2", metadata={"cluster_id": "c-1"}, product="ALL_PURPOSE", record_id="a")], USAGE
    )

    def cluster(workspace: str, cluster_id: str, name: str, at: dt.datetime) -> tuple:
        values = {"workspace_id": workspace, "cluster_id": cluster_id, "cluster_name": name, "change_time": at}
        return struct_value(CLUSTERS, values)

    clusters = spark.createDataFrame(
        [
            cluster(ws, "c-1", "etl (old)", created),
            cluster(ws, "c-1", "etl", renamed),
            cluster(ws, "c-2", "unbilled", renamed),
            cluster(other_ws, "c-1", "same id elsewhere", renamed),
        ],
        CLUSTERS,
    )
    empty = [spark.createDataFrame([], schema) for schema in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES)]
    enrichment = Enrichment(*empty, clusters=clusters).for_records(usage)

    assert enrichment.clusters is not None
    assert sorted((r.workspace_id, r.cluster_id, r.cluster_name) for r in enrichment.clusters.collect()) == [
        (ws, "c-1", "etl"),
        (ws, "c-1", "etl (old)"),
    ]
    prices = spark.createDataFrame([price_row(SKU, "0.5", dt.datetime(2020, 1, 1), None)], LIST_PRICES)
    params = RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 10, 6))
    named = usage_costs(usage, prices, enrichment, config(), params).select("workload_type", "workload_name")
    assert [tuple(r) for r in named.collect()] == [("cluster", "etl")]
    assert Enrichment(*empty).for_records(usage).clusters is None
