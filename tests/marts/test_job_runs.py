"""Cost per job run (`chargeback.marts.job_runs`): step tests on tiny inline data on every engine, and the generated
account's runs (every billed run once, its outcome from the timeline, repairs, retries and failures flagged)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from chargeback.contracts.cost_tables import JOB_RUN_COSTS
from chargeback.contracts.system_tables import JOB_RUN_TIMELINE, JOBS
from chargeback.local import synthetic
from chargeback.marts.job_runs import job_run_costs
from tests.helpers import DAY, assert_rows, struct_value

WS, WS2 = "1111", "2222"
LINES = (
    "workspace_id string, job_id string, job_run_id string, usage_start_time timestamp, usage_end_time timestamp, "
    "list_cost decimal(38,10), effective_cost decimal(38,10), currency_code string, business_unit string, "
    "workspace_name string, owner_identity string"
)
OUTPUT = (
    "job_run_id string, workspace_id string, job_id string, job_name string, workspace_name string, run_date date, "
    "run_start_at timestamp, run_end_at timestamp, duration_seconds bigint, result_state string, "
    "termination_code string, trigger_type string, run_type string, attempt_count int, has_timeline boolean, "
    "is_retry boolean, is_waste boolean, owner_identity string, business_unit string, usage_line_count bigint, "
    "list_cost decimal(38,10), effective_cost decimal(38,10), currency_code string, run_id string"
)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    """`hour` may pass 23: the next day's hours."""
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour, minutes=minute)


def usage(run: str | None, hour: int, lst: str, cost: str, unit: str = "data-eng", job: str = "j1", ws: str = WS):  # type: ignore[no-untyped-def]
    return (ws, job, run, at(hour), at(hour + 1), Decimal(lst), Decimal(cost), "USD", unit, f"ws-{ws}", f"{job}@x.io")


def slice_row(run: str, start: dt.datetime, end: dt.datetime, state: str | None, job: str = "j1", **kw: str) -> tuple:
    values = {
        "account_id": "acc",
        "workspace_id": kw.pop("ws", WS),
        "job_id": job,
        "run_id": run,
        "period_start_time": start,
        "period_end_time": end,
        "trigger_type": kw.pop("trigger", "CRON"),
        "result_state": state,
        "run_type": kw.pop("run_type", "JOB_RUN"),
        "run_name": kw.pop("run_name", None),
        "termination_code": {None: None, "SUCCEEDED": "SUCCESS"}.get(state, "RUN_EXECUTION_ERROR"),
        "compute": [],
        "compute_ids": [],
    }
    return struct_value(JOB_RUN_TIMELINE, values)  # type: ignore[return-value]


def job_row(job: str, name: str, changed: dt.datetime) -> tuple:
    values = {"account_id": "acc", "workspace_id": WS, "job_id": job, "name": name, "change_time": changed, "tags": {}}
    return struct_value(JOBS, values)  # type: ignore[return-value]


def result(run: str, job: str, name: str, start: dt.datetime, end: dt.datetime, state: str | None, *rest) -> tuple:  # type: ignore[no-untyped-def]
    trigger, run_type, attempts, timeline, retry, waste, unit, lines, lst, cost, ws = rest
    code = {None: None, "SUCCEEDED": "SUCCESS"}.get(state, "RUN_EXECUTION_ERROR")
    seconds = int((end - start).total_seconds())
    return (run, ws, job, name, f"ws-{ws}", start.date(), start, end, seconds, state, code, trigger, run_type,
            attempts, timeline, retry, waste, f"{job}@x.io", unit, lines, Decimal(lst), Decimal(cost), "USD",
            "r1")  # fmt: skip


pytestmark = pytest.mark.transform


def costs(spark: SparkSession, lines: list[tuple], slices: list[tuple], jobs: list[tuple]) -> DataFrame:
    return job_run_costs(
        spark.createDataFrame(lines, LINES),
        spark.createDataFrame(slices, JOB_RUN_TIMELINE),
        spark.createDataFrame(jobs, JOBS),
        "r1",
    )


def test_each_billed_run_once_with_its_outcome_name_unit_and_waste(spark):
    lines = [
        usage("r-ok", 10, "3", "2.5"),
        usage("r-ok", 11, "2", "1.5"),
        usage("r-repaired", 12, "4", "4"),
        usage("r-failed", 9, "1", "1", unit="finance", job="j2"),
        usage("r-failed", 9, "3", "3", unit="marketing", job="j2"),  # most of the run's cost: its unit
        usage("r-submit", 15, "0.5", "0.4", job="j3"),
        usage("r-no-timeline", 16, "2", "2", job="j4"),
        usage("r-no-timeline", 17, "1", "1", job="j4"),
        usage("r-running", 13, "1", "1"),
        usage("r-ok", 10, "7", "7", ws=WS2),  # the same run id in another workspace is another run
        usage(None, 10, "100", "100"),  # job usage with no run id is not a run's
    ]
    slices = [
        slice_row("r-ok", at(10, 5), at(11), None),
        slice_row("r-ok", at(11), at(11, 40), "SUCCEEDED"),
        slice_row("r-repaired", at(12, 2), at(12, 20), "FAILED"),
        slice_row("r-repaired", at(12, 25), at(12, 50), "SUCCEEDED"),  # the repair: a second final slice
        slice_row("r-failed", at(9, 1), at(9, 30), "FAILED", job="j2", trigger="ONETIME_RETRY"),
        slice_row("r-submit", at(15, 3), at(15, 9), "SUCCEEDED", job="j3", run_type="SUBMIT_RUN", run_name="adhoc"),
        slice_row("r-running", at(13, 10), at(14), None),
        slice_row("r-skipped", at(8), at(8), "SKIPPED"),  # never started, no usage: no cost row
        slice_row("r-ok", at(10, 1), at(10, 50), "SUCCEEDED", ws=WS2),
    ]
    jobs = [
        job_row("j1", "nightly_etl", at(0, day=DAY - dt.timedelta(days=9))),
        job_row("j2", "report", at(0, day=DAY - dt.timedelta(days=9))),
        job_row("j2", "report_v2", at(0, day=DAY - dt.timedelta(days=1))),  # renamed: the latest name
        job_row("j4", "export", at(0, day=DAY - dt.timedelta(days=9))),
    ]
    expected = spark.createDataFrame(
        [
            result("r-ok", "j1", "nightly_etl", at(10, 5), at(11, 40), "SUCCEEDED",
                   "CRON", "JOB_RUN", 1, True, False, False, "data-eng", 2, "5", "4", WS),
            result("r-repaired", "j1", "nightly_etl", at(12, 2), at(12, 50), "SUCCEEDED",
                   "CRON", "JOB_RUN", 2, True, False, True, "data-eng", 1, "4", "4", WS),
            result("r-failed", "j2", "report_v2", at(9, 1), at(9, 30), "FAILED",
                   "ONETIME_RETRY", "JOB_RUN", 1, True, True, True, "marketing", 2, "4", "4", WS),
            result("r-submit", "j3", "adhoc", at(15, 3), at(15, 9), "SUCCEEDED",
                   "CRON", "SUBMIT_RUN", 1, True, False, False, "data-eng", 1, "0.5", "0.4", WS),
            result("r-no-timeline", "j4", "export", at(16), at(18), None,
                   None, None, None, False, False, False, "data-eng", 2, "3", "3", WS),
            result("r-running", "j1", "nightly_etl", at(13, 10), at(14), None,
                   "CRON", "JOB_RUN", 0, True, False, False, "data-eng", 1, "1", "1", WS),
            # In the other workspace j1 has no jobs row and the run no name: the job id stands in.
            result("r-ok", "j1", "j1", at(10, 1), at(10, 50), "SUCCEEDED",
                   "CRON", "JOB_RUN", 1, True, False, False, "data-eng", 1, "7", "7", WS2),
        ],
        OUTPUT,
    )  # fmt: skip
    actual = costs(spark, lines, slices, jobs)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert actual.columns == JOB_RUN_COSTS.column_names


def test_a_run_over_midnight_is_dated_by_its_start_and_keeps_its_whole_cost(spark):
    night = [usage("r", 23, "1", "1"), usage("r", 24, "2", "2")]
    slices = [slice_row("r", at(23, 30), at(24), None), slice_row("r", at(24), at(24, 20), "SUCCEEDED")]
    actual = costs(spark, night, slices, []).select("run_date", "duration_seconds", "effective_cost", "job_name")
    expected = spark.createDataFrame(
        [(DAY, 3000, Decimal(3), "j1")],
        "run_date date, duration_seconds bigint, effective_cost decimal(38,10), job_name string",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


# ---------------------------------------------------------------------------------------------------------
# Generated data
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, sail_spark: SparkSession) -> Path:
    from chargeback.local.lakehouse import LocalLakehouse

    root = tmp_path_factory.mktemp("job_runs") / "lakehouse"
    synthetic.generate(LocalLakehouse(sail_spark, root), dt.date(2026, 8, 3), 10, seed=7)
    return root


def test_every_billed_run_of_the_generated_account_gets_its_outcome(sail_spark, generated: Path) -> None:
    # Generating needs Delta, so this runs on Sail only. The lines are raw usage records with their quantity as
    # cost: what is checked is which runs appear with which outcome, and that every line's amount is in one run.
    from chargeback.local.lakehouse import LocalLakehouse

    store = LocalLakehouse(sail_spark, generated)
    usage = store.read(synthetic.USAGE_TABLE)
    amount = F.col("usage_quantity").cast("decimal(38,10)")
    lines = usage.select(
        "workspace_id",
        F.col("usage_metadata.job_id").alias("job_id"),
        F.col("usage_metadata.job_run_id").alias("job_run_id"),
        "usage_start_time",
        "usage_end_time",
        amount.alias("list_cost"),
        amount.alias("effective_cost"),
        F.lit("USD").alias("currency_code"),
        F.lit("data-eng").alias("business_unit"),
        F.col("workspace_id").alias("workspace_name"),
        F.col("identity_metadata.run_as").alias("owner_identity"),
    )
    computed = job_run_costs(lines, store.read(synthetic.JOB_RUN_TIMELINE_TABLE), store.read(synthetic.JOBS_TABLE), "g")
    rows = computed.collect()
    runs = sail_spark.createDataFrame(rows, computed.schema)  # computed once
    # One row per billed run (workspace and run id) holding exactly the cost and the count of its lines.
    billed = (
        lines.where(F.col("job_run_id").isNotNull())
        .groupBy("workspace_id", "job_run_id")
        .agg(F.count(F.lit(1)).alias("usage_line_count"), F.sum("effective_cost").alias("effective_cost"))
    )
    assert_rows(runs, billed.columns, billed.collect())
    total, count = billed.agg(F.sum("effective_cost"), F.count(F.lit(1))).collect()[0]
    assert sum(r.effective_cost for r in rows) == total
    assert len(rows) == len({(r.workspace_id, r.job_run_id) for r in rows}) == count

    other_region = [w.workspace_id for w in synthetic.OTHER_REGION_WORKSPACES]
    timeline_mismatch = runs.where(~F.col("has_timeline").eqNullSafe(~F.col("workspace_id").isin(other_region)))
    assert_rows(timeline_mismatch, ["workspace_id", "job_run_id", "has_timeline"], [])
    assert any(not r.has_timeline and r.result_state is None and r.attempt_count is None for r in rows)
    states = Counter(r.result_state for r in rows if r.has_timeline)
    assert states["SUCCEEDED"] > states["FAILED"] > 0 and None not in states
    assert any(r.attempt_count == 2 and r.is_waste for r in rows), "a repaired run"
    assert any(r.is_retry for r in rows), "a new run retrying a failed one"
    failed = F.col("result_state").isin("FAILED", "ERROR", "TIMED_OUT", "CANCELLED")
    waste = F.coalesce(failed, F.lit(False)) | F.coalesce(F.col("attempt_count") == 2, F.lit(False))
    wrong_waste = runs.where(F.col("has_timeline") & ~F.col("is_waste").eqNullSafe(waste))
    assert_rows(wrong_waste, ["job_run_id", "result_state", "attempt_count", "is_waste"], [])
    renamed = {r.job_name for r in rows if r.job_id == synthetic.JOB_INGEST_CLICKSTREAM}
    assert renamed == {"ingest_clickstream_v2"}  # the latest name, for runs before the rename too
    for r in rows:
        assert r.run_start_at <= r.run_end_at and r.duration_seconds >= 0
