"""Reading the optional system tables: enrichment (names, tags) and what consumption pools and run costs need."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.config import Config
from chargeback.jobs.params import RunParams
from chargeback.names import TableName
from chargeback.steps import consumption
from chargeback.storage.store import TableStore

# What the consumption split reads of system.query.history.
QUERY_COLUMNS = ("workspace_id", "statement_id", "executed_by", "compute", "start_time", "end_time")


def optional(store: TableStore, name: TableName, schema: StructType) -> DataFrame:
    """An optional system table, or an empty one of its schema when the account lacks it (regional, preview, not
    enabled)."""
    if store.exists(name):
        return store.read(name)
    return store.spark.createDataFrame([], schema)


def consumption_pool_ids(config: Config) -> list[str]:
    return [pool.id for pool in config.shared_costs if pool.method == "consumption"]


def read_query_history(store: TableStore, params: RunParams) -> DataFrame:
    """system.query.history, required (one line if missing) when a pool splits by consumption."""
    return store.read_required(params.sources.query_history, list(QUERY_COLUMNS))


def consumption_usage(store: TableStore, config: Config, params: RunParams, start: dt.date) -> consumption.Usage | None:
    """The statements of the consumption pools' warehouses that overlap [start, end], and the identity units; None
    when no pool splits by consumption."""
    if not consumption_pool_ids(config):
        return None
    warehouses = sorted(
        {wh for pool in config.shared_costs if pool.method == "consumption" for wh in pool.match.warehouse_ids}
    )
    spark = store.spark
    pool_warehouses = spark.createDataFrame([(wh,) for wh in warehouses], "warehouse_id string")
    statements = consumption.stage_queries(
        consumption.query_window(read_query_history(store, params), start, params.end_date)
    ).join(F.broadcast(pool_warehouses), "warehouse_id", "left_semi")
    return consumption.Usage(statements, consumption.identity_units(spark, config.attribution.identities))
