"""Bad and hostile input: each case ends in a documented result or a clear error, never a crash or a wrong bill."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from pyspark.sql import functions as F

from chargeback import money
from chargeback.contracts.system_tables import JOBS, LIST_PRICES, PIPELINES, SERVED_ENTITIES, USAGE, WORKSPACES_LATEST
from chargeback.errors import InputError, ReconciliationError
from chargeback.jobs import tieout
from chargeback.jobs.daily import usage_costs
from chargeback.jobs.params import RunParams
from chargeback.names import TableName
from chargeback.steps.allocation import allocate
from chargeback.steps.usage import content_hash
from chargeback.steps.workloads import Enrichment
from tests.helpers import DAY, config, price_row, usage_row

SKU = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"
PARAMS = RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 10, 6))
CUSTOM_TAGS = USAGE.fieldNames().index("custom_tags")


def silver(spark, rows, usage=None):  # type: ignore[no-untyped-def]
    enrichment = Enrichment(
        *(spark.createDataFrame([], s) for s in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES))
    )
    prices = spark.createDataFrame([price_row(SKU, "0.5", dt.datetime(2020, 1, 1), None)], LIST_PRICES)
    frame = usage if usage is not None else spark.createDataFrame(rows, USAGE)
    return usage_costs(frame, prices, enrichment, config(), PARAMS)


@pytest.mark.transform
def test_a_record_appended_twice_is_billed_once(spark):
    rows = [usage_row("1000", record_id="dup"), usage_row("1000", record_id="dup"), usage_row("1", record_id="x")]
    (line,) = silver(spark, rows).collect()
    assert line.usage_quantity == Decimal("1001")
    assert line.source_record_count == 2
    assert line.effective_cost == Decimal("500.5")


@pytest.mark.transform
def test_the_record_check_tells_whether_ids_repeat_as_the_dedicated_pass_does(spark):
    alone = [usage_row("1", record_id="a"), usage_row("1", record_id="b"), usage_row("1", record_id="c")]
    cases = {
        "no repeat": alone,
        "a copy": [*alone, usage_row("2", record_id="b")],
        "one id, two record types": [*alone, usage_row("-1", record_id="a", record_type="RETRACTION")],
    }
    found = {}
    for name, rows in cases.items():
        usage = spark.createDataFrame(rows, USAGE)
        found[name] = (tieout.check_records(usage, "u", DAY, DAY), tieout._ids_may_repeat(usage))
    assert found == {"no repeat": (False, False), "a copy": (True, True), "one id, two record types": (False, False)}


@pytest.mark.transform
def test_a_record_exported_again_in_another_raw_form_is_billed_once(spark):
    # The second export lists the tags in another order, names the policy by its newer field and was ingested
    # later: the same record all the same.
    first = usage_row(
        "1000", record_id="dup", tags={"team": "finance", "env": "prod"}, metadata={"budget_policy_id": "p1"}
    )
    again = usage_row(
        "1000",
        record_id="dup",
        tags={"env": "prod", "team": "finance"},
        metadata={"usage_policy_id": "p1"},
        ingestion_date=DAY + dt.timedelta(days=3),
    )
    (line,) = silver(spark, [first, again]).collect()
    assert (line.usage_quantity, line.source_record_count, line.policy_id) == (Decimal("1000"), 1, "p1")
    assert line.effective_cost == Decimal("500")


@pytest.mark.transform
def test_extra_and_reordered_source_columns_change_nothing(spark):
    rows = [usage_row("12.5", tags={"team": "finance"})]
    usage = spark.createDataFrame(rows, USAGE)
    drifted = usage.select(*reversed(usage.columns)).withColumn("some_new_column", F.lit("preview"))
    expected = silver(spark, rows).drop("run_id").collect()
    assert silver(spark, rows, drifted).drop("run_id").collect() == expected
    assert expected[0].business_unit == "finance"


HOSTILE_KEYS = ["", "'", '"; DROP TABLE usage; --', "`business_unit`", "Business Unit", "🚀", "k" * 5000]


@pytest.mark.transform
def test_hostile_tag_maps_are_attributed_or_left_unallocated_without_error(spark):
    rows = [usage_row("1", tags={key: "Finance"}, record_id=str(i)) for i, key in enumerate(HOSTILE_KEYS)]
    rows.append(usage_row("1", tags={"team": "x'); DELETE FROM t; --" * 200}, record_id="long-value"))
    null_tags = list(usage_row("1", record_id="null-map"))
    null_tags[CUSTOM_TAGS] = None
    rows.append(tuple(null_tags))
    lines = silver(spark, rows)
    by_method = {
        (r.tags_json, r.business_unit, r.attribution_method)
        for r in lines.select("tags_json", "business_unit", "attribution_method").collect()
    }
    units = sorted(unit for _, unit, _ in by_method)
    # `Business Unit` and `business_unit` (backticks are separators) are the configured key; nothing else is.
    assert units.count("finance") == 2
    assert units.count("UNALLOCATED") == len(HOSTILE_KEYS) - 2 + 2
    total = allocate(lines, (), config().unit_ids).agg(F.sum("effective_cost")).collect()[0][0]
    assert total == Decimal("4.5")


@pytest.mark.transform
def test_negative_original_quantity_is_kept_as_a_credit(spark):
    (line,) = silver(spark, [usage_row("-4", record_id="credit")]).collect()
    assert line.effective_cost == Decimal("-2")


@pytest.mark.transform
def test_an_empty_window_gives_no_lines_and_a_zero_total(spark):
    lines = silver(spark, [usage_row("3", day=DAY - dt.timedelta(days=40))])
    assert lines.count() == 0
    assert allocate(lines, (), config().unit_ids).count() == 0


@pytest.mark.parametrize(
    "catalog, schema",
    [("main; DROP TABLE x", "chargeback"), ("main", "charge`back"), ("main", "a.b"), ("", "chargeback")],
)
def test_invalid_identifiers_in_parameters_are_rejected_before_any_sql(catalog, schema):
    with pytest.raises(InputError):
        RunParams(catalog, schema, DAY, DAY, "r", dt.datetime(2026, 10, 6))


@pytest.mark.parametrize("key", ["a-b", "x; DROP TABLE t", "`x`", "k" * 41, "é"])
def test_a_scratch_key_that_is_not_a_table_name_suffix_is_rejected(key):
    with pytest.raises(InputError, match="--scratch-key"):
        RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 10, 6), scratch_key=key)


def test_scratch_tables_carry_the_scratch_key():
    keyed = RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 10, 6), scratch_key="101")
    assert keyed.scratch("staging_cost_daily") == TableName("main", "chargeback", "staging_cost_daily_101")
    assert PARAMS.scratch("staging_cost_daily") == TableName("main", "chargeback", "staging_cost_daily")


def test_an_injection_in_a_source_table_parameter_is_rejected_before_the_engine_starts(capsys):
    from chargeback.cli import main

    # No workspace is reachable here: reaching the engine would fail differently.
    status = main(
        [
            "job-step",
            "--step",
            "all",
            "--catalog",
            "main",
            "--schema",
            "chargeback",
            "--run-id",
            "r",
            "--usage-table",
            "system.billing.usage; DROP TABLE system.billing.usage",
        ]
    )
    err = capsys.readouterr().err
    assert status != 0
    assert err.startswith("chargeback: error:") and err.count("\n") == 1
    assert "--usage-table" in err
    with pytest.raises(InputError):
        TableName.parse("system.billing.usage; DROP TABLE system.billing.usage")


# --- issue 15: re-exported records, the documented range, the gate's own arithmetic --------------------------


@pytest.mark.transform
def test_a_record_exported_again_with_other_content_keeps_its_latest_copy(spark):
    later = DAY + dt.timedelta(days=2)
    rows = [
        # The latest ingestion wins, whatever the quantity or the tags.
        usage_row("10", record_id="again", tags={"team": "finance"}),
        usage_row("4", record_id="again", tags={"team": "marketing"}, ingestion_date=later),
        # Same ingestion date, other end time and quantity: the copy with the greatest content hash.
        usage_row("5", record_id="twin", hour=3),
        usage_row("6", record_id="twin", hour=4),
        usage_row("7", record_id="twin", hour=5, tags={"team": "x"}),
    ]
    usage = spark.createDataFrame(rows, USAGE)
    lines = silver(spark, rows).select("usage_quantity", "business_unit", "source_record_count").collect()
    assert sorted((r.usage_quantity, r.business_unit, r.source_record_count) for r in lines) == [
        (Decimal(4), "marketing", 1),
        (Decimal(6), "UNALLOCATED", 1),
    ]
    hashes = {
        r.q: r.h for r in usage.select(F.col("usage_quantity").alias("q"), content_hash(usage).alias("h")).collect()
    }
    assert hashes[Decimal(6)] == max(hashes[Decimal(q)] for q in (5, 6, 7))
    # The gate re-derives the same choice on its own, and counts the records exported more than once.
    facts = tieout.source_facts(usage, DAY, DAY)
    assert sum(facts.quantities.values()) == Decimal(10)
    assert (facts.duplicate_records, facts.conflicting_records, facts.duplicate_examples) == (2, 2, ("again", "twin"))


@pytest.mark.transform
def test_quantities_to_1e15_and_prices_to_1e6_are_priced_exactly(spark):
    """Every digit: 18 decimals of quantity, 12 of price, rounded once at 10 decimals (no Delta on the way)."""
    cases = [
        ("999999999999999.123456789012345678", "999999.123456789012"),
        ("-999999999999999.999999999999999999", "999999.999999999999"),
        ("1000000000000.5", "1000.5"),
        ("0.000000000000000001", "2500.5"),
        ("1500.123456789012345678", "0.35"),
    ]
    rows, prices = [], []
    for i, (quantity, price) in enumerate(cases):
        sku = f"SKU_{i}"
        rows.append(usage_row(quantity, sku=sku, record_id=str(i)))
        prices.append(price_row(sku, price, dt.datetime(2020, 1, 1), None))
    enrichment = Enrichment(
        *(spark.createDataFrame([], s) for s in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES))
    )
    lines = usage_costs(
        spark.createDataFrame(rows, USAGE), spark.createDataFrame(prices, LIST_PRICES), enrichment, config(), PARAMS
    ).collect()
    with localcontext() as exact:
        exact.prec = 80
        expected = {
            f"SKU_{i}": (Decimal(q) * Decimal(p)).quantize(Decimal("1e-10"), ROUND_HALF_UP)
            for i, (q, p) in enumerate(cases)
        }
    assert {r.sku_name: r.effective_cost for r in lines} == expected
    assert all(r.is_priced for r in lines)


@pytest.mark.transform
def test_money_helpers_are_exact_to_the_edge_of_their_range(spark):
    amount = Decimal("123456789012345678901.1234567891")  # a list cost just below 10^21
    rows = [(amount, Decimal("0.0000000003"), Decimal("12.3456"), Decimal("0.333333333333"))]
    rows.append((-amount, Decimal("10000000000"), Decimal("99.9999"), Decimal("9.999999999999")))
    rows.append((Decimal("99999999999999.9999999999"), Decimal("1.0000000001"), Decimal("0"), Decimal("0.5")))
    frame = spark.createDataFrame(rows, "a decimal(38,10), rate decimal(21,10), pct decimal(9,4), ratio decimal(13,12)")
    a, rate, pct, ratio = (F.col(c) for c in ("a", "rate", "pct", "ratio"))
    small = F.when(F.abs(a) < F.lit(Decimal(10) ** 14), a).otherwise(F.lit(0))
    ok = money.conversion_in_range(a, rate)
    out = frame.select(
        "a",
        "rate",
        "pct",
        "ratio",
        # As the pipeline does: out-of-range values never reach the arithmetic (Sail evaluates both branches).
        F.when(ok, money.converted(F.when(ok, a).otherwise(0), F.when(ok, rate).otherwise(0))).alias("converted"),
        money.discounted(a, pct).alias("discounted"),
        money.times_ratio(a, ratio).alias("times_ratio"),
        money.share_toward_zero(a, ratio).alias("share"),
        money.ratio_of(small, F.lit(Decimal("300000000000000")).cast("decimal(38,10)")).alias("ratio_of"),
    ).collect()
    with localcontext() as exact:
        exact.prec = 80
        for r in out:
            cent = Decimal("1e-10")
            converted = (r.a * r.rate).quantize(cent, ROUND_HALF_UP)
            assert r.converted == (converted if abs(converted) < Decimal(10) ** 23 else None)
            assert r.discounted == (r.a * (100 - r.pct) / 100).quantize(cent, ROUND_HALF_UP)
            assert r.times_ratio == (r.a * r.ratio).quantize(cent, ROUND_HALF_UP)
            assert r.share == (r.a * r.ratio).quantize(cent, ROUND_DOWN)
            part = r.a if abs(r.a) < Decimal(10) ** 14 else Decimal(0)
            assert r.ratio_of == (part / Decimal("300000000000000")).quantize(Decimal("1e-12"), ROUND_HALF_UP)


@pytest.mark.transform
def test_the_gate_finds_a_dropped_a_doubled_and_a_null_costed_line(spark):
    rows = [usage_row("3", record_id="a"), usage_row("5", record_id="b", sku="SQL_SKU", hour=12)]
    usage = spark.createDataFrame(rows, USAGE)
    prices = [
        price_row(SKU, "0.5", dt.datetime(2020, 1, 1), None),
        price_row("SQL_SKU", "2", dt.datetime(2020, 1, 1), None),
    ]
    enrichment = Enrichment(
        *(spark.createDataFrame([], s) for s in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES))
    )
    lines = usage_costs(usage, spark.createDataFrame(prices, LIST_PRICES), enrichment, config(), PARAMS)
    facts = tieout.source_facts(usage, DAY, DAY)
    totals = tieout.check_lines(lines, facts, DAY, DAY)
    assert totals.cost_by_day == {DAY: Decimal("11.5")}
    broken = {
        "lost": lines.where(F.col("sku_name") != "SQL_SKU"),
        "added": lines.unionByName(lines.where(F.col("sku_name") == "SQL_SKU")),
        "NULL": lines.withColumn(
            "effective_cost", F.when(F.col("sku_name") == "SQL_SKU", None).otherwise(F.col("effective_cost"))
        ),
        "unpriced (no reason)": lines.withColumn("is_priced", F.lit(False))
        .withColumn("list_cost", F.lit(0))
        .withColumn("effective_cost", F.lit(0)),
    }
    for fragment, frame in broken.items():
        with pytest.raises(ReconciliationError, match=re.escape(fragment)):
            tieout.check_lines(frame, facts, DAY, DAY)
    with pytest.raises(ReconciliationError, match="on 2026-10-05"):
        tieout.check_allocated({DAY: Decimal("11.5")}, {DAY: Decimal("11.4")}, "USD")
