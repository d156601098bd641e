"""Cost per job run: billed usage summed by `job_run_id`, with the run's outcome, name and owner.

Grain of `job_run_costs`: one job run (`workspace_id`, `job_run_id`; run ids, like job ids, are unique within a
workspace). The cost is the sum of the usage lines that carry the run's id (classic job compute and serverless jobs:
tasks on SQL warehouses or all-purpose clusters bill those, not the run). The spec's safer join (§7): sum usage per
run first, then LEFT JOIN one outcome per run from `system.lakeflow.job_run_timeline`, so no usage row is counted
twice (a run over an hour has several timeline slices) and runs with no timeline row (other regions, rows not yet
arrived) still appear, with `result_state` NULL.

From the timeline: the run starts at its first slice and ends with its last; `result_state` is that of the latest
final slice (`result_state` is set only on a run's final slices; a repair adds another final slice, so a run with
several final slices was repaired: `attempt_count` counts them). `trigger_type` is the first slice's
(`ONETIME_RETRY`: the run retries a failed one). A run is waste when its final state is a failure (`FAILED`,
`ERROR`, `TIMED_OUT`, `CANCELLED`: its cost produced nothing) or it needed a repair (its failed attempts did not).

The job name is the latest `system.lakeflow.jobs` row's, else the run's `run_name` (runs without a jobs row:
`SUBMIT_RUN`, `WORKFLOW_RUN`), else the job id. The business unit is the one the run's usage lines were attributed to,
the largest by effective cost when a run's lines went to several (ties: the smallest unit id).

The cost of a run is the cost of the lines given: pass every line of the runs being written (a run can cross
midnight; runs start at most a day before their last usage in practice) and write rows by `run_date`.

Cost per pipeline update (`marts.pipeline_updates`) is built the same way, from the functions here that take the
run's key: `run_outcomes` reads a sliced timeline, `costed_runs` sums the lines and picks the unit, `span_columns`
dates the run and `cost_columns` closes its row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.money import MONEY, money
from chargeback.steps.consumption import utc_date
from chargeback.steps.workloads import latest

FAILED_STATES = ("FAILED", "ERROR", "TIMED_OUT", "CANCELLED")


_RUN = ("workspace_id", "job_run_id")


def run_outcomes(
    timeline: DataFrame,
    usage_lines: DataFrame,
    key: Sequence[str],
    first: Mapping[str, str],
    final: Sequence[str],
) -> DataFrame:
    """One row per run (`key`) of a timeline sliced by the hour that has usage lines: `_timeline_start_at` (of its
    first slice), `_timeline_end_at` (of its last), the `first` columns (output name -> timeline column) of its
    first slice, and the `final` columns of its latest final slice (`result_state` set) with `attempt_count`, its
    final slices (NULL while it runs)."""
    # Only the runs of the lines: the timeline holds every run of the account's history, and a run's outcome
    # needs its own slices alone.
    runs = usage_lines.where(F.col(key[-1]).isNotNull()).select(*key).distinct()
    slices = timeline.join(runs, list(key), "left_semi")
    run = Window.partitionBy(*key)
    is_final = F.col("result_state").isNotNull()
    first_slice = run.orderBy(F.col("period_start_time").asc(), F.col("period_end_time").asc())
    latest_final = run.orderBy(
        (~is_final).asc(),
        F.col("period_end_time").desc(),
        F.col("period_start_time").desc(),
        F.col("result_state").asc(),
    )
    # Both slices are marked in one pass and picked by an aggregate: the timeline is read and joined once.
    marked = slices.withColumn("_first", F.row_number().over(first_slice) == 1).withColumn(
        "_final", is_final & (F.row_number().over(latest_final) == 1)
    )
    final_count = F.count("result_state")
    return marked.groupBy(*key).agg(
        F.min("period_start_time").alias("_timeline_start_at"),
        F.max("period_end_time").alias("_timeline_end_at"),
        *(F.max(F.when(F.col("_first"), F.col(column))).alias(name) for name, column in first.items()),
        *(F.max(F.when(F.col("_final"), F.col(column))).alias(column) for column in final),
        F.when(final_count > 0, final_count).cast("int").alias("attempt_count"),
    )


def is_waste(result_state: Column, attempt_count: Column) -> Column:
    """A failed final state, or a repair (its failed attempts)."""
    return F.coalesce(result_state.isin(list(FAILED_STATES)) | (attempt_count > 1), F.lit(False))


def _run_units(lines: DataFrame, key: Sequence[str]) -> DataFrame:
    """Each run's business unit: the one with the largest effective cost of its lines (ties: the smallest id)."""
    unit_order = Window.partitionBy(*key).orderBy(F.col("_unit_cost").desc(), F.col("business_unit").asc())
    return (
        lines.groupBy(*key, "business_unit")
        .agg(F.sum("effective_cost").cast(MONEY).alias("_unit_cost"))
        .withColumn("_rank", F.row_number().over(unit_order))
        .where(F.col("_rank") == 1)
        .select(*key, "business_unit")
    )


def costed_runs(usage_lines: DataFrame, outcomes: DataFrame, key: Sequence[str], *extra: Column) -> DataFrame:
    """The lines carrying a run id (the last column of `key`) summed per run, with its business unit, the `extra`
    aggregates of its lines and its outcome (`run_outcomes` of the same key; NULL without timeline).

    Per run: list_cost, effective_cost, usage_line_count, currency_code, workspace_name (else the id),
    owner_identity, and the span of its usage (`_first_usage_at`, `_last_usage_at`).
    """
    lines = usage_lines.where(F.col(key[-1]).isNotNull())
    costs = lines.groupBy(*key).agg(
        F.min("usage_start_time").alias("_first_usage_at"),
        F.max("usage_end_time").alias("_last_usage_at"),
        money(F.sum("list_cost")).alias("list_cost"),
        money(F.sum("effective_cost")).alias("effective_cost"),
        F.max("currency_code").alias("currency_code"),
        F.coalesce(F.max("workspace_name"), F.max("workspace_id")).alias("workspace_name"),
        F.max("owner_identity").alias("owner_identity"),
        F.count(F.lit(1)).cast("bigint").alias("usage_line_count"),
        *extra,
    )
    return costs.join(_run_units(lines, key), list(key), "left").join(outcomes, list(key), "left")


def has_timeline() -> Column:
    """Whether a `costed_runs` row has timeline slices."""
    return F.col("_timeline_start_at").isNotNull()


def span_columns(prefix: str) -> list[Column]:
    """run_date, `{prefix}_start_at`, `{prefix}_end_at` and duration_seconds of a `costed_runs` row: the span of
    its timeline slices, else of its usage; dated by the UTC day it started."""
    start = F.coalesce("_timeline_start_at", "_first_usage_at")
    end = F.coalesce("_timeline_end_at", "_last_usage_at")
    start_us = F.unix_micros(start)
    return [
        utc_date(start_us).alias("run_date"),
        start.alias(f"{prefix}_start_at"),
        end.alias(f"{prefix}_end_at"),
        F.floor((F.unix_micros(end) - start_us) / F.lit(1_000_000)).cast("bigint").alias("duration_seconds"),
    ]


def cost_columns(run_id: str) -> list[Column]:
    """The last columns of a `costed_runs` row: owner, unit, line count, costs, currency and the writing run."""
    summed = ("owner_identity", "business_unit", "usage_line_count", "list_cost", "effective_cost", "currency_code")
    return [*(F.col(name) for name in summed), F.lit(run_id).alias("run_id")]


def _runs(usage_lines: DataFrame, job_run_timeline: DataFrame, jobs: DataFrame) -> DataFrame:
    """Per run: its cost, unit, timeline outcome, `job_id` and the job's latest name (`_job_name`)."""
    names = latest(jobs, ["workspace_id", "job_id"]).select(
        F.col("workspace_id").alias("_name_ws"), F.col("job_id").alias("_name_job"), F.col("name").alias("_job_name")
    )
    outcomes = run_outcomes(
        job_run_timeline.withColumnRenamed("run_id", "job_run_id"),
        usage_lines,
        _RUN,
        first={
            "_timeline_job_id": "job_id",
            "trigger_type": "trigger_type",
            "run_type": "run_type",
            "run_name": "run_name",
        },
        final=("result_state", "termination_code"),
    )
    return (
        costed_runs(usage_lines, outcomes, _RUN, F.max("job_id").alias("_line_job_id"))
        .withColumn("job_id", F.coalesce("_line_job_id", "_timeline_job_id"))
        .join(
            F.broadcast(names),
            (F.col("workspace_id") == F.col("_name_ws")) & (F.col("job_id") == F.col("_name_job")),
            "left",
        )
    )


def job_run_costs(usage_lines: DataFrame, job_run_timeline: DataFrame, jobs: DataFrame, run_id: str) -> DataFrame:
    """`job_run_costs`: usage summed per job run, with outcome, name and unit (module docstring).

    Args:
        usage_lines: priced, attributed usage lines (silver): workspace_id, workspace_name, job_id, job_run_id,
            owner_identity, usage_start_time, usage_end_time, list_cost, effective_cost, currency_code,
            business_unit (lines without job_run_id are ignored).
        job_run_timeline: `system.lakeflow.job_run_timeline` (workspace_id, job_id, run_id, period_start_time,
            period_end_time, trigger_type, result_state, run_type, run_name, termination_code).
        jobs: `system.lakeflow.jobs` (workspace_id, job_id, name, change_time).
        run_id: the pipeline run writing the rows.
    """
    joined = _runs(usage_lines, job_run_timeline, jobs)
    return joined.select(
        "job_run_id",
        "workspace_id",
        "job_id",
        F.coalesce("_job_name", "run_name", "job_id").alias("job_name"),
        "workspace_name",
        *span_columns("run"),
        "result_state",
        "termination_code",
        "trigger_type",
        "run_type",
        F.when(has_timeline(), F.coalesce(F.col("attempt_count"), F.lit(0))).cast("int").alias("attempt_count"),
        has_timeline().alias("has_timeline"),
        F.coalesce(F.col("trigger_type") == "ONETIME_RETRY", F.lit(False)).alias("is_retry"),
        is_waste(F.col("result_state"), F.col("attempt_count")).alias("is_waste"),
        *cost_columns(run_id),
    )
