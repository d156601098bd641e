"""Staging of `system.billing.usage`: the usage window, re-exported records, and the netting of corrections.

Grain of the output ("usage lines"): one row per distinct billable key (workspace, SKU, time window, tags,
policy, workload and its job run or pipeline update, identity) with its quantity summed over every record type.
A RETRACTION cancels its ORIGINAL; a RESTATEMENT whose tags or workload differ becomes its own line, so corrected
cost moves owner.

A record is its (record_id, record_type): exported or appended again, it is billed once, whatever the copies say.
The copy kept is the one with the latest `ingestion_date`, then the greatest SHA-256 of the rest of its content
(every other column, by column name), so the same input gives the same bill on every run and engine.
"""

from __future__ import annotations

import datetime as dt
import operator
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StructType

from chargeback.dates import DaySet
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
    # The run or update that billed the line: cost per job run and per pipeline update (they split lines by run).
    "job_run_id",
    "dlt_update_id",
)
_POLICY_FIELDS = ("usage_policy_id", "budget_policy_id")
IDENTITY_FIELDS = ("run_as", "owned_by", "created_by")
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
    """`struct_name.field`, or NULL when the source lacks it (older exports, schema drift) or the struct is NULL
    (engine: null-struct-field)."""
    dtype = df.schema[struct_name].dataType if struct_name in df.columns else None
    if isinstance(dtype, StructType) and field in dtype.fieldNames():
        return F.when(F.col(struct_name).isNotNull(), F.col(struct_name).getField(field))
    return F.lit(None)


def tags_json(entries: Column) -> Column:
    """Canonical JSON of a tag map's entries (sorted by key), so equal tag sets compare equal; NULL -> '[]'."""
    return F.coalesce(F.to_json(F.array_sort(entries)), F.lit("[]"))


def on_days(df: DataFrame, days: DaySet, column: str = "usage_date") -> DataFrame:
    """The rows of `df` whose `column` is one of `days` (one range condition per run of consecutive days)."""
    return df.where(on_days_column(days, column))


def on_days_column(days: DaySet, column: str = "usage_date") -> Column:
    ranges = [F.col(column).between(F.lit(first), F.lit(last)) for first, last in days.ranges]
    return reduce(operator.or_, ranges) if ranges else F.lit(False)


def usage_window(usage: DataFrame, start_date: dt.date, end_date: dt.date) -> DataFrame:
    """Usage records with `usage_date` in [start_date, end_date]; a plain predicate so storage can prune."""
    return usage.where((F.col("usage_date") >= F.lit(start_date)) & (F.col("usage_date") <= F.lit(end_date)))


def stage_usage(usage: DataFrame, dedupe: bool = True) -> DataFrame:
    """Select and rename what the pipeline needs from raw usage, tolerating missing optional fields.

    Columns stay raw (tag map entries in source order, both policy id fields): `net_usage` canonicalises them
    per group, which costs far less than per record. With `dedupe`, each record comes once (`latest_records`);
    without, the records pass as they are (the system table exports each once).
    """
    return (latest_records(usage) if dedupe else usage).select(*staged_columns(usage))


def staged_columns(usage: DataFrame) -> list[Column]:
    """What `stage_usage` keeps of a usage record: every column the pipeline reads, and only those."""
    return [
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
        *(nested(usage, "identity_metadata", f).cast("string").alias(f) for f in IDENTITY_FIELDS),
        *(nested(usage, "usage_metadata", f).cast("string").alias(f) for f in WORKLOAD_FIELDS),
        F.col("record_id"),
    ]


_FEW_COPIES = 100
_RECORD_KEY = ("record_id", "record_type", "ingestion_date")
# The line key as read, before canonical tags and policy id are derived from it.
_RAW_KEY = tuple(
    c2 for c in LINE_KEY for c2 in {"tags_json": ("tag_entries",), "policy_id": _POLICY_FIELDS}.get(c, (c,))
)


def content_hash(usage: DataFrame) -> Column:
    """SHA-256 of a record's content besides its id, type and ingestion date: every column by name, nested ones
    as JSON, NULL as its own mark, so copies that differ anywhere differ here."""
    texts = []
    for name in sorted(c for c in usage.columns if c not in _RECORD_KEY):
        column = F.col(name)
        nested_type = isinstance(usage.schema[name].dataType, StructType | MapType | ArrayType)
        texts.append(F.coalesce(F.to_json(column) if nested_type else column.cast("string"), F.lit("\u2400")))
    return F.sha2(F.concat_ws("\u241f", *texts), 256)


def latest_records(usage: DataFrame) -> DataFrame:
    """One row per (record_id, record_type): the copy with the latest ingestion_date, then the greatest content hash.

    Which records have copies is looked up first, from a 64-bit hash of their id (a collision only sends a record
    through the ranking: slower, never wrong). With none, the records pass as they are; only copies are ranked,
    unless there are more than `_FEW_COPIES` records with copies, when every record is. A record without an id is
    its own record.
    """
    record = F.xxhash64("record_id", "record_type")
    repeated = [
        r[0]
        for r in usage.groupBy(record.alias("_record"))
        .agg(F.count(F.lit(1)).alias("_n"))
        .where(F.col("_n") > 1)
        .select("_record")
        .limit(_FEW_COPIES + 1)
        .collect()
    ]
    if not repeated:
        return usage
    is_copy = F.col("record_id").isNotNull()
    if len(repeated) <= _FEW_COPIES:
        is_copy = is_copy & record.isin(repeated)
    latest_first = Window.partitionBy("record_id", "record_type").orderBy(
        F.col("ingestion_date").desc_nulls_last(), content_hash(usage).desc()
    )
    kept = (
        usage.where(is_copy)
        .withColumn("_rank", F.row_number().over(latest_first))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )
    return usage.where(~F.coalesce(is_copy, F.lit(False))).unionByName(kept)


def net_records(staged: DataFrame) -> DataFrame:
    """Sum quantities over all record types per usage line (`net_usage`), keeping lines that net to zero.

    Records are grouped on the raw key first; the canonical key (`tags_json`, `policy_id`) is then derived per
    group and the groups merged, so it is computed once per line rather than once per record.
    """
    groups = staged.groupBy(*_RAW_KEY).agg(
        F.sum("usage_quantity").alias("_quantity"),
        F.count(F.lit(1)).alias("_records"),
        F.max(F.col("record_type") != F.lit("ORIGINAL")).alias("_has_correction"),
        F.max("ingestion_date").alias("_last_ingestion_date"),
    )
    netted = (
        groups.withColumn("tags_json", tags_json(F.col("tag_entries")))
        # Databricks renamed budget policies to usage policies; newer rows may carry only the new field.
        .withColumn("policy_id", F.coalesce(*_POLICY_FIELDS))
        .groupBy(*LINE_KEY)
        .agg(
            F.sum("_quantity").cast(QUANTITY).alias("usage_quantity"),
            F.sum("_records").cast("int").alias("source_record_count"),
            F.max("_has_correction").alias("has_correction"),
            F.max("_last_ingestion_date").alias("last_ingestion_date"),
        )
    )
    return netted.withColumn(
        "usage_line_id", F.sha2(F.to_json(F.struct(*(F.col(c).cast("string") for c in LINE_KEY))), 256)
    )


def net_usage(staged: DataFrame) -> DataFrame:
    """The usage lines of `staged` records; lines that net to zero carry no cost and go."""
    return net_records(staged).where(F.col("usage_quantity") != 0)


# Sum of two line quantities, exact on every engine: (37,18) + (37,18) is (38,18), no scale lost (see money.py).
_ADDEND = "decimal(37,18)"


def add_to_published(new_lines: DataFrame, published: DataFrame) -> DataFrame:
    """`new_lines` (`net_records` of records that `published` lines do not hold) netted with the published line of
    the same `usage_line_id`: the lines `net_usage` gives for the records of both.

    Quantities and record counts add up, the correction flag and last ingestion date are the greater (NULLs
    ignored, as `max` ignores them); a line with no published part is its new records alone, one that nets to zero
    goes. Exact only when every record of a line with no published part is new: a caller makes sure no published
    line netted to zero and went (its records would be missed).
    """
    old = published.select(
        "usage_line_id",
        F.col("usage_quantity").alias("_old_quantity"),
        F.col("source_record_count").alias("_old_records"),
        F.col("has_correction").alias("_old_has_correction"),
        F.col("last_ingestion_date").alias("_old_last_ingestion_date"),
    )
    added = {
        "usage_quantity": (
            F.col("usage_quantity").cast(_ADDEND) + F.coalesce(F.col("_old_quantity"), F.lit(0)).cast(_ADDEND)
        ).cast(QUANTITY),
        "source_record_count": (F.col("source_record_count") + F.coalesce(F.col("_old_records"), F.lit(0))).cast("int"),
        "has_correction": F.greatest("has_correction", "_old_has_correction"),
        "last_ingestion_date": F.greatest("last_ingestion_date", "_old_last_ingestion_date"),
    }
    return (
        new_lines.join(old, "usage_line_id", "left")
        .withColumns(added)
        .where(F.col("usage_quantity") != 0)
        .select(*new_lines.columns)
    )
