"""Attribution: which business unit owns each usage line, by which rule, with what confidence.

Precedence (first match wins): business-unit tag (configured keys in priority order) -> serverless budget
policy id -> explicit workload mapping -> pipeline tags from `system.lakeflow.pipelines` (serverless
pipelines leave `custom_tags` empty) -> identity (run_as / owned_by / created_by) -> workspace default ->
UNALLOCATED. Every rule applies only on usage dates inside its [valid_from, valid_to) window, so a reorg
does not rewrite history.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, Config, normalise

# (method, confidence) in precedence order.
METHODS = (
    ("tag", "high"),
    ("budget_policy", "high"),
    ("workload", "high"),
    ("pipeline_tag", "medium"),
    ("identity", "medium"),
    ("workspace", "low"),
)
_ALWAYS = dt.date(1, 1, 1)
_TAG_ENTRIES = "array<struct<key:string,value:string>>"


def normalised(col: Column) -> Column:
    """Lower-case, every run of non-letters/digits -> '-', trimmed: the SQL twin of `config.normalise`."""
    dashed = F.regexp_replace(F.lower(col), r"[^\p{L}\p{N}]+", "-")
    return F.regexp_replace(dashed, r"^-+|-+$", "")


def key_form(col: Column) -> Column:
    """Tag keys compare ignoring case and separators: `BusinessUnit`, `business_unit` and `business-unit` match."""
    return F.regexp_replace(normalised(col), "-", "")


def _valid(day: Column, prefix: str) -> Column:
    valid_to = F.col(f"{prefix}valid_to")
    return (day >= F.col(f"{prefix}valid_from")) & (valid_to.isNull() | (day < valid_to))


def _rules(spark: SparkSession, rows: list[tuple], key_columns: str) -> DataFrame:
    schema = f"{key_columns}, business_unit string, valid_from date, valid_to date"
    return spark.createDataFrame(rows, schema)


def tag_value_rules(spark: SparkSession, config: Config) -> DataFrame:
    """Normalised tag value -> unit: each unit's own id and name (always valid), plus configured aliases."""
    rows: list[tuple] = []
    for unit in config.business_units:
        for spelling in {normalise(unit.id), normalise(unit.name)}:
            rows.append((spelling, unit.id, _ALWAYS, None))
    rows += [(r.value, r.business_unit, r.valid_from, r.valid_to) for r in config.attribution.tag_values]
    return _rules(spark, rows, "tag_value string")


def match_tags(lines: DataFrame, tags_column: str, value_rules: DataFrame, key_priorities: DataFrame) -> DataFrame:
    """Best business-unit tag per distinct (tag set, usage_date): lowest key priority wins.

    Tag sets repeat across many lines (one per workload), so matching distinct sets is far cheaper than
    exploding every line's tags.
    """
    entries = (
        lines.select(F.col(tags_column).alias("_tags"), "usage_date")
        .distinct()
        .select("_tags", "usage_date", F.explode(F.from_json("_tags", _TAG_ENTRIES)).alias("_e"))
        .select(
            "_tags",
            "usage_date",
            key_form(F.col("_e").getField("key")).alias("tag_key"),
            normalised(F.col("_e").getField("value")).alias("tag_value"),
        )
    )
    matched = (
        entries.join(F.broadcast(key_priorities), "tag_key")
        .join(F.broadcast(value_rules.withColumnRenamed("business_unit", "_unit")), "tag_value")
        .where(_valid(F.col("usage_date"), ""))
    )
    best = Window.partitionBy("_tags", "usage_date").orderBy("priority", "_unit")
    return (
        matched.withColumn("_rank", F.row_number().over(best))
        .where(F.col("_rank") == 1)
        .select(
            F.col("_tags").alias(tags_column),
            "usage_date",
            F.col("_unit"),
            F.concat_ws("=", "tag_key", "tag_value").alias("_key"),
        )
    )


def attribute(lines: DataFrame, config: Config) -> DataFrame:
    """Add business_unit, attribution_method, attribution_confidence and attribution_key to usage lines."""
    spark = lines.sparkSession
    rules = config.attribution
    key_priorities = spark.createDataFrame(
        [(key.replace("-", ""), i) for i, key in enumerate(rules.tag_keys)], "tag_key string, priority int"
    )
    value_rules = tag_value_rules(spark, config)
    day = F.col("usage_date")

    by_tag = match_tags(lines, "tags_json", value_rules, key_priorities)
    by_pipeline = match_tags(
        lines.where(F.col("workload_type") == "pipeline"), "pipeline_tags_json", value_rules, key_priorities
    )
    policies = _rules(
        spark,
        [(r.policy_id, r.business_unit, r.valid_from, r.valid_to) for r in rules.budget_policies],
        "rule_key string",
    )
    workloads = _rules(
        spark,
        [(f"{r.workload_type}:{r.workload_id}", r.business_unit, r.valid_from, r.valid_to) for r in rules.workloads],
        "rule_key string",
    )
    identities = _rules(
        spark, [(r.identity, r.business_unit, r.valid_from, r.valid_to) for r in rules.identities], "rule_key string"
    )
    workspaces = _rules(
        spark,
        [(r.workspace_id, r.business_unit, r.valid_from, r.valid_to) for r in rules.workspaces],
        "rule_key string",
    )

    def keyed(rule_df: DataFrame, method: str) -> DataFrame:
        return rule_df.select(
            F.col("rule_key").alias(f"_{method}_key"),
            F.col("business_unit").alias(f"_{method}_unit"),
            F.col("valid_from").alias(f"_{method}_valid_from"),
            F.col("valid_to").alias(f"_{method}_valid_to"),
        )

    out = (
        lines.join(
            by_tag.select(
                "tags_json", "usage_date", F.col("_unit").alias("_tag_unit"), F.col("_key").alias("_tag_key")
            ),
            ["tags_json", "usage_date"],
            "left",
        )
        .join(
            by_pipeline.select(
                "pipeline_tags_json",
                "usage_date",
                F.col("_unit").alias("_pipeline_tag_unit"),
                F.col("_key").alias("_pipeline_tag_key"),
            ),
            ["pipeline_tags_json", "usage_date"],
            "left",
        )
        .withColumn("_workload_ref", F.concat_ws(":", "workload_type", "workload_id"))
    )
    for method, rule_df, line_key in (
        ("budget_policy", policies, F.col("policy_id")),
        ("workload", workloads, F.col("_workload_ref")),
        ("identity", identities, F.col("owner_identity")),
        ("workspace", workspaces, F.col("workspace_id")),
    ):
        right = keyed(rule_df, method)
        out = out.join(
            F.broadcast(right), (line_key == F.col(f"_{method}_key")) & _valid(day, f"_{method}_"), "left"
        ).drop(f"_{method}_valid_from", f"_{method}_valid_to")

    unit = F.coalesce(*(F.col(f"_{m}_unit") for m, _ in METHODS), F.lit(UNALLOCATED))
    method_col = F.lit("unallocated")
    confidence = F.lit("none")
    for m, conf in reversed(METHODS):
        present = F.col(f"_{m}_unit").isNotNull()
        method_col = F.when(present, F.lit(m)).otherwise(method_col)
        confidence = F.when(present, F.lit(conf)).otherwise(confidence)
    key = F.lit(None).cast("string")
    for m, _ in reversed(METHODS):
        key = F.when(F.col(f"_{m}_unit").isNotNull(), F.col(f"_{m}_key")).otherwise(key)
    helper_columns = [c for c in out.columns if c.startswith("_")]
    return (
        out.withColumn("business_unit", unit)
        .withColumn("attribution_method", method_col)
        .withColumn("attribution_confidence", confidence)
        .withColumn("attribution_key", key)
        .drop(*helper_columns)
    )
