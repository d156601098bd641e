"""What the notebooks in `notebooks/` call: each reads its widgets and makes one call here."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from chargeback.contracts.cost_tables import CHARGEBACK_MONTHLY, COST_DAILY
from chargeback.contracts.system_table_names import LIST_PRICES_TABLE, USAGE_TABLE
from chargeback.errors import ChargebackError, InputError
from chargeback.money import MONEY
from chargeback.names import TableName
from chargeback.storage.store import UnityCatalog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _month(value: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(f"{value.strip()[:7]}-01")
    except ValueError:
        raise InputError(f"billing month {value!r} is not YYYY-MM") from None


def statement(
    spark: SparkSession, catalog: str, schema: str, billing_month: str = "", business_unit: str = ""
) -> DataFrame:
    """A month's chargeback statement (default: the latest month), one row per business unit, largest first.

    With `business_unit`, that unit's cost for the month instead, by workspace, product, workload and cost kind
    (direct, shared, correction): the drill-down behind its statement line.
    """
    store = UnityCatalog(spark)
    monthly = store.read(TableName(catalog, schema, CHARGEBACK_MONTHLY.table))
    month = _month(billing_month) or monthly.agg(F.max("billing_month")).collect()[0][0]
    if month is None:
        raise InputError(f"{catalog}.{schema}.{CHARGEBACK_MONTHLY.table} is empty: run the chargeback job first")
    if not business_unit.strip():
        return monthly.where(F.col("billing_month") == F.lit(month)).orderBy(F.desc("effective_cost"))
    daily = store.read(TableName(catalog, schema, COST_DAILY.table))
    return (
        daily.where((F.col("billing_month") == F.lit(month)) & (F.col("business_unit") == business_unit.strip()))
        .groupBy("workspace_id", "billing_origin_product", "workload_type", "workload_id", "cost_kind", "currency_code")
        .agg(
            F.max("workload_name").alias("workload_name"),
            F.sum("list_cost").cast(MONEY).alias("list_cost"),
            F.sum("effective_cost").cast(MONEY).alias("effective_cost"),
        )
        .orderBy(F.desc("effective_cost"))
    )


def backfill(
    start_date: str,
    end_date: str,
    catalog: str,
    schema: str,
    config: str,
    usage_table: str = str(USAGE_TABLE),
    list_prices_table: str = str(LIST_PRICES_TABLE),
) -> None:
    """Recompute `start_date`..`end_date` in this session: every step of the backfill job, one after another.

    An empty `config` is the config built into the package (the bundle's, as deployed).
    """
    from chargeback.cli import main

    run_id = f"notebook-backfill-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    argv = ["job-step", "--step", "all", "--catalog", catalog, "--schema", schema, "--start-date", start_date]
    # Scratch tables of its own: the bundle's jobs stage in tables named by their job ids.
    argv += ["--end-date", end_date, "--run-id", run_id, "--usage-table", usage_table, "--scratch-key", "notebook"]
    argv += ["--config", config.strip()] if config.strip() else []
    if main([*argv, "--list-prices-table", list_prices_table]) != 0:
        raise ChargebackError(f"backfill {start_date}..{end_date} failed: the reason is printed above")
