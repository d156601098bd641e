"""The tables the publish step writes, each declared once, after the tables it reads.

An output is built from `Inputs` (what the step computed before its first write: the silver lines of the window,
the `cost_daily` rows to write, config and params) and from the tables it declares it `reads`, which are written
before it: by an earlier output of this list, or by an earlier step. `publish` writes them over the days the run
recomputes, several at a time, each once the tables it reads are written, and records how many rows it wrote to each.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.config import Config
from chargeback.contracts.cost_tables import (
    CHARGEBACK_MONTHLY,
    COMPUTE_CONSUMPTION_HOURLY,
    COST_DAILY,
    JOB_RUN_COSTS,
    PIPELINE_UPDATE_COSTS,
    POLICY_COVERAGE_DAILY,
    SERVING_COSTS_DAILY,
    TAG_COVERAGE_DAILY,
    USAGE_COSTS,
)
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY, FOCUS_COSTS
from chargeback.contracts.system_tables import JOB_RUN_TIMELINE, JOBS, PIPELINE_UPDATE_TIMELINE, WAREHOUSES
from chargeback.contracts.table_spec import TableSpec
from chargeback.dates import DaySet, month_starts
from chargeback.errors import PublishError
from chargeback.insights.anomalies import AnomalySettings, cost_anomalies_daily
from chargeback.insights.budgets import budget_status_monthly
from chargeback.insights.focus import focus_costs
from chargeback.jobs import sources
from chargeback.jobs.params import RunParams, RunSummary
from chargeback.marts import cost as cost_marts
from chargeback.marts.consumption import consumption_hourly
from chargeback.marts.job_runs import job_run_costs
from chargeback.marts.pipeline_updates import pipeline_update_costs
from chargeback.marts.policy_coverage import policy_coverage_daily
from chargeback.steps.usage import on_days, usage_window
from chargeback.storage.store import TableStore

# Runs and updates that started this long before the first open day are rewritten too, with all their lines: they may
# have gone on into the window. Longer ones keep the cost they had when their start day was last rewritten.
RUN_REACH = dt.timedelta(days=2)
# Tables earlier steps of the run write, which outputs may read.
STEP_TABLES = (USAGE_COSTS,)


@dataclass(frozen=True)
class Inputs:
    """What the outputs are built from, computed before the first write."""

    store: TableStore
    config: Config
    params: RunParams
    first_open: dt.date  # the first day of the window in an open month: gold is rewritten from there
    days: DaySet  # the days the run recomputes (`jobs.plan`): every day of the window in a full run
    lines: DataFrame  # the silver lines of those days
    cost_daily: DataFrame  # the cost_daily rows of the open days, and corrections of closed days booked on them
    shares: DataFrame | None = None  # the consumption split of the lines, when a pool splits by consumption

    @property
    def open_lines(self) -> DataFrame:
        return self.lines.where(F.col("usage_date") >= F.lit(self.first_open))

    def open_days(self) -> DaySet:
        """The recomputed days in open months."""
        return self.days.clip(self.first_open, self.params.end_date)

    def all_open_days(self) -> DaySet:
        """Every open day of the window, recomputed or not (the anomaly baselines and top workloads span them)."""
        return DaySet.between(self.first_open, self.params.end_date)

    def run_days(self) -> DaySet:
        """The start days of the job runs and pipeline updates rewritten, recomputed or not (a long run started
        before a recomputed day bills on it): the open days, and the `RUN_REACH` days before, whose runs may have
        gone on into the window (or a backfill's next chunk)."""
        return DaySet.between(self.first_open - RUN_REACH, self.params.end_date)

    def open_months(self) -> DaySet:
        return DaySet.between(self.first_open.replace(day=1), self.params.end_date.replace(day=1))

    def window_months(self) -> DaySet:
        return DaySet.between(self.params.start_date.replace(day=1), self.params.end_date.replace(day=1))


@dataclass(frozen=True)
class Written:
    """The tables an output declared it reads, as written before it."""

    store: TableStore
    params: RunParams
    declared: tuple[TableSpec, ...]

    def __getitem__(self, spec: TableSpec) -> DataFrame:
        if spec not in self.declared:
            raise KeyError(f"{spec.table} is read by an output that does not declare it in `reads`")
        return self.store.read(self.params.table(spec))


@dataclass(frozen=True)
class Output:
    """A published table: how it is built, which days (or months) of it a run replaces, what it reads."""

    spec: TableSpec
    build: Callable[[Inputs, Written], DataFrame]
    span: Callable[[Inputs], DaySet]  # the days (or months) replaced, in `window_column`
    reads: tuple[TableSpec, ...] = ()  # written before this output, by an earlier output or step

    @property
    def window_column(self) -> str:
        (column,) = self.spec.partition_by
        return column


def _cost_daily(inputs: Inputs, _: Written) -> DataFrame:
    return inputs.cost_daily


def _chargeback_monthly(inputs: Inputs, written: Written) -> DataFrame:
    """The monthly statements of the window's months, from `cost_daily`.

    Statements of closed months keep their rows once they read `closed`; one still `open` is rewritten
    once more, with the same amounts (its days are never rewritten), to record that it is now closed.
    """
    first_month, last_month = inputs.window_months().first, inputs.window_months().last
    in_window = (F.col("billing_month") >= F.lit(first_month)) & (F.col("billing_month") <= F.lit(last_month))
    statements = cost_marts.chargeback_monthly(
        written[COST_DAILY].where(in_window), inputs.config, inputs.params.run_id
    )
    kept = inputs.store.read(inputs.params.table(CHARGEBACK_MONTHLY)).where(
        in_window
        & (F.col("statement_status") == "closed")
        & (F.col("billing_month") < F.lit(inputs.first_open.replace(day=1)))
    )
    statements = statements.join(kept.select("billing_month").distinct(), "billing_month", "left_anti")
    return statements.unionByName(kept)


def _serving_costs_daily(inputs: Inputs, _: Written) -> DataFrame:
    return cost_marts.serving_costs_daily(inputs.open_lines, inputs.params.run_id)


def _tag_coverage_daily(inputs: Inputs, _: Written) -> DataFrame:
    return cost_marts.tag_coverage_daily(inputs.open_lines, inputs.config.currency, inputs.params.run_id)


def _policy_coverage_daily(inputs: Inputs, _: Written) -> DataFrame:
    return policy_coverage_daily(inputs.open_lines, inputs.config, inputs.params.run_id)


def _focus_costs(inputs: Inputs, written: Written) -> DataFrame:
    # cost_daily as just written: reading it back is cheaper than allocating again.
    daily = on_days(written[COST_DAILY], inputs.open_days())
    return focus_costs(daily, inputs.lines, inputs.config, inputs.params.run_id)


def _cost_anomalies_daily(inputs: Inputs, written: Written) -> DataFrame:
    start, end = inputs.first_open, inputs.params.end_date
    history = usage_window(written[USAGE_COSTS], start - dt.timedelta(days=AnomalySettings().window_days), end)
    return cost_anomalies_daily(history, start, end, inputs.config.currency, inputs.params.run_id)


def _compute_consumption_hourly(inputs: Inputs, _: Written) -> DataFrame:
    """The open days' warehouse hours of the pools split by consumption, as `allocate` split them."""
    spark, params = inputs.store.spark, inputs.params
    if inputs.shares is None:
        return spark.createDataFrame([], COMPUTE_CONSUMPTION_HOURLY.ddl_schema(with_comments=False))
    shares = inputs.shares.where(F.col("usage_date") >= F.lit(inputs.first_open))
    warehouses = sources.optional(inputs.store, params.sources.warehouses, WAREHOUSES)
    return consumption_hourly(shares, warehouses, params.run_id)


def _run_lines(inputs: Inputs, written: Written) -> DataFrame:
    """The silver lines of the runs that started in `run_days` (a run's first usage can precede its timeline start,
    and its last can be any later day)."""
    return usage_window(written[USAGE_COSTS], inputs.run_days().first - dt.timedelta(days=1), inputs.params.end_date)


def _job_run_costs(inputs: Inputs, written: Written) -> DataFrame:
    """The runs that started in `run_days`."""
    params = inputs.params
    lines = _run_lines(inputs, written).withColumn(
        "job_id", F.when(F.col("workload_type") == "job", F.col("workload_id"))
    )
    timeline = sources.optional(inputs.store, params.sources.job_run_timeline, JOB_RUN_TIMELINE)
    jobs = sources.optional(inputs.store, params.sources.jobs, JOBS)
    runs = job_run_costs(lines, timeline, jobs, params.run_id)
    return on_days(runs, inputs.run_days(), "run_date")


def _pipeline_update_costs(inputs: Inputs, written: Written) -> DataFrame:
    """The updates that started in `run_days`, read like runs (`_job_run_costs`); silver names pipelines."""
    params = inputs.params
    is_pipeline = F.col("workload_type") == "pipeline"
    lines = _run_lines(inputs, written).withColumns(
        {
            "pipeline_id": F.when(is_pipeline, F.col("workload_id")),
            "pipeline_name": F.when(is_pipeline, F.col("workload_name")),
        }
    )
    timeline = sources.optional(inputs.store, params.sources.pipeline_update_timeline, PIPELINE_UPDATE_TIMELINE)
    updates = pipeline_update_costs(lines, timeline, params.run_id)
    return on_days(updates, inputs.run_days(), "run_date")


def _budget_status_monthly(inputs: Inputs, written: Written) -> DataFrame:
    months = month_starts(inputs.first_open, inputs.params.end_date)
    return budget_status_monthly(
        written[COST_DAILY], inputs.config, months, inputs.params.end_date, inputs.params.run_id
    )


OUTPUTS = (
    Output(COST_DAILY, _cost_daily, Inputs.open_days),
    Output(CHARGEBACK_MONTHLY, _chargeback_monthly, Inputs.window_months, reads=(COST_DAILY,)),
    Output(SERVING_COSTS_DAILY, _serving_costs_daily, Inputs.open_days),
    Output(TAG_COVERAGE_DAILY, _tag_coverage_daily, Inputs.open_days),
    Output(POLICY_COVERAGE_DAILY, _policy_coverage_daily, Inputs.open_days),
    Output(FOCUS_COSTS, _focus_costs, Inputs.open_days, reads=(COST_DAILY,)),
    Output(COST_ANOMALIES_DAILY, _cost_anomalies_daily, Inputs.all_open_days, reads=(USAGE_COSTS,)),
    Output(BUDGET_STATUS_MONTHLY, _budget_status_monthly, Inputs.open_months, reads=(COST_DAILY,)),
    Output(COMPUTE_CONSUMPTION_HOURLY, _compute_consumption_hourly, Inputs.open_days),
    Output(JOB_RUN_COSTS, _job_run_costs, Inputs.run_days, reads=(USAGE_COSTS,)),
    Output(PIPELINE_UPDATE_COSTS, _pipeline_update_costs, Inputs.run_days, reads=(USAGE_COSTS,)),
)


def _check_order(outputs: tuple[Output, ...]) -> None:
    """Every table an output reads is written before it."""
    before = list(STEP_TABLES)
    for output in outputs:
        for spec in output.reads:
            if spec not in before:
                raise AssertionError(f"{output.spec.table} reads {spec.table}, which is not written before it")
        before.append(output.spec)


_check_order(OUTPUTS)


# Outputs written at once. Much of a gold write is planning, a commit and stages that use one core; a few at once
# overlap them (the bench's normal day: 6.5 s of publishing became 5.2 s with 3, no better with 6). Spark Connect
# runs a session's operations from several threads ("operations started by this thread", SparkSession.addTag:
# https://spark.apache.org/docs/latest/api/python/reference/pyspark.sql/api/pyspark.sql.SparkSession.addTag.html).
CONCURRENT_WRITES = 3


def publish(inputs: Inputs, summary: RunSummary) -> None:
    """Write every output over its span (none when the span is empty), `CONCURRENT_WRITES` at a time, each after the
    outputs it reads, and record the rows written.

    After a failure no write starts (those under way end), the tables already written get back the rows they had
    (`_put_back`: gold stays as the last run left it) and the first failure in `OUTPUTS` order is raised; an output
    whose input failed is skipped, not failed again. Tables are created (or given new columns) first, one after
    another: DDL is not run concurrently.
    """
    store, params = inputs.store, inputs.params
    spans = {output.spec: output.span(inputs) for output in OUTPUTS}
    for output in OUTPUTS:
        summary.rows_written[output.spec.table] = 0  # in `OUTPUTS` order, whatever order the writes end in
        if spans[output.spec]:
            store.ensure(params.table(output.spec), output.spec)
    versions: dict[TableSpec, int] = {}  # of each table a write began on, before it: what a failure puts back
    writes: dict[TableSpec, Future[None]] = {}
    failed = threading.Event()

    def write(output: Output) -> None:
        # Each output read was submitted earlier, so started earlier: waiting for it cannot deadlock.
        wait([writes[spec] for spec in output.reads if spec in writes])
        name, span = params.table(output.spec), spans[output.spec]
        if failed.is_set() or not span:
            return
        try:
            versions[output.spec] = store.version(name)  # here, not before the pool: one round trip each, at once
            built = output.build(inputs, Written(store, params, output.reads))
            store.write(name, output.spec, built, (output.window_column, span))
        except BaseException:
            failed.set()
            raise
        summary.rows_written[output.spec.table] = store.rows_written(name)

    with ThreadPoolExecutor(CONCURRENT_WRITES, thread_name_prefix="publish") as pool:
        for output in OUTPUTS:
            writes[output.spec] = pool.submit(write, output)
    failure = next((error for error in (w.exception() for w in writes.values()) if error is not None), None)
    if failure is not None:
        _put_back(inputs, spans, versions, failure)
        raise failure


def _put_back(
    inputs: Inputs, spans: dict[TableSpec, DaySet], versions: dict[TableSpec, int], failure: BaseException
) -> None:
    """After a failed publish: each output table a write changed gets the rows of its span back as they were before
    publishing (Delta time travel), so no reader sees some tables of this run beside others of the last run. Only a
    process that dies while publishing leaves them part-written; the next run rewrites them (`jobs.plan`)."""
    store, params = inputs.store, inputs.params
    not_put_back: list[str] = []
    for output in OUTPUTS:  # every table, even after one fails: the others are still put back
        spec, name = output.spec, params.table(output.spec)
        if spec not in versions:
            continue
        try:
            if store.version(name) != versions[spec]:
                store.restore(name, spec, versions[spec], (output.window_column, spans[spec]))
        except Exception as error:
            not_put_back.append(f"{name} ({_first_line(error)})")
    if not_put_back:
        raise PublishError(
            f"publishing failed ({_first_line(failure)}) and {', '.join(not_put_back)} could not be put back: those "
            "tables hold this run's rows until the next run rewrites them"
        ) from failure


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
