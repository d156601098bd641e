"""Issue 18 acceptance: an incremental run publishes, row for row, what a full run of the same window publishes.

History is generated and held back to the end of one day (`arrivals.hold_back`), processed by a full run; then the
next ingestion day arrives (its records, and late corrections of 0.5% of the records of the 20 days before) and the
same lakehouse, copied twice, is run incrementally and in full. Every gold table (and silver) must be equal,
run ids aside. With August closed, the generator's own corrections of August days (31-40 days late) book
corrections on the first open day, so the closed-month path is compared too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.config import Config, load_config
from chargeback.contracts import cost_tables
from chargeback.contracts.system_table_names import CLUSTERS_TABLE, PIPELINES_TABLE, QUERY_HISTORY_TABLE, USAGE_TABLE
from chargeback.contracts.table_spec import TableSpec
from chargeback.jobs.daily import run
from chargeback.jobs.outputs import OUTPUTS
from chargeback.jobs.params import RunParams, RunSummary
from chargeback.local.engine import local_session
from chargeback.local.lakehouse import LocalLakehouse
from chargeback.local.synthetic import WH_SHARED_BI, generate
from chargeback.local.synthetic.arrivals import arrive, hold_back
from chargeback.names import TableName

pytestmark = pytest.mark.slow

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"
START = dt.date(2026, 8, 10)
DAYS = 45
CUT = dt.date(2026, 9, 21)  # the history reads as it did at the end of this day
NEXT = CUT + dt.timedelta(days=1)  # the normal day that arrives
# Silver and every table the publish step writes.
GOLD = (cost_tables.USAGE_COSTS, *(output.spec for output in OUTPUTS))


@dataclasses.dataclass(frozen=True)
class Case:
    config: Config
    dedupe: bool  # False: as on the system table, corrected days recompute only their touched lines

    def params(self, run_id: str, end: dt.date, *, full: bool = False) -> RunParams:
        """The daily window: 30 days ending `end`, run the morning after."""
        at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(6), dt.UTC)
        start = end - dt.timedelta(days=29)
        return RunParams("main", "chargeback", start, end, run_id, at, full=full, dedupe_usage=self.dedupe)


@contextmanager
def lakehouse(root: Path) -> Iterator[LocalLakehouse]:
    with local_session(["system", "main"]) as spark:
        yield LocalLakehouse(spark, root)


def rows(store: LocalLakehouse, spec: TableSpec) -> list[tuple]:
    df = store.read(TableName("main", "chargeback", spec.table)).drop("run_id", "x_RunId")
    return sorted((tuple(r) for r in df.collect()), key=repr)


@pytest.fixture(scope="module", params=[("open", False), ("august-closed", False), ("august-closed", True)])
def case(request: pytest.FixtureRequest) -> Case:
    config = load_config(CONFIG_FILE)
    months, dedupe = request.param
    closed = (dt.date(2026, 8, 1),) if months == "august-closed" else ()
    return Case(dataclasses.replace(config, closed_months=closed), dedupe)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated days held back to the end of CUT."""
    root = tmp_path_factory.mktemp("history")
    with lakehouse(root) as store:
        generate(store, START, DAYS, seed=5)
        assert hold_back(store, CUT) > 0
    return root


@pytest.fixture(scope="module")
def arrived(history: Path, case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """History processed at the end of CUT, then NEXT's records and late corrections arrived."""
    root = tmp_path_factory.mktemp("arrived") / "lakehouse"
    shutil.copytree(history, root)
    with lakehouse(root) as store:
        # August is published while open; closing it changes the config, so the next run is full.
        first = run(store, load_config(CONFIG_FILE), case.params("first", CUT))
        closing = run(store, case.config, case.params("close", CUT))
        assert first.plan is not None and first.plan.mode == "full"
        assert closing.plan is not None and closing.plan.mode == (
            "full" if case.config.closed_months else "incremental"
        )
        # Corrections ingested on CUT itself after the run read it: the date cannot tell them from those it read.
        assert arrive(store, CUT, correction_share=0.01, over_days=3, seed=2) > 0
        late = store.read(USAGE_TABLE).where(F.col("ingestion_date") == F.lit(NEXT))
        assert arrive(store, NEXT, correction_share=0.005, over_days=20) > 0
        corrected_days = {r[0] for r in late.where(F.col("usage_date") < F.lit(CUT)).select("usage_date").collect()}
        assert len(corrected_days) >= 15  # corrections spread over the days before, not only yesterday
    return root


def run_copy(arrived: Path, target: Path, case: Case, run_params: RunParams) -> tuple[RunSummary, dict]:
    shutil.copytree(arrived, target)
    with lakehouse(target) as store:
        summary = run(store, case.config, run_params)
        return summary, {spec.table: rows(store, spec) for spec in GOLD}


def test_an_incremental_run_publishes_what_a_full_run_publishes(arrived: Path, case: Case, tmp_path: Path) -> None:
    incremental, got = run_copy(arrived, tmp_path / "incremental", case, case.params("incremental", NEXT))
    full, expected = run_copy(arrived, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and incremental.plan.mode == "incremental"
    assert full.plan is not None and full.plan.mode == "full"
    recomputed = incremental.plan.recomputed
    assert NEXT in recomputed and len(recomputed) < 30  # only the days the source changed
    partial = {day for day, since in incremental.plan.lines_since.items() if since is not None}
    assert bool(partial) != case.dedupe  # corrected days add their new records to the lines they touch
    late_on_cut = {d.usage_date for d in incremental.plan.days if d.reason.startswith(f"records ingested by {CUT}")}
    assert bool(late_on_cut) != case.dedupe and not late_on_cut & partial  # recomputed whole
    assert incremental.is_balanced and full.is_balanced
    assert incremental.billed_cost == full.billed_cost
    assert [table for table in expected if got[table] != expected[table]] == []  # names them, fast
    assert all(expected[table] for table in ("usage_costs", "cost_daily", "chargeback_monthly"))


def append_rows(store: LocalLakehouse, table: TableName, rows: DataFrame) -> None:
    """Append `rows` to a source table (collected first: they may be read from it)."""
    schema = store.read(table).schema
    store.write_raw(table, store.spark.createDataFrame(rows.select(*schema.names).collect(), schema), "append")


def append_records(store: LocalLakehouse, records: DataFrame) -> None:
    append_rows(store, USAGE_TABLE, records)


def published_next(arrived: Path, case: Case, root: Path, *, copy: bool = False) -> Path:
    """A copy of `arrived` at `root` after NEXT's run, for a test of the line-level path (run once), or with `copy`
    of a copy's records (deduplicated, once)."""
    if copy != case.dedupe or (not copy and case.config.closed_months):
        pytest.skip("a copy's records, once" if copy else "the line-level path, once")
    shutil.copytree(arrived, root)
    with lakehouse(root) as store:
        run(store, case.config, case.params("incremental", NEXT))
    return root


def test_a_line_that_netted_to_zero_is_counted_whole_when_it_returns(arrived: Path, case: Case, tmp_path: Path) -> None:
    """A line retracted to zero leaves silver; when a restatement brings it back, its line must count all three
    records, as a full run counts them: the day is read again whole, not added to."""
    root = published_next(arrived, case, tmp_path / "zeroed")
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        usage = store.read(USAGE_TABLE).where(F.col("usage_date") == F.lit(day))
        window = ["workspace_id", "sku_name", "usage_start_time", "usage_end_time"]
        alone = usage.groupBy(*window).count().where(F.col("count") == 1)  # the only record of its line
        original = (
            usage.where(F.col("record_type") == "ORIGINAL").join(alone, window, "left_semi").select(*usage.columns)
        )
        record = store.spark.createDataFrame(original.orderBy("record_id").limit(1).collect(), usage.schema)
        quantity_type = usage.schema["usage_quantity"].dataType
        append_records(
            store,
            record.withColumns(
                {
                    "record_type": F.lit("RETRACTION"),
                    "usage_quantity": (-F.col("usage_quantity")).cast(quantity_type),
                    "ingestion_date": F.lit(NEXT + dt.timedelta(days=1)),
                }
            ),
        )
        zeroed = run(store, case.config, case.params("zeroed", NEXT))
        assert zeroed.plan is not None and day in zeroed.plan.lines_since and zeroed.plan.lines_since[day]
        restated = {"record_type": F.lit("RESTATEMENT"), "ingestion_date": F.lit(NEXT + dt.timedelta(days=2))}
        append_records(store, record.withColumns(restated))
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("restated", NEXT))
    _, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.is_balanced
    assert [table for table in expected if got[table] != expected[table]] == []
    assert incremental.plan is not None
    assert {d.usage_date: d.reason for d in incremental.plan.days if d.recomputed} == {
        day: "the published lines do not hold the records of the day (lines that netted to zero, or records read late)"
    }


def test_a_retried_silver_step_does_not_add_the_new_records_twice(arrived: Path, case: Case, tmp_path: Path) -> None:
    """A job task retried after its write (the bundle retries `price_attribute`) follows the logged plan again: the
    days it added to are recomputed whole, since their lines already hold the new records."""
    if case.dedupe or case.config.closed_months:
        pytest.skip("the line-level path, once")
    root = tmp_path / "retried"
    shutil.copytree(arrived, root)
    params = case.params("retried", NEXT)
    with lakehouse(root) as store:
        first = run(store, case.config, params, steps=("config", "price_attribute"))
        assert first.plan is not None and any(first.plan.lines_since.values())
        run(store, case.config, params, steps=("price_attribute",))
        retried = run(store, case.config, params, steps=("allocate_publish", "reconcile"))
        got = {spec.table: rows(store, spec) for spec in GOLD}
    _, expected = run_copy(arrived, tmp_path / "full", case, case.params("full", NEXT, full=True))
    assert retried.is_balanced
    assert [table for table in expected if got[table] != expected[table]] == []


def test_a_cluster_billed_only_by_new_records_is_named(arrived: Path, case: Case, tmp_path: Path) -> None:
    """The clusters table is cut to the clusters the priced records bill (`Enrichment.for_records`): on a day the
    run adds to, those are the new records, and a cluster only they bill is named as a full run names it."""
    root = published_next(arrived, case, tmp_path / "new-cluster")
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        usage = store.read(USAGE_TABLE).where(
            (F.col("usage_date") == F.lit(day)) & (F.col("record_type") == "ORIGINAL")
        )
        meta = F.col("usage_metadata")
        others = ("job_id", "dlt_pipeline_id", "warehouse_id", "app_id", "notebook_id", "database_instance_id")
        only_cluster = meta.getField("cluster_id").isNotNull()
        for field in others:  # a line is named by its cluster only when no other workload id comes first
            only_cluster = only_cluster & meta.getField(field).isNull()
        (record,) = usage.where(only_cluster).orderBy("record_id").limit(1).collect()
        clusters = store.read(CLUSTERS_TABLE)
        (template,) = clusters.limit(1).collect()  # any row: the new cluster's other columns
        new_cluster = {
            "workspace_id": F.lit(record.workspace_id),
            "cluster_id": F.lit("cluster-billed-once"),
            "cluster_name": F.lit("billed once"),
        }
        store.write_raw(
            CLUSTERS_TABLE,
            store.spark.createDataFrame([template], clusters.schema).withColumns(new_cluster),
            "append",
        )
        appended = store.spark.createDataFrame([record], usage.schema).withColumns(
            {
                "record_id": F.lit("record-of-a-new-cluster"),
                "usage_metadata": meta.withField("cluster_id", F.lit("cluster-billed-once")),
                "ingestion_date": F.lit(NEXT + dt.timedelta(days=1)),
            }
        )
        append_records(store, appended)
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("named", NEXT))
    _, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and incremental.plan.lines_since[day] is not None
    assert [table for table in expected if got[table] != expected[table]] == []
    with lakehouse(tmp_path / "incremental") as store:
        silver = store.read(TableName("main", "chargeback", cost_tables.USAGE_COSTS.table))
        names = silver.where(F.col("workload_id") == "cluster-billed-once").select("workload_name").distinct()
        assert [r.workload_name for r in names.collect()] == ["billed once"]


def test_a_run_with_nothing_new_recomputes_nothing_and_changes_nothing(
    arrived: Path, case: Case, tmp_path: Path
) -> None:
    root = tmp_path / "again"
    shutil.copytree(arrived, root)
    with lakehouse(root) as store:
        run(store, case.config, case.params("incremental", NEXT))
        before = {spec.table: rows(store, spec) for spec in GOLD}
        again = run(store, case.config, case.params("again", NEXT))
        after = {spec.table: rows(store, spec) for spec in GOLD}
        plans = store.read(TableName("main", "chargeback", cost_tables.RUN_PLANS.table)).where(
            F.col("run_id") == "again"
        )
        reasons = {r.reason.split(" run ")[0] for r in plans.collect()}
    assert again.plan is not None and again.plan.mode == "incremental" and not again.plan.recomputed
    assert again.is_balanced and again.rows_written["usage_costs"] == 0
    assert reasons == {"unchanged since"}
    assert [table for table in before if after[table] != before[table]] == []


def test_a_correction_of_the_first_open_day_alone_re_books_the_closed_days(
    arrived: Path, case: Case, tmp_path: Path
) -> None:
    """Only the first open day changes: rewriting it rewrites the corrections booked on it, so the closed days are
    re-booked as a full run books them (not reversed)."""
    if not case.config.closed_months:
        pytest.skip("needs a closed month in the window")
    settled = tmp_path / "settled"
    shutil.copytree(arrived, settled)
    first_open = dt.date(2026, 9, 1)
    with lakehouse(settled) as store:
        run(store, case.config, case.params("incremental", NEXT))
        usage = store.read(USAGE_TABLE)
        corrected = usage.where(F.col("record_type") != "ORIGINAL").select("record_id")
        originals = usage.where((F.col("usage_date") == F.lit(first_open)) & (F.col("record_type") == "ORIGINAL"))
        record = originals.join(corrected, "record_id", "left_anti").orderBy("record_id").limit(1)
        retraction = record.withColumns(
            {
                "record_type": F.lit("RETRACTION"),
                "usage_quantity": (-F.col("usage_quantity")).cast(usage.schema["usage_quantity"].dataType),
                "ingestion_date": F.lit(NEXT),
            }
        )
        append_records(store, retraction)
    incremental, got = run_copy(settled, tmp_path / "incremental", case, case.params("only-first-open", NEXT))
    full, expected = run_copy(settled, tmp_path / "full", case, case.params("full", NEXT, full=True))
    assert incremental.plan is not None and incremental.plan.mode == "incremental"
    changed = [d.usage_date for d in incremental.plan.days if d.recomputed and "re-allocated" not in d.reason]
    assert changed == [first_open]
    assert incremental.is_balanced and full.is_balanced
    assert [table for table in expected if got[table] != expected[table]] == []


def re_export_a_day_later(store: LocalLakehouse, day: dt.date) -> None:
    """Export `day`'s largest ORIGINAL record again, its times a day later, ingested the day after NEXT."""
    a_day = F.expr("INTERVAL 1 DAY")
    usage = store.read(USAGE_TABLE)
    record = usage.where((F.col("usage_date") == F.lit(day)) & (F.col("record_type") == "ORIGINAL"))
    moved = record.orderBy(F.col("usage_quantity").desc(), "record_id").limit(1)
    shifted = {
        "usage_date": F.lit(day + dt.timedelta(days=1)),
        "usage_start_time": F.col("usage_start_time") + a_day,
        "usage_end_time": F.col("usage_end_time") + a_day,
        "ingestion_date": F.lit(NEXT + dt.timedelta(days=1)),
    }
    append_records(store, moved.withColumns(shifted))


def test_a_record_re_exported_onto_another_day_is_billed_once(arrived: Path, case: Case, tmp_path: Path) -> None:
    """A copy exports a published record again, its times a day later. Each record counts once, as its newest
    copy: the day of the older copy is recomputed with the other (found by review: the older day was unchanged and
    kept its copy, the other billed the new one, and the run balanced with the record billed twice)."""
    root = published_next(arrived, case, tmp_path / "re-exported", copy=True)
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        re_export_a_day_later(store, day)
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("re-exported", NEXT))
    full, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and {day, day + dt.timedelta(days=1)} <= set(incremental.plan.recomputed)
    assert incremental.billed_cost == full.billed_cost and full.duplicate_record_count == 1
    assert [table for table in expected if got[table] != expected[table]] == []


def test_quantities_swapped_in_place_recompute_their_day(arrived: Path, case: Case, tmp_path: Path) -> None:
    """Two records of one day of a copy swap quantities in place: the day's record count and total quantity stay,
    its records' digest does not (found by review: the run recomputed nothing and kept the old cost)."""
    root = published_next(arrived, case, tmp_path / "swapped", copy=True)
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        usage = store.read(USAGE_TABLE)
        on_day = usage.where((F.col("usage_date") == F.lit(day)) & (F.col("record_type") == "ORIGINAL"))
        first = on_day.orderBy("record_id").limit(1).collect()[0]
        second = (
            on_day.where((F.col("sku_name") != first.sku_name) & (F.col("usage_quantity") != first.usage_quantity))
            .orderBy("record_id")
            .limit(1)
            .collect()[0]
        )
        quantity = F.col("usage_quantity")
        swapped = (
            F.when(F.col("record_id") == first.record_id, F.lit(second.usage_quantity))
            .when(F.col("record_id") == second.record_id, F.lit(first.usage_quantity))
            .otherwise(quantity)
            .cast(usage.schema["usage_quantity"].dataType)
        )
        rewritten = store.spark.createDataFrame(usage.withColumn("usage_quantity", swapped).collect(), usage.schema)
        store.write_raw(USAGE_TABLE, rewritten, "overwrite")
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("swapped", NEXT))
    _, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and day in incremental.plan.recomputed
    assert [table for table in expected if got[table] != expected[table]] == []


def test_a_statement_that_arrives_late_splits_its_day_again(arrived: Path, case: Case, tmp_path: Path) -> None:
    """A statement on a warehouse split by consumption reaches query history after its day was split (statements
    are logged when they end): the day is split again, with no new usage (found by review: the run recomputed
    nothing, and a full run moved cost between units)."""
    root = published_next(arrived, case, tmp_path / "late-statement")
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        history = store.read(QUERY_HISTORY_TABLE)
        on_day = history.where(
            (F.col("compute").getField("warehouse_id") == WH_SHARED_BI)
            & (F.to_date("start_time") == F.lit(day))
            & (F.col("total_task_duration_ms") > 0)
        )
        late = (
            on_day.orderBy("statement_id")
            .limit(1)
            .withColumns(
                {
                    "statement_id": F.lit("statement-logged-late"),
                    "executed_by": F.lit("someone-else@example.com"),
                    "total_task_duration_ms": F.col("total_task_duration_ms") * 1000,
                }
            )
        )
        append_rows(store, QUERY_HISTORY_TABLE, late)
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("late-statement", NEXT))
    _, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and day in incremental.plan.recomputed
    assert [table for table in expected if got[table] != expected[table]] == []


def test_a_pipeline_re_tagged_attributes_its_days_again(arrived: Path, case: Case, tmp_path: Path) -> None:
    """A pipeline whose lines its tags attribute is re-tagged to another unit, with no new usage: every day of its
    lines is attributed again, as a full run attributes them (found by review: the run recomputed nothing, and a
    day it added to held the pipeline's lines under two units)."""
    root = published_next(arrived, case, tmp_path / "re-tagged")
    with lakehouse(root) as store:
        silver = store.read(TableName("main", "chargeback", cost_tables.USAGE_COSTS.table))
        by_tag = silver.where(F.col("attribution_method") == "pipeline_tag")
        pipeline = by_tag.orderBy("workload_id").select("workspace_id", "workload_id", "business_unit").first()
        assert pipeline is not None
        new_unit = "finance" if pipeline.business_unit != "finance" else "sales"
        pipelines = store.read(PIPELINES_TABLE).where(F.col("pipeline_id") == pipeline.workload_id)
        re_tagged = (
            pipelines.orderBy(F.col("change_time").desc())
            .limit(1)
            .withColumns(
                {
                    "tags": F.create_map(F.lit("business_unit"), F.lit(new_unit)),
                    "change_time": F.lit(dt.datetime(2026, 9, 22, 12, tzinfo=dt.UTC)),
                }
            )
        )
        append_rows(store, PIPELINES_TABLE, re_tagged)
        window = F.col("usage_date") >= F.lit(NEXT - dt.timedelta(days=29))
        of_pipeline = by_tag.where(window & (F.col("workload_id") == pipeline.workload_id))
        pipeline_days = {r[0] for r in of_pipeline.select("usage_date").distinct().collect()}
        # A late record of the pipeline on one of its days: the day is added to, yet must be attributed whole.
        added_to = max(pipeline_days)
        of_day = store.read(USAGE_TABLE).where(
            (F.col("usage_date") == F.lit(added_to))
            & (F.col("usage_metadata").getField("dlt_pipeline_id") == pipeline.workload_id)
        )
        late = (
            of_day.orderBy("record_id")
            .limit(1)
            .withColumns(
                {"record_id": F.lit("late-pipeline-record"), "ingestion_date": F.lit(NEXT + dt.timedelta(days=1))}
            )
        )
        append_records(store, late)
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("re-tagged", NEXT))
    _, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and pipeline_days <= set(incremental.plan.recomputed)
    assert incremental.plan.lines_since[added_to] is None  # whole, not added to
    assert [table for table in expected if got[table] != expected[table]] == []


def test_a_re_exported_copy_deleted_later_leaves_its_record_billed_once(
    arrived: Path, case: Case, tmp_path: Path
) -> None:
    """A record's newer copy on another day is deleted after a run billed it there: its older copy's day did not
    change, and must bill it again (found by review: neither day's copies linked them any more, the unchanged day
    kept its lines without the record, and the record was billed nowhere)."""
    root = published_next(arrived, case, tmp_path / "copy-deleted", copy=True)
    day = NEXT - dt.timedelta(days=5)
    with lakehouse(root) as store:
        usage = store.read(USAGE_TABLE)
        re_export_a_day_later(store, day)
        assert run(store, case.config, case.params("re-exported", NEXT)).is_balanced
        kept = usage.where(F.col("ingestion_date") != F.lit(NEXT + dt.timedelta(days=1)))
        store.write_raw(USAGE_TABLE, store.spark.createDataFrame(kept.collect(), usage.schema), "overwrite")
    incremental, got = run_copy(root, tmp_path / "incremental", case, case.params("copy-deleted", NEXT))
    full, expected = run_copy(root, tmp_path / "full", case, case.params("full", NEXT, full=True))

    assert incremental.plan is not None and incremental.plan.mode == "incremental"
    assert day in incremental.plan.recomputed
    assert incremental.billed_cost == full.billed_cost
    assert [table for table in expected if got[table] != expected[table]] == []
