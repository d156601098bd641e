"""Cost per pipeline update (`chargeback.marts.pipeline_updates`): tiny inline data on every engine, whole frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from chargeback.contracts.cost_tables import PIPELINE_UPDATE_COSTS
from chargeback.contracts.system_tables import PIPELINE_UPDATE_TIMELINE
from chargeback.marts.pipeline_updates import pipeline_update_costs
from tests.helpers import DAY, spec_frame, struct_value

WS = "1111"
# Silver's lines as the publish step passes them: pipeline_id and pipeline_name set on pipeline lines only.
LINES = (
    "workspace_id string, workspace_name string, pipeline_id string, pipeline_name string, dlt_update_id string, "
    "owner_identity string, usage_start_time timestamp, usage_end_time timestamp, list_cost decimal(38,10), "
    "effective_cost decimal(38,10), currency_code string, business_unit string"
)
NAMES = {"p1": "orders_etl", "p2": "clickstream"}  # the latest names silver gave the pipelines' lines

pytestmark = pytest.mark.transform


def at(hour: int, minute: int = 0) -> dt.datetime:
    """`hour` may pass 23: the next day's hours."""
    return dt.datetime.combine(DAY, dt.time()) + dt.timedelta(hours=hour, minutes=minute)


def usage(update: str | None, hour: int, lst: str, cost: str, unit: str = "data-eng", pipeline: str | None = "p1"):  # type: ignore[no-untyped-def]
    name = NAMES.get(pipeline or "")
    return (WS, "prod", pipeline, name, update, "etl@x.com", at(hour), at(hour + 1), Decimal(lst), Decimal(cost),
            "USD", unit)  # fmt: skip


def slice_row(update: str, start: dt.datetime, end: dt.datetime, state: str | None, **kw: str) -> tuple:
    values = {
        "account_id": "acc",
        "workspace_id": WS,
        "pipeline_id": kw.pop("pipeline", "p1"),
        "update_id": update,
        "update_type": kw.pop("update_type", "REFRESH"),
        "trigger_type": kw.pop("trigger", "API_CALL"),
        "result_state": state,
        "compute": {"type": "SERVERLESS_COMPUTE"},
        "period_start_time": start,
        "period_end_time": end,
    }
    return struct_value(PIPELINE_UPDATE_TIMELINE, values)  # type: ignore[return-value]


def row(update: str, start: dt.datetime, end: dt.datetime, state: str | None, lines: int, cost: str, **kw: Any):  # type: ignore[no-untyped-def]
    """An expected row; `cost` is both list and effective cost unless `list_cost` is given."""
    pipeline = kw.pop("pipeline", "p1")
    values = {
        "dlt_update_id": update,
        "workspace_id": WS,
        "workspace_name": "prod",
        "pipeline_id": pipeline,
        "pipeline_name": NAMES.get(pipeline, pipeline),
        "run_date": start.date(),
        "update_start_at": start,
        "update_end_at": end,
        "duration_seconds": int((end - start).total_seconds()),
        "result_state": state,
        "update_type": "REFRESH",
        "trigger_type": "API_CALL",
        "has_timeline": True,
        "is_waste": False,
        "owner_identity": "etl@x.com",
        "business_unit": "data-eng",
        "usage_line_count": lines,
        "list_cost": Decimal(kw.pop("list_cost", cost)),
        "effective_cost": Decimal(cost),
        "currency_code": "USD",
        "run_id": "r1",
    }
    return {**values, **kw}


def costs(spark: SparkSession, lines: list[tuple], slices: list[tuple]) -> DataFrame:
    actual = pipeline_update_costs(
        spark.createDataFrame(lines, LINES), spark.createDataFrame(slices, PIPELINE_UPDATE_TIMELINE), "r1"
    )
    assert actual.columns == PIPELINE_UPDATE_COSTS.column_names
    return actual


def test_each_billed_update_once_with_its_outcome_pipeline_unit_and_waste(spark):
    lines = [
        # Three hourly slices and three lines (two units: the larger is the update's), summed once.
        usage("u-sliced", 10, "3", "2.5"),
        usage("u-sliced", 11, "4", "4", unit="finance"),
        usage("u-sliced", 12, "2", "2"),
        usage("u-failed", 14, "1.5", "1.5", pipeline="p2"),
        usage("u-canceled", 15, "0.5", "0.5", pipeline="p2"),
        usage("u-no-timeline", 16, "2", "2"),
        usage("u-no-timeline", 17, "1", "1"),
        usage("u-running", 18, "1", "1"),
        # Billed while a job task ran it: silver typed the line as the job's, the timeline names the pipeline.
        usage("u-in-job", 19, "6", "6", pipeline=None),
        usage(None, 10, "100", "100"),  # maintenance (dlt_maintenance_id): no update's
    ]
    slices = [
        slice_row("u-sliced", at(10, 40), at(11), None),
        slice_row("u-sliced", at(11), at(12), None),
        slice_row("u-sliced", at(12), at(12, 15), "COMPLETED"),
        slice_row("u-failed", at(14, 5), at(14, 30), "FAILED", pipeline="p2"),
        slice_row("u-canceled", at(15, 2), at(15, 9), "CANCELED", pipeline="p2", trigger="RETRY_ON_FAILURE"),
        slice_row("u-running", at(18, 1), at(19), None, update_type="FULL_REFRESH"),
        slice_row("u-in-job", at(19, 3), at(19, 50), "COMPLETED", pipeline="p3", trigger="JOB_TASK"),
        slice_row("u-unbilled", at(8), at(8, 1), "COMPLETED"),  # no usage: no cost row
    ]
    expected = [
        row("u-sliced", at(10, 40), at(12, 15), "COMPLETED", 3, "8.5", list_cost="9"),
        row("u-failed", at(14, 5), at(14, 30), "FAILED", 1, "1.5", pipeline="p2", is_waste=True),
        row("u-canceled", at(15, 2), at(15, 9), "CANCELED", 1, "0.5", pipeline="p2", is_waste=True,
            trigger_type="RETRY_ON_FAILURE"),
        row("u-no-timeline", at(16), at(18), None, 2, "3", has_timeline=False, update_type=None, trigger_type=None),
        row("u-running", at(18, 1), at(19), None, 1, "1", update_type="FULL_REFRESH"),
        row("u-in-job", at(19, 3), at(19, 50), "COMPLETED", 1, "6", pipeline="p3", trigger_type="JOB_TASK"),
    ]  # fmt: skip
    actual = costs(spark, lines, slices)
    assert_df_equality(
        actual, spec_frame(spark, PIPELINE_UPDATE_COSTS, expected), ignore_row_order=True, ignore_nullable=True
    )


def test_an_update_over_midnight_is_dated_by_its_start_and_keeps_its_whole_cost(spark):
    lines = [usage("u-night", 23, "1", "1"), usage("u-night", 24, "2", "2")]
    slices = [slice_row("u-night", at(23, 30), at(24), None), slice_row("u-night", at(24), at(24, 20), "COMPLETED")]
    expected = [row("u-night", at(23, 30), at(24, 20), "COMPLETED", 2, "3")]
    assert_df_equality(
        costs(spark, lines, slices), spec_frame(spark, PIPELINE_UPDATE_COSTS, expected), ignore_nullable=True
    )
