"""Attribution: which business unit owns each usage line, by which rule, with what confidence.

Precedence (first match wins): business-unit tag (configured keys in priority order) -> serverless budget
policy id -> explicit workload mapping -> pipeline tags from `system.lakeflow.pipelines` (serverless
pipelines leave `custom_tags` empty) -> identity (run_as / owned_by / created_by) -> workspace default ->
UNALLOCATED. Every rule applies only on usage dates inside its [valid_from, valid_to) window, so a reorg
does not rewrite history.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
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


def _in_force(day: Column, valid_from: dt.date, valid_to: dt.date | None) -> Column:
    cond = day >= F.lit(valid_from) if valid_from > _ALWAYS else F.lit(True)
    return cond if valid_to is None else cond & (day < F.lit(valid_to))


def tag_priority(key: Column, tag_keys: tuple[str, ...]) -> Column:
    """Position of a tag key (in `key_form`) among the configured business-unit keys; NULL for other keys."""
    result = F.lit(None).cast("int")
    for i, tag_key in reversed(list(enumerate(tag_keys))):
        result = F.when(key == F.lit(tag_key.replace("-", "")), F.lit(i)).otherwise(result)
    return result


def tag_unit(value: Column, day: Column, config: Config) -> Column:
    """The unit a normalised tag value names on `day`: a unit's own id or name (always), or a dated alias.

    Branches run in unit order, so a value naming two units on one day picks the smallest unit id.
    """
    rules: set[tuple[str, str, dt.date, dt.date | None]] = {
        (normalise(spelling), unit.id, _ALWAYS, None)
        for unit in config.business_units
        for spelling in (unit.id, unit.name)
    }
    rules |= {(r.value, r.business_unit, r.valid_from, r.valid_to) for r in config.attribution.tag_values}
    result = F.lit(None).cast("string")
    for spelling, unit_id, valid_from, valid_to in sorted(rules, key=lambda r: (r[1], r[0], r[2]), reverse=True):
        result = F.when((value == F.lit(spelling)) & _in_force(day, valid_from, valid_to), F.lit(unit_id)).otherwise(
            result
        )
    return result


def best_tag(tags_json: Column, day: Column, config: Config) -> Column:
    """The business-unit tag that attributes a line: struct(priority, unit, key), NULL when none names a unit.

    Lowest key priority wins, then the smallest unit id. Evaluated on each line's own entries with array
    functions, so the lines are never joined back to themselves (a self-join recomputes the netting upstream).
    """

    def keyed(entry: Column) -> Column:
        key = key_form(entry.getField("key"))
        return F.struct(
            tag_priority(key, config.attribution.tag_keys).alias("priority"),
            key.alias("key"),
            normalised(entry.getField("value")).alias("value"),
        )

    def candidate(entry: Column) -> Column:
        return F.struct(
            entry.getField("priority").alias("priority"),
            tag_unit(entry.getField("value"), day, config).alias("unit"),
            F.concat_ws("=", entry.getField("key"), entry.getField("value")).alias("key"),
        )

    # Values are looked up only for business-unit keys: most tags (env, project, ...) are not.
    unit_tags = F.filter(
        F.transform(F.from_json(tags_json, _TAG_ENTRIES), keyed), lambda e: e.getField("priority").isNotNull()
    )
    candidates = F.filter(F.transform(unit_tags, candidate), lambda c: c.getField("unit").isNotNull())
    # The smallest candidate; sorting is several times faster than array_min on structs in Sail.
    return F.get(F.sort_array(candidates), 0)


def attribute(lines: DataFrame, config: Config) -> DataFrame:
    """Add business_unit, attribution_method, attribution_confidence and attribution_key to usage lines."""
    spark = lines.sparkSession
    rules = config.attribution
    day = F.col("usage_date")
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

    pipeline_tag = F.when(F.col("workload_type") == "pipeline", best_tag(F.col("pipeline_tags_json"), day, config))
    out = (
        lines.withColumn("_tag", best_tag(F.col("tags_json"), day, config))
        .withColumn("_pipeline_tag", pipeline_tag)
        .withColumn("_workload_ref", F.concat_ws(":", "workload_type", "workload_id"))
    )
    for method in ("tag", "pipeline_tag"):
        out = out.withColumn(f"_{method}_unit", F.col(f"_{method}").getField("unit")).withColumn(
            f"_{method}_key", F.col(f"_{method}").getField("key")
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
