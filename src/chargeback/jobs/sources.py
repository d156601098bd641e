"""Reading the optional system tables: enrichment (names, tags) and what consumption pools and run costs need."""

from __future__ import annotations

import datetime as dt

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.config import Config
from chargeback.contracts.system_tables import (
    CLUSTERS,
    JOB_RUN_TIMELINE,
    JOBS,
    PIPELINE_UPDATE_TIMELINE,
    PIPELINES,
    SERVED_ENTITIES,
    WAREHOUSES,
    WORKSPACES_LATEST,
)
from chargeback.errors import SourceTableError
from chargeback.jobs.params import RunParams
from chargeback.names import TableName
from chargeback.steps import consumption
from chargeback.storage.store import TableStore

# What the consumption split reads of system.query.history.
QUERY_COLUMNS = (
    "workspace_id",
    "statement_id",
    "executed_by",
    "compute",
    "start_time",
    "end_time",
    "total_task_duration_ms",
)


def optional(store: TableStore, name: TableName, schema: StructType) -> DataFrame:
    """An optional system table, or an empty one of its schema when the account lacks it (regional, preview, not
    enabled); columns of `schema` it lacks (older or documented-only schemas) read as NULL.

    A table that exists but cannot be read (no SELECT grant) is refused, with one line: silently dropping its names
    or outcomes would publish a different bill shape without saying so.
    """
    if not store.exists(name):
        return store.spark.createDataFrame([], schema)
    table = store.read(name)
    try:
        present = set(table.columns)  # resolves the table: a missing grant fails here, not halfway through publish
    except AnalysisException as error:
        reason = str(error).splitlines()[0][:200]
        raise SourceTableError(f"source table {name} exists but cannot be read: {reason}") from error
    missing = {f.name: F.lit(None).cast(f.dataType) for f in schema.fields if f.name not in present}
    return table.withColumns(missing) if missing else table


def optional_tables(params: RunParams) -> tuple[tuple[TableName, StructType], ...]:
    """The optional system tables a run reads, with the schema each is read as."""
    src = params.sources
    return (
        (src.workspaces, WORKSPACES_LATEST),
        (src.jobs, JOBS),
        (src.pipelines, PIPELINES),
        (src.served_entities, SERVED_ENTITIES),
        (src.warehouses, WAREHOUSES),
        (src.clusters, CLUSTERS),
        (src.job_run_timeline, JOB_RUN_TIMELINE),
        (src.pipeline_update_timeline, PIPELINE_UPDATE_TIMELINE),
    )


def check_optional(store: TableStore, params: RunParams) -> None:
    """Resolve every optional source before anything is written (`optional` refuses an unreadable one)."""
    for name, schema in optional_tables(params):
        optional(store, name, schema)


def consumption_pool_ids(config: Config) -> list[str]:
    return [pool.id for pool in config.consumption_pools]


def read_query_history(store: TableStore, params: RunParams) -> DataFrame:
    """system.query.history, required (one line if missing) when a pool splits by consumption."""
    return store.read_required(params.sources.query_history, list(QUERY_COLUMNS))


def consumption_usage(store: TableStore, config: Config, params: RunParams, start: dt.date) -> consumption.Usage | None:
    """The statements of the consumption pools' warehouses that overlap [start, end], and the identity units; None
    when no pool splits by consumption."""
    if not consumption_pool_ids(config):
        return None
    statements = pool_statements(store, config, params, start)
    return consumption.Usage(statements, consumption.identity_units(store.spark, config.attribution.identities))


def pool_statements(store: TableStore, config: Config, params: RunParams, start: dt.date) -> DataFrame:
    """The statements of the consumption pools' warehouses that can overlap [start, end] (`query_window`), as the
    split reads them (`stage_queries`)."""
    warehouses = sorted({wh for pool in config.consumption_pools for wh in pool.match.warehouse_ids})
    pool_warehouses = store.spark.createDataFrame([(wh,) for wh in warehouses], "warehouse_id string")
    return consumption.stage_queries(
        consumption.query_window(read_query_history(store, params), start, params.end_date)
    ).join(F.broadcast(pool_warehouses), "warehouse_id", "left_semi")
