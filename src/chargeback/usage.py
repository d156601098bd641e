"""Staging of `system.billing.usage`: the usage window and the netting of corrections.

Grain of the output ("usage lines"): one row per distinct billable key (workspace, SKU, time window, tags,
policy, workload, identity) with its quantity summed over every record type. A RETRACTION cancels its
ORIGINAL; a RESTATEMENT whose tags or workload differ becomes its own line, so corrected cost moves owner.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.money import QUANTITY

# usage_metadata fields the pipeline uses, by output column name.
WORKLOAD_FIELDS = (
    "job_id",
    "job_name",
    "dlt_pipeline_id",
    "warehouse_id",
    "endpoint_id",
    "endpoint_name",
    "notebook_id",
    "notebook_path",
    "app_id",
    "app_name",
    "cluster_id",
    "database_instance_id",
)
LINE_KEY = (
    "account_id",
    "workspace_id",
    "cloud",
    "sku_name",
    "usage_unit",
    "usage_type",
    "billing_origin_product",
    "usage_date",
    "usage_start_time",
    "usage_end_time",
    "tags_json",
    "policy_id",
    "is_serverless",
    "run_as",
    "owned_by",
    "created_by",
    *WORKLOAD_FIELDS,
)


def nested(df: DataFrame, struct_name: str, field: str) -> Column:
    """`struct_name.field`, or NULL when the source lacks it (older exports, schema drift)."""
    dtype = df.schema[struct_name].dataType if struct_name in df.columns else None
    if isinstance(dtype, StructType) and field in dtype.fieldNames():
        return F.col(struct_name).getField(field)
    return F.lit(None)


def tags_json(tags: Column) -> Column:
    """Canonical JSON of a tag map (entries sorted by key), so equal tag sets compare equal; NULL map -> '[]'."""
    return F.coalesce(F.to_json(F.array_sort(F.map_entries(tags))), F.lit("[]"))


def usage_window(usage: DataFrame, start_date: dt.date, end_date: dt.date) -> DataFrame:
    """Usage records with `usage_date` in [start_date, end_date]; a plain predicate so storage can prune."""
    return usage.where((F.col("usage_date") >= F.lit(start_date)) & (F.col("usage_date") <= F.lit(end_date)))


def stage_usage(usage: DataFrame) -> DataFrame:
    """Select and rename what the pipeline needs from raw usage, tolerating missing optional fields."""
    return usage.select(
        *(
            F.col(c)
            for c in (
                "account_id",
                "workspace_id",
                "cloud",
                "sku_name",
                "usage_unit",
                "billing_origin_product",
                "usage_date",
                "usage_start_time",
                "usage_end_time",
                "record_type",
                "ingestion_date",
            )
        ),
        (F.col("usage_type") if "usage_type" in usage.columns else F.lit(None).cast("string")).alias("usage_type"),
        F.col("usage_quantity").cast(QUANTITY).alias("usage_quantity"),
        tags_json(F.col("custom_tags")).alias("tags_json"),
        # Databricks renamed budget policies to usage policies; newer rows may carry only the new field.
        F.coalesce(
            nested(usage, "usage_metadata", "usage_policy_id"), nested(usage, "usage_metadata", "budget_policy_id")
        )
        .cast("string")
        .alias("policy_id"),
        nested(usage, "product_features", "is_serverless").cast("boolean").alias("is_serverless"),
        *(nested(usage, "identity_metadata", f).cast("string").alias(f) for f in ("run_as", "owned_by", "created_by")),
        *(nested(usage, "usage_metadata", f).cast("string").alias(f) for f in WORKLOAD_FIELDS),
        "record_id",
    )


def drop_duplicate_records(staged: DataFrame) -> DataFrame:
    """One row per (record_id, record_type): a record exported or appended twice is billed once.

    record_id is unique per record; the record type is part of the key in case a correction reuses its
    original's id (the docs do not say).
    """
    return staged.dropDuplicates(["record_id", "record_type"])


def net_usage(staged: DataFrame) -> DataFrame:
    """Sum quantities over all record types per usage line; lines that net to zero carry no cost and go."""
    netted = drop_duplicate_records(staged).groupBy(*LINE_KEY).agg(
        F.sum("usage_quantity").cast(QUANTITY).alias("usage_quantity"),
        F.count(F.lit(1)).cast("int").alias("source_record_count"),
        F.max(F.col("record_type") != F.lit("ORIGINAL")).alias("has_correction"),
        F.max("ingestion_date").alias("last_ingestion_date"),
    )
    return netted.where(F.col("usage_quantity") != 0).withColumn(
        "usage_line_id", F.sha2(F.to_json(F.struct(*(F.col(c).cast("string") for c in LINE_KEY))), 256)
    )
