"""The entry point: validate the arguments, build every system table and write them into the lakehouse."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.random import PCG64, Generator

from chargeback.contracts import system_tables
from chargeback.contracts.system_table_names import (
    CLUSTERS_TABLE,
    JOB_RUN_TIMELINE_TABLE,
    JOBS_TABLE,
    LIST_PRICES_TABLE,
    PIPELINE_UPDATE_TIMELINE_TABLE,
    PIPELINES_TABLE,
    QUERY_HISTORY_TABLE,
    SERVED_ENTITIES_TABLE,
    USAGE_TABLE,
    WAREHOUSE_EVENTS_TABLE,
    WAREHOUSES_TABLE,
    WORKSPACES_TABLE,
)
from chargeback.errors import InputError
from chargeback.local.synthetic.clusters import cluster_tables
from chargeback.local.synthetic.columns import ACTIVITY_CHUNK_ROWS, arrow_table, row_chunks
from chargeback.local.synthetic.inventory import WORKLOADS
from chargeback.local.synthetic.plan import ActivityPlan, Stream, billing_streams, plan_usage
from chargeback.local.synthetic.prices import list_price_rows
from chargeback.local.synthetic.queries import (
    notebook_statement_table,
    pipeline_statement_table,
    warehouse_statement_tables,
)
from chargeback.local.synthetic.runs import (
    JOB_KINDS,
    PIPELINE_KINDS,
    job_run_timeline_tables,
    job_runs,
    pipeline_update_timeline_tables,
    pipeline_updates,
    plan_runs,
)
from chargeback.local.synthetic.usage import dimension_table, run_salt, usage_fact_chunks, usage_frame
from chargeback.local.synthetic.warehouses import warehouse_event_table, warehouse_hours, warehouse_rows
from chargeback.local.synthetic.window import Window
from chargeback.local.synthetic.workload_tables import job_rows, pipeline_rows, served_entity_rows, workspace_rows
from chargeback.names import TableName

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from chargeback.local.lakehouse import LocalLakehouse


MAX_DAYS = 3_660
# Original rows per chunk sent to the engine; a chunk's facts take about 150 bytes a row on the wire.
CHUNK_ROWS = 250_000


def generate(
    store: LocalLakehouse, start_date: dt.date, days: int, seed: int, scale: int | None = None
) -> dict[TableName, int]:
    """Write the 12 system tables (overwriting them) into the lakehouse; return rows written per table.

    Args:
        store: the local lakehouse to write `system.*` tables into.
        start_date: first usage day (UTC).
        days: number of usage days, 1 to `MAX_DAYS`.
        seed: seed of the random generator; the same seed gives identical data.
        scale: approximate ORIGINAL usage rows per day (default `DEFAULT_ROWS_PER_DAY`).

    Raises:
        InputError: for a non-date start, days out of range, a negative seed or a scale below 1.
    """
    validate_arguments(start_date, days, seed, scale)
    window = Window(start_date, days)
    rng = Generator(PCG64(seed))
    spark = store.spark
    counts = {
        LIST_PRICES_TABLE: _write(
            store, LIST_PRICES_TABLE, [arrow_table(list_price_rows(window), system_tables.LIST_PRICES)]
        ),
        WORKSPACES_TABLE: _write(
            store, WORKSPACES_TABLE, [arrow_table(workspace_rows(window), system_tables.WORKSPACES_LATEST)]
        ),
        JOBS_TABLE: _write(store, JOBS_TABLE, [arrow_table(job_rows(window), system_tables.JOBS)]),
        PIPELINES_TABLE: _write(store, PIPELINES_TABLE, [arrow_table(pipeline_rows(window), system_tables.PIPELINES)]),
        SERVED_ENTITIES_TABLE: _write(
            store, SERVED_ENTITIES_TABLE, [arrow_table(served_entity_rows(window), system_tables.SERVED_ENTITIES)]
        ),
    }
    streams = billing_streams(WORKLOADS)
    plan = plan_usage(streams, window, rng, scale)
    salt = run_salt(rng)
    dims = spark.createDataFrame(dimension_table(streams))
    facts = usage_fact_chunks(streams, plan, window, rng, CHUNK_ROWS, salt)
    counts[USAGE_TABLE] = _write(store, USAGE_TABLE, (usage_frame(spark, f, dims) for f in facts))
    counts.update(write_activity_tables(store, streams, plan, window, salt, seed))
    return counts


def validate_arguments(start_date: object, days: object, seed: object, scale: object) -> None:
    """Raise an `InputError` naming the first argument of `generate` that is out of range."""
    if not isinstance(start_date, dt.date) or isinstance(start_date, dt.datetime):
        raise InputError(f"start_date: {start_date!r} is not a date")
    if not _is_int(days) or not 1 <= days <= MAX_DAYS:  # type: ignore[operator]
        raise InputError(f"days: {days!r} must be an integer from 1 to {MAX_DAYS}")
    if not _is_int(seed) or seed < 0:  # type: ignore[operator]
        raise InputError(f"seed: {seed!r} must be a non-negative integer")
    if scale is not None and (not _is_int(scale) or scale < 1):  # type: ignore[operator]
        raise InputError(f"scale: {scale!r} must be a positive integer (usage rows per day)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# They are built from the same activity plan and run salt as usage: every billed hour of a warehouse is an hour
# the warehouse ran (with queries, or idle: `auto_stop_minutes` tails, gaps, cached results only), every job run
# id and pipeline update id on usage has its timeline rows, and every job cluster on usage has its cluster row.
# They use their own random streams (`activity_rngs`), so the usage table stays what it was for a seed.
ACTIVITY_TABLES = (
    WAREHOUSES_TABLE,
    WAREHOUSE_EVENTS_TABLE,
    CLUSTERS_TABLE,
    JOB_RUN_TIMELINE_TABLE,
    PIPELINE_UPDATE_TIMELINE_TABLE,
    QUERY_HISTORY_TABLE,
)


def activity_rngs(seed: int) -> list[Generator]:
    """Independent random streams for the activity tables, one per builder, so that neither the usage table nor
    the order the builders run in changes what a seed generates."""
    return [Generator(PCG64(s)) for s in np.random.SeedSequence([seed, 0x5157]).spawn(6)]


def write_activity_tables(
    store: LocalLakehouse, streams: list[Stream], plan: ActivityPlan, window: Window, salt: np.uint64, seed: int
) -> dict[TableName, int]:
    """Write warehouses, warehouse events, clusters, job and pipeline timelines and query history."""
    rng_runs, rng_updates, rng_hours, rng_warehouse, rng_notebook, rng_pipeline = activity_rngs(seed)
    jobs = job_runs(streams, plan_runs(streams, plan, JOB_KINDS), window, salt, rng_runs)
    updates = pipeline_updates(streams, plan_runs(streams, plan, PIPELINE_KINDS), window, salt, rng_updates)
    hours = warehouse_hours(streams, plan, window, rng_hours)
    counts = {
        WAREHOUSES_TABLE: _write(
            store, WAREHOUSES_TABLE, [arrow_table(warehouse_rows(window), system_tables.WAREHOUSES)]
        ),
        WAREHOUSE_EVENTS_TABLE: _write(store, WAREHOUSE_EVENTS_TABLE, [warehouse_event_table(streams, hours)]),
        CLUSTERS_TABLE: _write(store, CLUSTERS_TABLE, cluster_tables(streams, window, jobs, updates)),
        JOB_RUN_TIMELINE_TABLE: _write(store, JOB_RUN_TIMELINE_TABLE, job_run_timeline_tables(streams, jobs, window)),
        PIPELINE_UPDATE_TIMELINE_TABLE: _write(
            store, PIPELINE_UPDATE_TIMELINE_TABLE, pipeline_update_timeline_tables(streams, updates, window)
        ),
    }
    statements = itertools.chain(
        warehouse_statement_tables(streams, plan, window, hours, salt, rng_warehouse),
        [notebook_statement_table(streams, plan, window, rng_notebook)],
        [pipeline_statement_table(streams, updates, window, rng_pipeline)],
    )
    counts[QUERY_HISTORY_TABLE] = _write(store, QUERY_HISTORY_TABLE, statements)
    return counts


def _write(store: LocalLakehouse, name: TableName, parts: Iterable[tuple[DataFrame, int] | pa.Table]) -> int:
    """Replace table `name` by the given parts; return the number of rows written.

    The table is first replaced by an empty frame of its exact schema, then each part is appended: Sail
    derives a Delta column's nullability from the data written, which would make populated structs NOT NULL.
    """
    spark = store.spark
    schema = system_tables.SYSTEM_TABLES[str(name)]
    store.write_raw(name, spark.createDataFrame([], schema), mode="overwrite")
    total = 0
    for part in parts:
        for df, rows in _frames(spark, part, schema):
            store.write_raw(name, df, mode="append")
            total += rows
    return total


def _frames(
    spark: SparkSession, part: tuple[DataFrame, int] | pa.Table, schema: StructType
) -> Iterator[tuple[DataFrame, int]]:
    """A part as frames; an arrow table in tables of at most ACTIVITY_CHUNK_ROWS rows: a Spark Connect message is
    limited to 128 MiB, which a year of statements passes. `take` copies the rows: pyspark cannot convert a
    zero-copy slice of a map column ("Null bitmap with offsets slice not supported")."""
    if not isinstance(part, pa.Table):
        yield part
        return
    whole = part.num_rows <= ACTIVITY_CHUNK_ROWS
    for rows in row_chunks(part.num_rows, ACTIVITY_CHUNK_ROWS):
        chunk = part if whole else part.take(np.arange(rows.start, rows.stop))
        yield spark.createDataFrame(chunk, schema=schema), chunk.num_rows
