"""Pure builders of the cost marts (their contracts are in `contracts.cost_tables`).

From the silver `usage_costs` lines and their allocation: `cost_daily` (with corrections of closed days),
`chargeback_monthly`, `serving_costs_daily`, `tag_coverage_daily`. The daily job (`jobs/`) writes them.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, Config
from chargeback.contracts.cost_tables import (
    CHARGEBACK_MONTHLY,
    COST_DAILY,
    COST_GRAIN,
    SERVING_COSTS_DAILY,
    TAG_COVERAGE_DAILY,
)
from chargeback.money import MONEY, ratio_of


def billing_month(day: F.Column | str) -> F.Column:
    return F.trunc(F.col(day) if isinstance(day, str) else day, "month")


def charged_day() -> F.Column:
    """The day a `cost_daily` row is charged to: a correction's original (closed) day, else its own day."""
    return F.coalesce("original_usage_date", "usage_date")


def cost_daily(costs: DataFrame, run_id: str) -> DataFrame:
    """Allocated rows (from `allocation.allocate`, or corrections) shaped as `cost_daily`."""
    if "original_usage_date" not in costs.columns:
        costs = costs.withColumn("original_usage_date", F.lit(None).cast("date"))
    return (
        costs.withColumn("billing_month", billing_month("usage_date"))
        .withColumn("run_id", F.lit(run_id))
        .select(*COST_DAILY.column_names)
    )


def corrections(truth: DataFrame, booked: DataFrame, booking_date: dt.date, run_id: str) -> DataFrame:
    """Correction rows for closed days: recomputed cost minus what closed statements already booked.

    `truth` and `booked` are cost rows of closed days at the cost grain, `booked` keyed by the day it
    corrects (`original_usage_date` for earlier corrections). The difference is booked on `booking_date`
    (the first open day in the window) with `cost_kind = 'correction'`.
    """
    key = [c for c in COST_GRAIN if c not in ("cost_kind",)]

    def signed(rows: DataFrame, negate: bool) -> DataFrame:
        # Negated, not multiplied by -1: MONEY x DECIMAL(1,0) needs 40 digits, and Spark drops two decimals
        # (engine: decimal-overflow).
        def amount(name: str) -> Column:
            return (-F.col(name) if negate else F.col(name)).cast(MONEY).alias(name)

        return rows.select(*key, "workload_name", amount("list_cost"), amount("effective_cost"))

    # A union of truth and negated bookings, summed per key (engine: full-outer-join).
    diff = (
        signed(truth, negate=False)
        .unionByName(signed(booked, negate=True))
        .groupBy(*key)
        .agg(
            F.first("workload_name", ignorenulls=True).alias("n"),
            F.sum("list_cost").cast(MONEY).alias("list_cost"),
            F.sum("effective_cost").cast(MONEY).alias("effective_cost"),
        )
        .select(
            F.lit(booking_date).alias("usage_date"),
            F.col("usage_date").alias("original_usage_date"),
            *(c for c in key if c != "usage_date"),
            F.lit("correction").alias("cost_kind"),
            F.coalesce("n", "workload_id").alias("workload_name"),
            "list_cost",
            "effective_cost",
        )
    )
    return cost_daily(diff.where((F.col("effective_cost") != 0) | (F.col("list_cost") != 0)), run_id)


def chargeback_monthly(daily: DataFrame, config: Config, run_id: str) -> DataFrame:
    """Monthly statement per business unit from `cost_daily` rows of the months being (re)written."""
    units = daily.sparkSession.createDataFrame(
        [(u.id, u.name, u.parent, u.cost_center) for u in config.business_units]
        + [(UNALLOCATED, "Unallocated", None, None)],
        "business_unit string, business_unit_name string, parent_business_unit string, cost_center string",
    )
    closed = list(config.closed_months)

    def kind(k: str) -> F.Column:
        return F.sum(F.when(F.col("cost_kind") == k, F.col("effective_cost")).otherwise(F.lit(0).cast(MONEY)))

    statement = daily.groupBy("billing_month", "business_unit", "currency_code").agg(
        F.coalesce(kind("direct"), F.lit(0)).cast(MONEY).alias("direct_cost"),
        F.coalesce(kind("shared"), F.lit(0)).cast(MONEY).alias("shared_cost"),
        F.coalesce(kind("correction"), F.lit(0)).cast(MONEY).alias("correction_cost"),
        F.sum("list_cost").cast(MONEY).alias("list_cost"),
        F.sum("effective_cost").cast(MONEY).alias("effective_cost"),
    )
    month_total = F.sum("effective_cost").over(Window.partitionBy("billing_month"))
    return (
        statement.join(F.broadcast(units), "business_unit", "left")
        .withColumn(
            "share_of_total",
            F.when(month_total != 0, ratio_of(F.col("effective_cost"), month_total)).otherwise(
                F.lit(0).cast("decimal(13,12)")
            ),
        )
        .withColumn(
            "statement_status",
            F.when(F.col("billing_month").isin(closed), F.lit("closed")).otherwise(F.lit("open"))
            if closed
            else F.lit("open"),
        )
        .withColumn("run_id", F.lit(run_id))
        .select(*CHARGEBACK_MONTHLY.column_names)
    )


def serving_costs_daily(lines: DataFrame, run_id: str) -> DataFrame:
    """Model serving cost per endpoint and day, split into launch (scale from zero) and inference."""
    serving = lines.where(F.col("workload_type") == "serving_endpoint")
    is_launch = F.col("sku_name").contains("_REAL_TIME_INFERENCE_LAUNCH")
    zero = F.lit(0).cast(MONEY)
    return (
        serving.groupBy("usage_date", "workspace_id", "workload_id", "business_unit", "currency_code")
        .agg(
            F.first("workload_name", ignorenulls=True).alias("endpoint_name"),
            F.sum(F.when(is_launch, F.col("effective_cost")).otherwise(zero)).cast(MONEY).alias("launch_cost"),
            F.sum(F.when(~is_launch, F.col("effective_cost")).otherwise(zero)).cast(MONEY).alias("inference_cost"),
            F.sum("effective_cost").cast(MONEY).alias("effective_cost"),
            F.sum(F.when(F.col("usage_unit") == "DBU", F.col("usage_quantity")))
            .cast("decimal(38,18)")
            .alias("usage_quantity_dbu"),
        )
        .withColumnRenamed("workload_id", "endpoint_id")
        .withColumn("run_id", F.lit(run_id))
        .select(*SERVING_COSTS_DAILY.column_names)
    )


def tag_coverage_daily(lines: DataFrame, currency: str, run_id: str) -> DataFrame:
    """Share of cost carrying a business-unit tag, attributed by any rule, or left unallocated."""
    zero = F.lit(0).cast(MONEY)

    def cost_where(cond: F.Column) -> F.Column:
        return F.sum(F.when(cond, F.col("effective_cost")).otherwise(zero)).cast(MONEY)

    return (
        lines.groupBy("usage_date", "workspace_id", "billing_origin_product")
        .agg(
            F.sum("effective_cost").cast(MONEY).alias("total_cost"),
            cost_where(F.col("attribution_method") == "tag").alias("tagged_cost"),
            cost_where(F.col("business_unit") != UNALLOCATED).alias("allocated_cost"),
            cost_where(F.col("business_unit") == UNALLOCATED).alias("unallocated_cost"),
        )
        .withColumn(
            "tag_coverage_ratio",
            F.when(F.col("total_cost") > 0, ratio_of(F.col("tagged_cost"), F.col("total_cost"))),
        )
        .withColumn("currency_code", F.lit(currency))
        .withColumn("run_id", F.lit(run_id))
        .select(*TAG_COVERAGE_DAILY.column_names)
    )
