"""The tables the product publishes: their specs (grain, key, comments) and pure builders.

Layers: `usage_costs` (silver, one row per netted usage line) -> `cost_daily` (allocated cost) ->
`chargeback_monthly`, `serving_costs_daily`, `tag_coverage_daily`; `reconciliation_runs` logs each run.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, Config
from chargeback.contracts.table_spec import Column as C
from chargeback.contracts.table_spec import TableSpec
from chargeback.money import MONEY, ratio_of
from chargeback.steps.allocation import COST_GRAIN

_M = MONEY
_COST = C("effective_cost", _M, "Cost after discounts, in currency_code.")
_LIST = C("list_cost", _M, "Cost at list price (pricing.effective_list), in currency_code.")
_CUR = C("currency_code", "string", "Chargeback currency (ISO 4217).")
_RUN = C("run_id", "string", "Id of the pipeline run that wrote the row.")
_DATE = C("usage_date", "date", "UTC date of the usage.")
_WS = C("workspace_id", "string", "Databricks workspace id.")
_PROD = C("billing_origin_product", "string", "Product that originated the usage (JOBS, SQL, MODEL_SERVING, ...).")
_BU = C("business_unit", "string", "Business unit charged; UNALLOCATED when no rule assigned it.")

USAGE_COSTS = TableSpec(
    table="usage_costs",
    grain="Silver: one row per netted usage line (all record types summed) with price, workload and owner.",
    primary_key=("usage_line_id",),
    partition_by=("usage_date",),
    columns=(
        C("usage_line_id", "string", "Hash of the usage line's key columns."),
        _DATE,
        C("account_id", "string", "Databricks account id."),
        _WS,
        C("workspace_name", "string", "Workspace name from system.access.workspaces_latest, else its id."),
        C("cloud", "string", "AWS, AZURE or GCP."),
        C("sku_name", "string", "Billing SKU."),
        _PROD,
        C("usage_type", "string", "COMPUTE_TIME, STORAGE_SPACE, TOKEN, ..."),
        C("usage_unit", "string", "Unit of usage_quantity (DBU, DSU, ...)."),
        C("usage_start_time", "timestamp", "UTC start of the usage window."),
        C("usage_end_time", "timestamp", "UTC end of the usage window; the price in force at this instant applies."),
        C("usage_quantity", "decimal(38,18)", "Quantity netted over ORIGINAL, RETRACTION and RESTATEMENT records."),
        C("source_record_count", "int", "Source records netted into this line."),
        C("has_correction", "boolean", "True when a RETRACTION or RESTATEMENT contributed."),
        C("last_ingestion_date", "date", "Latest ingestion_date among the netted records."),
        C("is_serverless", "boolean", "product_features.is_serverless (NULL when the product has no choice)."),
        C("tags_json", "string", "custom_tags as JSON entries sorted by key."),
        C("policy_id", "string", "Serverless usage/budget policy id (usage_policy_id, else budget_policy_id)."),
        C("owner_identity", "string", "run_as, else owned_by, else created_by."),
        C("workload_type", "string", "job, pipeline, warehouse, serving_endpoint, app, notebook, cluster, platform..."),
        C("workload_id", "string", "Id of the workload (the product for platform usage)."),
        C("workload_name", "string", "Latest known name of the workload, else its id."),
        C("is_priced", "boolean", "False when the line has no list price (cost is then 0, reason in unpriced_reason)."),
        C("unit_price", "decimal(38,18)", "List price per unit used (effective_list, else default)."),
        C("discount_percent", "decimal(9,4)", "Discount applied, in percent."),
        _LIST,
        _COST,
        _CUR,
        _BU,
        C(
            "attribution_method",
            "string",
            "Rule that assigned the unit: tag, budget_policy, workload, pipeline_tag, "
            "identity, workspace or unallocated.",
        ),
        C("attribution_confidence", "string", "high, medium, low or none."),
        C("attribution_key", "string", "What matched (tag key=value, policy id, workload, identity, workspace)."),
        C("pool_id", "string", "Shared-cost pool that claimed the line; NULL for direct cost."),
        _RUN,
        C("unpriced_reason", "string", "Why an unpriced line has no price ('no list price'); NULL when priced."),
    ),
)

COST_DAILY = TableSpec(
    table="cost_daily",
    grain="Gold: allocated cost per day x business unit x workspace x product x SKU x workload x cost kind "
    "(direct, shared, or correction of a closed month's day).",
    primary_key=(*COST_GRAIN, "original_usage_date"),
    partition_by=("usage_date",),
    columns=(
        _DATE,
        C("billing_month", "date", "First day of the month the cost is billed in."),
        _BU,
        _WS,
        _PROD,
        C("sku_name", "string", "Billing SKU."),
        C("workload_type", "string", "Workload type; shared_pool for allocated shared cost."),
        C("workload_id", "string", "Workload id; the pool id for shared cost."),
        C("workload_name", "string", "Workload name."),
        C("cost_kind", "string", "direct, shared or correction."),
        C("pool_id", "string", "Shared-cost pool for shared rows, else NULL."),
        C("original_usage_date", "date", "For corrections: the closed day corrected; else NULL."),
        _LIST,
        _COST,
        _CUR,
        _RUN,
    ),
)

CHARGEBACK_MONTHLY = TableSpec(
    table="chargeback_monthly",
    grain="Gold: the monthly chargeback statement, one row per month x business unit.",
    primary_key=("billing_month", "business_unit"),
    partition_by=("billing_month",),
    columns=(
        C("billing_month", "date", "First day of the billing month."),
        _BU,
        C("business_unit_name", "string", "Display name of the unit."),
        C("parent_business_unit", "string", "Parent unit in the hierarchy, if any."),
        C("cost_center", "string", "Cost center of the unit, if any."),
        C("direct_cost", _M, "Effective cost attributed directly."),
        C("shared_cost", _M, "Effective cost allocated from shared pools."),
        C("correction_cost", _M, "Corrections of closed months booked in this month."),
        _LIST,
        _COST,
        C("share_of_total", "decimal(13,12)", "effective_cost / the month's total effective cost."),
        _CUR,
        C("statement_status", "string", "open or closed; closed statements never change."),
        _RUN,
    ),
)

SERVING_COSTS_DAILY = TableSpec(
    table="serving_costs_daily",
    grain="Gold: model serving cost per day x workspace x endpoint x business unit, launch vs inference.",
    primary_key=("usage_date", "workspace_id", "endpoint_name", "business_unit"),
    partition_by=("usage_date",),
    columns=(
        _DATE,
        _WS,
        C("endpoint_id", "string", "Serving endpoint id."),
        C("endpoint_name", "string", "Serving endpoint name (its id when unknown)."),
        _BU,
        C("launch_cost", _M, "Cost of scale-from-zero launches (..._REAL_TIME_INFERENCE_LAUNCH_... SKUs)."),
        C("inference_cost", _M, "Cost of everything else on the endpoint."),
        _COST,
        C("usage_quantity_dbu", "decimal(38,18)", "DBUs consumed."),
        _CUR,
        _RUN,
    ),
)

TAG_COVERAGE_DAILY = TableSpec(
    table="tag_coverage_daily",
    grain="Gold: tag hygiene per day x workspace x product.",
    primary_key=("usage_date", "workspace_id", "billing_origin_product"),
    partition_by=("usage_date",),
    columns=(
        _DATE,
        _WS,
        _PROD,
        C("total_cost", _M, "Effective cost of all usage."),
        C("tagged_cost", _M, "Cost attributed by a business-unit tag on the usage itself."),
        C("allocated_cost", _M, "Cost attributed to a unit by any rule."),
        C("unallocated_cost", _M, "Cost no rule attributed (before shared-cost pools)."),
        C("tag_coverage_ratio", "decimal(13,12)", "tagged_cost / total_cost."),
        _CUR,
        _RUN,
    ),
)

RECONCILIATION_RUNS = TableSpec(
    table="reconciliation_runs",
    grain="Gold: one row per pipeline run: billed versus allocated cost over the run's window.",
    primary_key=("run_id",),
    columns=(
        C("run_id", "string", "Id of the run."),
        C("run_at", "timestamp", "UTC time the run started."),
        C("window_start_date", "date", "First usage date processed."),
        C("window_end_date", "date", "Last usage date processed."),
        C("billed_cost", _M, "Priced usage in the window (effective cost)."),
        C("allocated_cost", _M, "Cost on gold rows for the window, including closed-month bookings."),
        C("difference", _M, "billed_cost - allocated_cost."),
        C("is_balanced", "boolean", "abs(difference) <= 0.01; the run also tied out with the raw usage records."),
        C("usage_line_count", "bigint", "Netted usage lines in the window."),
        C("unpriced_line_count", "bigint", "Lines with no list price."),
        C("unpriced_skus", "string", "SKUs without a price, with their quantity and the reason."),
        _CUR,
        C("duration_seconds", "decimal(12,3)", "Wall time of the run."),
        C("rows_written_json", "string", "JSON object: rows each table holds from this run (config, silver, gold)."),
        C("step_seconds_json", "string", "JSON object: wall time of each step in seconds."),
        C("duplicate_record_count", "bigint", "Usage records (record_id, record_type) exported more than once."),
        C("conflicting_record_count", "bigint", "Of those, records whose copies differ in content (latest kept)."),
        C("duplicate_record_examples", "string", "A few record_ids of such records, comma-separated."),
    ),
)

GOLD_TABLES = (COST_DAILY, CHARGEBACK_MONTHLY, SERVING_COSTS_DAILY, TAG_COVERAGE_DAILY)


def billing_month(day: F.Column | str) -> F.Column:
    return F.trunc(F.col(day) if isinstance(day, str) else day, "month")


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

    def signed(rows: DataFrame, sign: int) -> DataFrame:
        return rows.select(
            *key,
            "workload_name",
            (F.col("list_cost") * sign).cast(MONEY).alias("list_cost"),
            (F.col("effective_cost") * sign).cast(MONEY).alias("effective_cost"),
        )

    # A union of truth and negated bookings, summed per key (a full outer join of the two trips Sail).
    diff = (
        signed(truth, 1)
        .unionByName(signed(booked, -1))
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
