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
_POLICY_FIELDS = ("usage_policy_id", "budget_policy_id")
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


def tags_json(entries: Column) -> Column:
    """Canonical JSON of a tag map's entries (sorted by key), so equal tag sets compare equal; NULL -> '[]'."""
    return F.coalesce(F.to_json(F.array_sort(entries)), F.lit("[]"))


def usage_window(usage: DataFrame, start_date: dt.date, end_date: dt.date) -> DataFrame:
    """Usage records with `usage_date` in [start_date, end_date]; a plain predicate so storage can prune."""
    return usage.where((F.col("usage_date") >= F.lit(start_date)) & (F.col("usage_date") <= F.lit(end_date)))


def stage_usage(usage: DataFrame) -> DataFrame:
    """Select and rename what the pipeline needs from raw usage, tolerating missing optional fields.

    Columns stay raw (tag map entries in source order, both policy id fields): `net_usage` canonicalises them
    per group, which costs far less than per record.
    """
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
        F.map_entries("custom_tags").alias("tag_entries"),
        *(nested(usage, "usage_metadata", f).cast("string").alias(f) for f in ("usage_policy_id", "budget_policy_id")),
        nested(usage, "product_features", "is_serverless").cast("boolean").alias("is_serverless"),
        *(nested(usage, "identity_metadata", f).cast("string").alias(f) for f in ("run_as", "owned_by", "created_by")),
        *(nested(usage, "usage_metadata", f).cast("string").alias(f) for f in WORKLOAD_FIELDS),
        "record_id",
    )


_FEW_COPIES = 100
# The line key as read, before canonical tags and policy id are derived from it.
_RAW_KEY = tuple(
    c2 for c in LINE_KEY for c2 in {"tags_json": ("tag_entries",), "policy_id": _POLICY_FIELDS}.get(c, (c,))
)


def net_usage(staged: DataFrame) -> DataFrame:
    """Sum quantities over all record types per usage line; lines that net to zero carry no cost and go.

    Records are grouped on the raw key first; the canonical key (`tags_json`, `policy_id`) is then derived per
    group and the groups merged, so it is computed once per line rather than once per record.

    A record exported or appended twice is billed once: copies share (record_id, record_type), so a copied
    record gets a group of its own and counts once. Which records are copied is found
    from a 64-bit hash of their id (a collision only gives a record its own group: slower, never wrong); above
    `_FEW_COPIES` every record is grouped on its own, which stays linear where a lookup in a long list would not.
    """
    record = F.xxhash64("record_id", "record_type")
    repeated = (
        staged.groupBy(record.alias("_record"))
        .agg(F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
        .agg(F.collect_list("_record").alias("_repeated"))
    )
    # A one-row frame: joined without shuffling the records, unlike a join on the ids.
    copy = F.col("_copy")
    groups = (
        repeated.crossJoin(staged)
        .withColumn(
            "_copy",
            F.when(F.size("_repeated") > _FEW_COPIES, F.lit(True)).otherwise(F.array_contains("_repeated", record)),
        )
        .groupBy(
            *_RAW_KEY,
            F.when(copy, F.col("record_id")).alias("_record_id"),
            F.when(copy, F.col("record_type")).alias("_record_type"),
        )
        .agg(
            F.sum("usage_quantity").alias("_quantity"),
            F.max("usage_quantity").alias("_one_copy"),
            F.count(F.lit(1)).alias("_records"),
            F.max(F.col("record_type") != F.lit("ORIGINAL")).alias("_has_correction"),
            F.max("ingestion_date").alias("_last_ingestion_date"),
        )
    )
    # Copies may differ in raw form (tag entry order, the policy id under its old or new name), so their
    # groups meet again once the key is canonical; each copied record still counts once.
    canonical = (
        groups.withColumn("tags_json", tags_json(F.col("tag_entries")))
        # Databricks renamed budget policies to usage policies; newer rows may carry only the new field.
        .withColumn("policy_id", F.coalesce(*_POLICY_FIELDS))
        .groupBy(*LINE_KEY, "_record_id", "_record_type")
        .agg(
            F.sum("_quantity").alias("_quantity"),
            F.max("_one_copy").alias("_one_copy"),
            F.sum("_records").alias("_records"),
            F.max("_has_correction").alias("_has_correction"),
            F.max("_last_ingestion_date").alias("_last_ingestion_date"),
        )
    )
    is_copy = F.col("_record_id").isNotNull()
    netted = canonical.groupBy(*LINE_KEY).agg(
        F.sum(F.when(is_copy, F.col("_one_copy")).otherwise(F.col("_quantity"))).cast(QUANTITY).alias("usage_quantity"),
        F.sum(F.when(is_copy, F.lit(1)).otherwise(F.col("_records"))).cast("int").alias("source_record_count"),
        F.max("_has_correction").alias("has_correction"),
        F.max("_last_ingestion_date").alias("last_ingestion_date"),
    )
    return netted.where(F.col("usage_quantity") != 0).withColumn(
        "usage_line_id", F.sha2(F.to_json(F.struct(*(F.col(c).cast("string") for c in LINE_KEY))), 256)
    )
