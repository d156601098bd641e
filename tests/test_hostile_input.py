"""Bad and hostile input: each case ends in a documented result or a clear error, never a crash or a wrong bill."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from chargeback.allocation import allocate
from chargeback.errors import InputError
from chargeback.names import TableName
from chargeback.pipeline import Enrichment, RunParams, usage_costs
from chargeback.schemas import JOBS, LIST_PRICES, PIPELINES, SERVED_ENTITIES, USAGE, WORKSPACES_LATEST
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
