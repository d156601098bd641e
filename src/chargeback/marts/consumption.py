"""`compute_consumption_hourly`: how each billed hour of a warehouse split by consumption was divided, by identity.

The split itself is `steps.consumption` (per bill: hour, warehouse, pool and SKU); this mart sums a row's SKUs, so
an hour's rows sum exactly to the hour's billed cost, and names the warehouse and its owner.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.contracts.cost_tables import TASK_MS
from chargeback.money import RATIO, money
from chargeback.steps.workloads import latest

# An identity's row of an hour: the shares of the hour's bills (one per SKU) summed.
_ROW = (
    "usage_hour",
    "usage_date",
    "workspace_id",
    "warehouse_id",
    "pool_id",
    "identity",
    "is_idle",
    "allocation_basis",
    "business_unit",
    "currency_code",
)


def consumption_hourly(shares: DataFrame, warehouses: DataFrame, run_id: str) -> DataFrame:
    """The rows of `compute_consumption_hourly` from `steps.consumption.consumption_shares`.

    Task time, statement count and share are the identity's in the hour, the same on each of the hour's bills.
    `warehouses` is `system.compute.warehouses` (may be empty): the owner is its latest row's `created_by`.
    """
    owners = latest(warehouses, ["workspace_id", "warehouse_id"]).select(
        F.col("workspace_id").alias("_owner_ws"),
        F.col("warehouse_id").alias("_owner_wh"),
        F.col("created_by").cast("string").alias("warehouse_owner"),
    )
    rows = shares.groupBy(*_ROW).agg(
        F.max("warehouse_name").alias("warehouse_name"),
        F.max("workspace_name").alias("workspace_name"),
        F.max("task_ms").alias("task_ms"),
        F.max("query_count").alias("query_count"),
        F.max("share_of_hour").alias("share_of_hour"),
        money(F.sum("list_cost")).alias("list_cost"),
        money(F.sum("effective_cost")).alias("effective_cost"),
    )
    on = (F.col("workspace_id") == F.col("_owner_ws")) & (F.col("warehouse_id") == F.col("_owner_wh"))
    return rows.join(F.broadcast(owners), on, "left").select(
        "usage_hour",
        "usage_date",
        "workspace_id",
        "warehouse_id",
        F.coalesce("warehouse_name", "warehouse_id").alias("warehouse_name"),
        "warehouse_owner",
        F.coalesce("workspace_name", "workspace_id").alias("workspace_name"),
        "pool_id",
        "identity",
        "is_idle",
        "allocation_basis",
        "business_unit",
        F.round(F.col("task_ms"), 3).cast(TASK_MS).alias("task_duration_ms"),
        "query_count",
        F.col("share_of_hour").cast(RATIO).alias("share_of_hour"),
        "list_cost",
        "effective_cost",
        "currency_code",
        F.lit(run_id).alias("run_id"),
    )
