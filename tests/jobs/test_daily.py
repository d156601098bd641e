"""End to end on generated data: gold contracts, money conservation per month, idempotence, late data, month close.

Each test works on its own copy of one generated-and-processed lakehouse, in its own embedded engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.config import CONFIG_TABLES, Config, IdleRule, load_config
from chargeback.contracts import cost_tables
from chargeback.contracts.cost_tables import POLICY_COVERAGE_DAILY
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY, FOCUS_COSTS
from chargeback.contracts.table_spec import TableSpec
from chargeback.errors import InputError, ShrinkError, SourceTableError
from chargeback.insights.report import print_budgets_and_anomalies
from chargeback.jobs import outputs
from chargeback.jobs.daily import (
    STAGED_CONSUMPTION_PARTS,
    STAGED_CONSUMPTION_SHARES,
    STAGED_COST_DAILY,
    run,
)
from chargeback.jobs.params import RunParams, SourceTables
from chargeback.local.engine import local_session
from chargeback.local.lakehouse import LocalLakehouse
from chargeback.local.synthetic import WH_SHARED_BI, generate
from chargeback.names import TableName
from tests.consumption_reference import reference_split
from tests.helpers import inject_job_spike

pytestmark = pytest.mark.slow

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"
START = dt.date(2026, 8, 10)
DAYS = 45
END = START + dt.timedelta(days=DAYS - 1)  # 2026-09-23
AS_OF = dt.datetime(2026, 9, 24, 6, tzinfo=dt.UTC)
ALL_TABLES = (
    cost_tables.USAGE_COSTS,
    *cost_tables.GOLD_TABLES,
    POLICY_COVERAGE_DAILY,
    FOCUS_COSTS,
    COST_ANOMALIES_DAILY,
    BUDGET_STATUS_MONTHLY,
    cost_tables.COMPUTE_CONSUMPTION_HOURLY,
    cost_tables.JOB_RUN_COSTS,
    cost_tables.PIPELINE_UPDATE_COSTS,
)
USAGE = TableName.parse("system.billing.usage")


def params(run_id: str, start: dt.date = START, end: dt.date = END) -> RunParams:
    return RunParams("main", "chargeback", start, end, run_id, AS_OF)


@contextmanager
def lakehouse(root: Path) -> Iterator[LocalLakehouse]:
    with local_session(["system", "main"]) as spark:
        yield LocalLakehouse(spark, root)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(CONFIG_FILE)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lakehouse with 45 generated days (August and September) and no run yet."""
    root = tmp_path_factory.mktemp("generated")
    with lakehouse(root) as store:
        generate(store, START, DAYS, seed=11)
    return root


@pytest.fixture(scope="module")
def baseline(generated: Path, tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    """The generated lakehouse processed once by a clean run."""
    root = tmp_path_factory.mktemp("baseline") / "lakehouse"
    shutil.copytree(generated, root)
    with lakehouse(root) as store:
        run(store, config, params("first"))
    return root


@pytest.fixture
def copy(baseline: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lakehouse"
    shutil.copytree(baseline, target)
    return target


def rows(store: LocalLakehouse, spec: TableSpec, *, without_run_id: bool = True) -> list[tuple]:
    df = store.read(params("x").table(spec))
    if without_run_id:
        df = df.drop("run_id", "x_RunId")
    return sorted((tuple(r) for r in df.collect()), key=repr)  # repr orders rows holding NULLs


def priced_records(store: LocalLakehouse) -> DataFrame:
    """Every usage record priced by its own usage_end_time: no netting, attribution or allocation."""
    return store.sql(
        """
        SELECT u.usage_date, u.record_type, u.ingestion_date, u.usage_start_time,
               u.usage_metadata.warehouse_id AS warehouse_id, u.usage_metadata.job_run_id AS job_run_id,
               u.usage_metadata.dlt_update_id AS dlt_update_id,
               CAST(CAST(u.usage_quantity AS DECIMAL(28, 12))
                    * CAST(COALESCE(p.pricing.effective_list.default, p.pricing.default) AS DECIMAL(20, 10))
                    AS DECIMAL(38, 10)) AS list_cost
        FROM system.billing.usage u
        JOIN system.billing.list_prices p
          ON u.sku_name = p.sku_name AND u.cloud = p.cloud AND u.usage_unit = p.usage_unit
         AND u.usage_end_time >= p.price_start_time
         AND (p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)
        """
    )


def money_by_month(df: DataFrame, day_column: str, amount: str) -> dict[dt.date, Decimal]:
    grouped = df.groupBy(F.trunc(day_column, "month").alias("m")).agg(F.sum(amount).alias("total"))
    return {r.m: Decimal(r.total) for r in grouped.collect()}


def test_gold_keys_are_unique_and_every_row_has_a_business_unit(baseline: Path) -> None:
    with lakehouse(baseline) as store:
        for spec in ALL_TABLES:
            df = store.read(params("x").table(spec))
            assert df.count() > 0, spec.table
            duplicates = df.groupBy(*spec.primary_key).count().where(F.col("count") > 1).count()
            assert duplicates == 0, f"{spec.table}: {duplicates} duplicate keys on {spec.primary_key}"
            if "business_unit" in df.columns:
                assert df.where(F.col("business_unit").isNull()).count() == 0, spec.table
        for name, spec in CONFIG_TABLES.items():
            assert store.exists(params("x").table(spec)), name


def test_monthly_statement_equals_independently_priced_usage_each_month(baseline: Path) -> None:
    with lakehouse(baseline) as store:
        window = F.col("usage_date").between(F.lit(START), F.lit(END))
        raw = priced_records(store).where(window)
        expected = money_by_month(raw, "usage_date", "list_cost")
        statement = store.read(params("x").table(cost_tables.CHARGEBACK_MONTHLY))
        actual = money_by_month(statement, "billing_month", "list_cost")
        effective = money_by_month(statement, "billing_month", "effective_cost")
        daily = money_by_month(store.read(params("x").table(cost_tables.COST_DAILY)), "usage_date", "effective_cost")
        focus = money_by_month(store.read(params("x").table(FOCUS_COSTS)), "BillingPeriodStart", "BilledCost")
    assert set(actual) == {dt.date(2026, 8, 1), dt.date(2026, 9, 1)}
    for month, total in expected.items():
        assert total > 10_000, "sums in the thousands catch decimal overflow"
        assert abs(actual[month] - total) <= Decimal("0.01"), month
        assert effective[month] == daily[month] == focus[month]


def test_the_shared_warehouse_is_split_by_consumption_as_plain_python_splits_the_raw_tables(
    baseline: Path, config: Config
) -> None:
    """The demo config splits the shared BI warehouse by consumption, idle hours spread over the day's users."""
    (pool,) = [p for p in config.shared_costs if p.method == "consumption"]
    assert pool.idle == IdleRule("spread") and pool.match.warehouse_ids == (WH_SHARED_BI,)
    with lakehouse(baseline) as store:
        raw = priced_records(store).where(F.col("usage_date").between(F.lit(START), F.lit(END)))
        bill: dict[dt.datetime, Fraction] = defaultdict(Fraction)
        for r in raw.where(F.col("warehouse_id") == WH_SHARED_BI).collect():
            bill[r.usage_start_time.replace(minute=0, second=0, microsecond=0)] += Fraction(r.list_cost)
        statements = (
            store.read(TableName.parse("system.query.history"))
            .where(F.col("compute.warehouse_id") == WH_SHARED_BI)
            .select(
                F.col("executed_by").alias("identity"),
                "start_time",
                "end_time",
                F.col("total_task_duration_ms").alias("task_duration_ms"),
            )
            .collect()
        )
        gold = store.read(params("x").table(cost_tables.COMPUTE_CONSUMPTION_HOURLY)).where(
            F.col("warehouse_id") == WH_SHARED_BI
        )
        by_hour = {
            r.usage_hour: r.cost for r in gold.groupBy("usage_hour").agg(F.sum("list_cost").alias("cost")).collect()
        }
        by_identity = gold.groupBy("usage_date", "identity").agg(F.sum("list_cost").alias("cost")).collect()
        per_unit = gold.groupBy("usage_date", "business_unit").agg(F.sum("effective_cost").alias("cost"))
        in_cost_daily = (
            store.read(params("x").table(cost_tables.COST_DAILY))
            .where(F.col("pool_id") == pool.id)
            .groupBy("usage_date", "business_unit")
            .agg(F.sum("effective_cost").alias("cost"))
        )
        assert sorted(per_unit.collect()) == sorted(in_cost_daily.collect())  # the same split, exactly
    assert len(bill) > 100 and by_hour.keys() == bill.keys()
    for hour, cost in bill.items():  # every billed hour (priced per record here, per netted line there)
        assert abs(Fraction(by_hour[hour]) - cost) < Fraction(1, 10**8), hour
    reference = reference_split(bill, statements, idle="spread")
    actual = {(r.usage_date, r.identity): r.cost for r in by_identity}
    assert actual.keys() == reference.keys() and len(actual) > 50
    for key, amount in reference.items():
        assert abs(Fraction(actual[key]) - amount) <= Fraction(1, 100), key


def test_every_billed_job_run_is_costed_once_as_the_raw_records_sum(baseline: Path) -> None:
    # The generated data starts on START and ends on END: every run starts and ends inside the window. A run whose
    # records were all retracted nets to nothing and has no row.
    with lakehouse(baseline) as store:
        raw = priced_records(store).where(F.col("job_run_id").isNotNull())
        by_run = raw.groupBy("job_run_id").agg(F.sum("list_cost").alias("cost"))
        expected = {r.job_run_id: r.cost for r in by_run.collect() if r.cost != 0}
        runs = store.read(params("x").table(cost_tables.JOB_RUN_COSTS)).collect()
    assert len(runs) == len(expected) > 100
    for run_row in runs:
        assert abs(run_row.list_cost - expected[run_row.job_run_id]) < Decimal("1e-8"), run_row.job_run_id
    assert {r.result_state for r in runs} >= {"SUCCEEDED", "FAILED", None}  # None: a run with no timeline row
    assert any(r.is_waste for r in runs) and any(not r.has_timeline for r in runs)
    assert all(r.job_name and r.workspace_name and r.business_unit for r in runs)


def test_every_billed_pipeline_update_is_costed_once_as_the_raw_records_sum(copy: Path, config: Config) -> None:
    # Every generated update starts and ends inside the window. None nets to zero, so one is retracted in full: its
    # records then net to nothing and it has no row.
    update = F.col("usage_metadata.dlt_update_id")
    with lakehouse(copy) as store:
        usage = store.read(USAGE).where(update.isNotNull())
        corrected = usage.where(F.col("record_type") != "ORIGINAL").select(update.alias("corrected"))
        gone = usage.join(corrected, update == F.col("corrected"), "left_anti").agg(F.min(update)).collect()[0][0]
        retractions = usage.where(update == gone).withColumns(
            {"usage_quantity": -F.col("usage_quantity"), "record_type": F.lit("RETRACTION")}
        )
        store.write_raw(USAGE, retractions, mode="append")
        run(store, config, params("retracted"))
        raw = priced_records(store).where(F.col("dlt_update_id").isNotNull())
        by_update = raw.groupBy("dlt_update_id").agg(F.sum("list_cost").alias("cost"))
        expected = {r.dlt_update_id: r.cost for r in by_update.collect() if r.cost != 0}
        updates = store.read(params("x").table(cost_tables.PIPELINE_UPDATE_COSTS)).collect()
    assert gone and gone not in expected
    assert len(updates) == len(expected) > 100
    for u in updates:
        assert abs(u.list_cost - expected[u.dlt_update_id]) < Decimal("1e-8"), u.dlt_update_id
    assert {u.result_state for u in updates} == {"COMPLETED", "FAILED", "CANCELED"}
    assert all(u.is_waste == (u.result_state in ("FAILED", "CANCELED")) for u in updates)
    assert all(u.pipeline_name and u.workspace_name and u.business_unit and u.has_timeline for u in updates)


def test_runs_and_updates_of_a_backfill_in_two_chunks_equal_one_run_over_both(
    generated: Path, baseline: Path, tmp_path: Path, config: Config
) -> None:
    """A run that goes on past the end of a chunk is completed by the next chunk, not left with part of its cost."""
    root = tmp_path / "lakehouse"
    shutil.copytree(generated, root)
    middle = START + dt.timedelta(days=20)
    per_run = (cost_tables.JOB_RUN_COSTS, cost_tables.PIPELINE_UPDATE_COSTS)
    with lakehouse(root) as store:
        run(store, config, params("chunk-1", START, middle))
        run(store, config, params("chunk-2", middle + dt.timedelta(days=1), END))
        chunked = {spec.table: rows(store, spec) for spec in per_run}
    with lakehouse(baseline) as store:
        whole = {spec.table: rows(store, spec) for spec in per_run}
    assert chunked == whole


def test_second_run_of_the_same_window_changes_nothing(copy: Path, config: Config) -> None:
    with lakehouse(copy) as store:
        before = {spec.table: rows(store, spec) for spec in ALL_TABLES}
        summary = run(store, config, params("second"))
        after = {spec.table: rows(store, spec) for spec in ALL_TABLES}
        runs = store.read(params("x").table(cost_tables.RECONCILIATION_RUNS)).orderBy("run_at", "run_id").collect()
    assert summary.is_balanced
    for table in before:
        assert after[table] == before[table], table
    assert [r.run_id for r in runs] == ["first", "second"]
    assert all(r.is_balanced for r in runs)


def test_another_job_staging_while_a_run_publishes_changes_nothing_it_publishes(
    copy: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily and the backfill jobs each run one run at a time, not one apart from the other: here the backfill
    (another job id, a one-day window) stages its allocation after the daily run staged and checked its own, and
    before it writes. Each job's scratch tables are its own (`--scratch-key {{job.id}}`), so the daily run publishes
    what it checked; with one set of scratch tables it published the backfill's single day and wiped the others."""
    daily = dataclasses.replace(params("second"), scratch_key="101", full=True)
    backfill = dataclasses.replace(params("backfill", END, END), scratch_key="202")
    publish = outputs.publish

    def backfill_stages_meanwhile(inputs: outputs.Inputs, summary: object) -> None:
        staged = inputs.cost_daily.where(F.col("usage_date") == F.lit(END))
        one_day = inputs.store.spark.createDataFrame(staged.collect(), staged.schema)
        inputs.store.stage(backfill.scratch(STAGED_COST_DAILY), one_day)
        publish(inputs, summary)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs, "publish", backfill_stages_meanwhile)
    with lakehouse(copy) as store:
        before = {spec.table: rows(store, spec) for spec in ALL_TABLES}
        summary = run(store, config, daily)
        after = {spec.table: rows(store, spec) for spec in ALL_TABLES}
        staged_days = {
            key: store.read(p.scratch(STAGED_COST_DAILY)).select("usage_date").distinct().count()
            for key, p in (("daily", daily), ("backfill", backfill))
        }
        unkeyed = [
            name
            for name in (STAGED_CONSUMPTION_SHARES, *(STAGED_CONSUMPTION_PARTS.format(p) for p in ("usage", "hours")))
            if not store.exists(daily.scratch(name))
        ]
    assert summary.is_balanced
    for table in before:
        assert after[table] == before[table], table
    assert staged_days["daily"] > 1 and staged_days["backfill"] == 1, staged_days
    assert not unkeyed, f"staged without the run's scratch key: {unkeyed}"


def _retract(store: LocalLakehouse, day: dt.date, ingested: dt.date, count: int) -> Decimal:
    """Append RETRACTION records for `count` ORIGINAL records of `day`; return their list cost."""
    originals = (
        store.read(USAGE)
        .where((F.col("usage_date") == F.lit(day)) & (F.col("record_type") == "ORIGINAL"))
        .where(F.col("billing_origin_product") == "JOBS")
        .orderBy("record_id")
        .limit(count)
    )
    retractions = originals.withColumn("usage_quantity", -F.col("usage_quantity")).withColumns(
        {"record_type": F.lit("RETRACTION"), "ingestion_date": F.lit(ingested)}
    )
    store.write_raw(USAGE, retractions, mode="append")
    retracted = priced_records(store).where(
        (F.col("record_type") == "RETRACTION") & (F.col("ingestion_date") == F.lit(ingested))
    )
    cost = retracted.agg(F.sum("list_cost")).collect()[0][0]
    return Decimal(cost)


def test_late_corrections_are_absorbed_by_a_later_run(copy: Path, config: Config) -> None:
    day = dt.date(2026, 9, 1)
    with lakehouse(copy) as store:
        before = money_by_month(store.read(params("x").table(cost_tables.COST_DAILY)), "usage_date", "list_cost")
        retracted = _retract(store, day, dt.date(2026, 9, 29), 5)
        summary = run(store, config, params("late", START, END + dt.timedelta(days=5)))
        after = money_by_month(store.read(params("x").table(cost_tables.COST_DAILY)), "usage_date", "list_cost")
    assert retracted < 0
    assert summary.is_balanced
    # The moved window adds no usage (none was generated after END): only the retraction changes September.
    assert after[dt.date(2026, 9, 1)] - before[dt.date(2026, 9, 1)] == pytest.approx(retracted, abs=Decimal("0.01"))
    assert after[dt.date(2026, 8, 1)] == before[dt.date(2026, 8, 1)]


def test_an_injected_spike_in_generated_usage_is_flagged(copy: Path, config: Config) -> None:
    day = dt.date(2026, 9, 15)
    with lakehouse(copy) as store:
        target = inject_job_spike(store, day)
        run(store, config, params("spike"))
        scored = store.read(params("x").table(COST_ANOMALIES_DAILY))
        flagged = scored.where(F.col("usage_date") == F.lit(day)).where(F.col("scope_key") == f"job:{target}").collect()
        job_days = scored.where((F.col("scope_key") == f"job:{target}") & F.col("is_anomaly")).count()
    assert [r.reason for r in flagged] == ["spike"]
    assert job_days == 1  # the same job on its ordinary days is not flagged


def test_closed_month_never_changes_and_its_corrections_land_in_the_first_open_month(
    copy: Path, config: Config
) -> None:
    closed = dataclasses.replace(config, closed_months=(dt.date(2026, 8, 1),))
    august = F.col("billing_month") == F.lit(dt.date(2026, 8, 1))
    with lakehouse(copy) as store:
        run(store, closed, params("close"))  # closing August re-publishes nothing of it
        august_daily = sorted(
            tuple(r)
            for r in store.read(params("x").table(cost_tables.COST_DAILY)).where(august).drop("run_id").collect()
        )
        retracted = _retract(store, dt.date(2026, 8, 20), dt.date(2026, 9, 25), 4)
        summary = run(store, closed, params("after-close"))
        daily = store.read(params("x").table(cost_tables.COST_DAILY))
        august_after = sorted(tuple(r) for r in daily.where(august).drop("run_id").collect())
        corrections = daily.where(F.col("cost_kind") == "correction").collect()
        statement = {
            (r.billing_month, r.business_unit): r
            for r in store.read(params("x").table(cost_tables.CHARGEBACK_MONTHLY)).collect()
        }
    assert summary.is_balanced
    assert august_after == august_daily
    assert corrections, "the retraction of a closed day must be booked as a correction"
    assert {r.usage_date for r in corrections} == {dt.date(2026, 9, 1)}
    assert {r.original_usage_date for r in corrections} == {dt.date(2026, 8, 20)}
    assert sum(r.list_cost for r in corrections) == pytest.approx(retracted, abs=Decimal("0.01"))
    assert all(s.statement_status == "closed" for (m, _), s in statement.items() if m == dt.date(2026, 8, 1))
    september_corrections = sum(s.correction_cost for (m, _), s in statement.items() if m == dt.date(2026, 9, 1))
    assert september_corrections == sum(r.effective_cost for r in corrections)


def test_a_window_inside_closed_months_is_refused_before_writing(copy: Path, config: Config) -> None:
    closed = dataclasses.replace(config, closed_months=(dt.date(2026, 8, 1),))
    with lakehouse(copy) as store:
        before = rows(store, cost_tables.COST_DAILY, without_run_id=False)
        with pytest.raises(InputError, match="closed"):
            run(store, closed, params("refused", START, dt.date(2026, 8, 31)))
        assert rows(store, cost_tables.COST_DAILY, without_run_id=False) == before


def test_a_usage_table_read_as_empty_is_refused_and_nothing_changes(copy: Path, config: Config) -> None:
    """Issue 15: a lost grant reads as an empty usage table; the run stops with one line before writing anything,
    and with August closed, even --allow-shrink cannot book August as a negative correction."""
    closed = dataclasses.replace(config, closed_months=(dt.date(2026, 8, 1),))
    published = (*ALL_TABLES, cost_tables.RECONCILIATION_RUNS, *CONFIG_TABLES.values())
    with lakehouse(copy) as store:
        run(store, closed, params("close"))  # August is closed now; nothing of it changes
        before = {spec.table: rows(store, spec, without_run_id=False) for spec in published}
        store.write_raw(USAGE, store.spark.createDataFrame([], store.read(USAGE).schema), mode="overwrite")
        with pytest.raises(ShrinkError, match="--allow-shrink") as open_months:
            run(store, config, params("lost-grant", dt.date(2026, 9, 1)))
        with pytest.raises(ShrinkError, match="closed month 2026-08") as closed_month:
            run(store, closed, dataclasses.replace(params("lost-grant-closed"), allow_shrink=True))
        after = {spec.table: rows(store, spec, without_run_id=False) for spec in published}
    assert "\n" not in str(open_months.value) + str(closed_month.value)
    assert [table for table in before if after[table] != before[table]] == []  # names them, fast


def test_a_consumption_pool_without_query_history_is_refused_before_writing(copy: Path, config: Config) -> None:
    """The demo config splits a warehouse by consumption: with no readable query history the run stops with one
    line before anything is written, config tables included."""
    published = (*ALL_TABLES, cost_tables.RECONCILIATION_RUNS, *CONFIG_TABLES.values())
    gone = SourceTables(query_history=TableName.parse("system.query.gone"))
    with lakehouse(copy) as store:
        before = {spec.table: rows(store, spec, without_run_id=False) for spec in published}
        with pytest.raises(SourceTableError, match=r"source table system\.query\.gone does not exist"):
            run(store, config, dataclasses.replace(params("no-history"), sources=gone))
        after = {spec.table: rows(store, spec, without_run_id=False) for spec in published}
    assert [table for table in before if after[table] != before[table]] == []  # names them, fast


class Killed(RuntimeError):
    """The injected failure: the process dies at this point of the run."""


def _dies_at(method, fatal_table: str):  # type: ignore[no-untyped-def]
    """`method` (a store's write or append), raising `Killed` when it is called for `fatal_table`."""

    def write(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.table == fatal_table:
            raise Killed(f"killed at the write of {fatal_table}")
        return method(self, name, *args, **kwargs)

    return write


@pytest.mark.parametrize(
    "fatal_table",
    [
        "run_plans",
        "business_units",
        "usage_costs",
        "cost_daily",
        "chargeback_monthly",
        "cost_anomalies_daily",
        "job_run_costs",
        "reconciliation_runs",
    ],
)
def test_a_run_killed_at_any_write_then_rerun_equals_one_clean_run(
    generated: Path, baseline: Path, tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch, fatal_table: str
) -> None:
    """The run dies at its first write of `fatal_table`: its plan log, a config table, silver, gold tables (written
    `outputs.CONCURRENT_WRITES` at a time: those under way end, no other starts) or its run log."""
    root = tmp_path / "lakehouse"
    shutil.copytree(generated, root)
    with lakehouse(root) as store:
        with monkeypatch.context() as patched:
            patched.setattr(LocalLakehouse, "write", _dies_at(LocalLakehouse.write, fatal_table))
            patched.setattr(LocalLakehouse, "append", _dies_at(LocalLakehouse.append, fatal_table))
            with pytest.raises(Killed):
                run(store, config, params("killed"))
        summary = run(store, config, params("rerun"))
        recovered = {spec.table: rows(store, spec) for spec in ALL_TABLES}
    with lakehouse(baseline) as store:
        clean = {spec.table: rows(store, spec) for spec in ALL_TABLES}
    assert summary.is_balanced
    for table, expected in clean.items():
        assert recovered[table] == expected, table


@pytest.mark.parametrize("fatal_table", ["focus_costs", "pipeline_update_costs"])
def test_a_run_failing_while_publishing_leaves_every_published_table_as_it_was(
    baseline: Path, tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch, fatal_table: str
) -> None:
    """A gold write fails after others were written (found by review: they held the failed run's rows beside the
    last run's in the others, a statement beside a FOCUS export that no longer matched it)."""
    root = tmp_path / "lakehouse"
    shutil.copytree(baseline, root)
    gold = [output.spec for output in outputs.OUTPUTS]
    with lakehouse(root) as store:
        before = {spec.table: rows(store, spec, without_run_id=False) for spec in gold}
        with monkeypatch.context() as patched:
            patched.setattr(LocalLakehouse, "write", _dies_at(LocalLakehouse.write, fatal_table))
            with pytest.raises(Killed):
                run(store, config, dataclasses.replace(params("failed"), full=True))
        after = {spec.table: rows(store, spec, without_run_id=False) for spec in gold}
    assert [table for table in before if after[table] != before[table]] == []  # names them, fast


def test_demo_report_prints_budgets_anomalies_and_alerts(
    baseline: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    with lakehouse(baseline) as store:
        print_budgets_and_anomalies(store, config, params("x"))
    out = capsys.readouterr().out
    assert "Budgets September 2026 as of 2026-09-23 (USD)" in out
    assert (
        len([line for line in out.splitlines() if line.rstrip().endswith(("ok", "warning", "critical", "over"))]) == 4
    )
    assert "Top anomalies 2026-09-10..2026-09-23" in out
    assert "Alerts this run would send (dry run)" in out
