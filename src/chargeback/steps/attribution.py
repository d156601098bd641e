"""Attribution: which business unit owns each usage line, by which rule, with what confidence.

Precedence (first match wins): business-unit tag (configured keys in priority order) -> serverless budget
policy id -> explicit workload mapping -> pipeline tags from `system.lakeflow.pipelines` (serverless
pipelines leave `custom_tags` empty) -> identity (run_as / owned_by / created_by) -> workspace default ->
UNALLOCATED. Every rule applies only on usage dates inside its [valid_from, valid_to) window, so a reorg
does not rewrite history.

The config is data, not code: each kind of rule is a small DataFrame the lines are joined to, so the query
plan has the same size for 5 business units as for 5,000 (a CASE branch per unit or alias, as before, nested
one level deeper each and broke Spark Connect's protobuf nesting limit at about 20 units).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from chargeback.config import (
    UNALLOCATED,
    Config,
    IdentityRule,
    PolicyRule,
    WorkloadRule,
    WorkspaceRule,
    normalise,
)
from chargeback.config.model import RULE_PRECEDENCE
from chargeback.steps.validity import in_force_on

# The confidence of each attribution method; the method of the config's `tag_value` rules is `tag`.
_CONFIDENCE = {
    "tag": "high",
    "budget_policy": "high",
    "workload": "high",
    "pipeline_tag": "medium",
    "identity": "medium",
    "workspace": "low",
}
_METHOD_OF_RULE = {"tag_value": "tag"}
ATTRIBUTION_METHODS: tuple[tuple[str, str], ...] = tuple(
    (method, _CONFIDENCE[method])
    for method in (_METHOD_OF_RULE.get(rule, rule) for rule in sorted(RULE_PRECEDENCE, key=RULE_PRECEDENCE.__getitem__))
)
"""(attribution_method, attribution_confidence) in precedence order, the order of `config.model.RULE_PRECEDENCE`."""
_TAG_ENTRIES = "array<struct<key:string,value:string>>"
_CANDIDATE = "struct<source:int,priority:int,key:string,value:string>"
_TAG, _PIPELINE_TAG = 0, 1  # where a business-unit tag comes from: the usage's own tags or its pipeline's
_MAX_CODE = 2**62
# A line's tag candidates are compared over a window of these columns (those present): they hold everything the
# candidates derive from, so lines sharing a window have the same candidates, even two lines with one id.
_CANDIDATE_INPUTS = ("usage_line_id", "usage_date", "tags_json", "pipeline_tags_json", "workload_type")


def normalised(col: Column) -> Column:
    """Lower-case, every run of non-letters/digits -> '-', trimmed: the SQL twin of `config.normalise`."""
    dashed = F.regexp_replace(F.lower(col), r"[^\p{L}\p{N}]+", "-")
    return F.regexp_replace(dashed, r"^-+|-+$", "")


def key_form(col: Column) -> Column:
    """Tag keys compare ignoring case and separators: `BusinessUnit`, `business_unit` and `business-unit` match."""
    return F.regexp_replace(normalised(col), "-", "")


# --- the config as tables ----------------------------------------------------------------------------------


def tag_keys(config: Config) -> list[str]:
    """The business-unit tag keys in `key_form`, highest priority first (a repeated key keeps its first place)."""
    return list(dict.fromkeys(key.replace("-", "") for key in config.attribution.tag_keys))


def tag_value_rows(config: Config) -> list[tuple[str, str, dt.date | None, dt.date | None]]:
    """(normalised value, unit, valid_from, valid_to): each unit's own id and name (always: NULL dates) and the
    dated aliases, with the periods of one (value, unit) merged so that at most one row holds on any day.

    A value naming two units on one day (the config refuses it) attributes to the smaller unit id.
    """
    periods: dict[tuple[str, str], list[tuple[dt.date | None, dt.date | None]]] = {}
    for unit in config.business_units:
        for spelling in {normalise(unit.id), normalise(unit.name)}:
            periods.setdefault((spelling, unit.id), []).append((None, None))
    for rule in config.attribution.tag_values:
        periods.setdefault((rule.value, rule.business_unit), []).append((rule.valid_from, rule.valid_to))
    rows = []
    for (value, unit_id), spans in sorted(periods.items()):
        rows += [(value, unit_id, start, end) for start, end in _merged(spans)]
    return rows


def _merged(spans: list[tuple[dt.date | None, dt.date | None]]) -> list[tuple[dt.date | None, dt.date | None]]:
    """Overlapping or touching [start, end) periods as one; None is unbounded on either side."""
    ordered = sorted(spans, key=lambda s: (s[0] is not None, s[0] or dt.date.min))
    out = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = out[-1]
        if last_end is None or start is None or start <= last_end:
            out[-1] = (last_start, None if last_end is None or end is None else max(last_end, end))
        else:
            out.append((start, end))
    return out


def tag_value_table(spark: SparkSession, config: Config) -> tuple[DataFrame, int]:
    """The tag-value rules as a DataFrame (`_t_value`, `_t_unit`, `_t_from`, `_t_to`, `_t_order`) and the
    number of distinct `_t_order` values.

    `_t_order` ranks rows by (unit id, value), the order in which candidates of one key priority compare.
    """
    rows = tag_value_rows(config)
    units = {unit: i for i, unit in enumerate(sorted({r[1] for r in rows}))}
    values = {value: i for i, value in enumerate(sorted({r[0] for r in rows}))}
    orders = max(len(units), 1) * max(len(values), 1)
    table = spark.createDataFrame(
        [(value, unit, start, end, units[unit] * len(values) + values[value]) for value, unit, start, end in rows],
        "_t_value string, _t_unit string, _t_from date, _t_to date, _t_order long",
    )
    return table, orders


def _rules(spark: SparkSession, method: str, rows: list[tuple[str, str, dt.date, dt.date | None]]) -> DataFrame:
    schema = f"_{method}_key string, _{method}_unit string, _{method}_from date, _{method}_to date"
    return spark.createDataFrame(rows, schema)


def explicit_rules(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """Budget policy, workload ('<type>:<id>'), identity and workspace rules as `_<method>_key` -> `_<method>_unit`
    on [`_<method>_from`, `_<method>_to`). Rules of one key never overlap (the config refuses it)."""
    a = config.attribution
    keyed: dict[str, list[tuple[str, PolicyRule | WorkloadRule | IdentityRule | WorkspaceRule]]] = {
        "budget_policy": [(r.policy_id, r) for r in a.budget_policies],
        "workload": [(f"{r.workload_type}:{r.workload_id}", r) for r in a.workloads],
        "identity": [(r.identity, r) for r in a.identities],
        "workspace": [(r.workspace_id, r) for r in a.workspaces],
    }
    return {
        method: _rules(spark, method, [(key, r.business_unit, r.valid_from, r.valid_to) for key, r in rules])
        for method, rules in keyed.items()
    }


def _in_force(day: Column, prefix: str) -> Column:
    return in_force_on(day, F.col(f"{prefix}from"), F.col(f"{prefix}to"))


# --- business-unit tags --------------------------------------------------------------------------------------


def _candidates(tags_json: Column, source: int) -> Column:
    """The entries of a tag set whose key is a business-unit key: struct(source, priority, key, value), the key
    in `key_form` and the value normalised. Needs `_keys`, the keys in priority order."""

    def entry(e: Column) -> Column:
        key = key_form(e.getField("key"))
        return F.struct(
            F.lit(source).alias("source"),
            (F.array_position(F.col("_keys"), key) - 1).cast("int").alias("priority"),
            key.alias("key"),
            normalised(e.getField("value")).alias("value"),
        ).cast(_CANDIDATE)

    entries = F.coalesce(F.from_json(tags_json, _TAG_ENTRIES), F.from_json(F.lit("[]"), _TAG_ENTRIES))
    return F.filter(F.transform(entries, entry), lambda c: c.getField("priority") >= 0)


def best_tags(lines: DataFrame, config: Config) -> DataFrame:
    """Add `_tag_unit`/`_tag_key` and `_pipeline_tag_unit`/`_pipeline_tag_key`: the business-unit tag that
    attributes each line, NULL when none names a unit (pipeline tags only count when no own tag does).

    Lowest key priority wins, then the smallest unit id, then the smaller `key=value`. Each line is exploded into
    its business-unit tag entries (usually one), joined to the tag values, and the best candidate is kept with
    a window over the line: no row of the lines is joined back to them (a self-join would compute the netting
    upstream again).
    """
    spark = lines.sparkSession
    columns = lines.columns
    key_list = tag_keys(config)
    keys = spark.createDataFrame([(key_list,)], "_keys array<string>")
    values, orders = tag_value_table(spark, config)
    priorities = max(len(key_list), 1)
    if 2 * priorities * orders >= _MAX_CODE:
        raise ValueError(f"{priorities} tag keys x {orders} tag values and units are too many to rank")

    pipeline_tags = F.when(F.col("workload_type") == "pipeline", F.col("pipeline_tags_json"))
    exploded = (
        # The one-row frame on the left, so the lines stream (engine: cross-join-left-side).
        keys.crossJoin(lines)
        .withColumn(
            "_candidates",
            # Distinct: entries alike after normalising (`team: ML`, `Team: ml`) would tie on every order.
            F.array_distinct(
                F.concat(_candidates(F.col("tags_json"), _TAG), _candidates(pipeline_tags, _PIPELINE_TAG))
            ),
        )
        .drop("_keys")
        .select("*", F.posexplode_outer("_candidates").alias("_pos", "_c"))
        .drop("_candidates")
    )
    c = F.col("_c")
    matched = exploded.join(
        F.broadcast(values),
        (c.getField("value") == F.col("_t_value")) & _in_force(F.col("usage_date"), "_t_"),
        "left",
    )
    # The candidate order as one number (cheap to compare): source, key priority, then unit id and value.
    rank = c.getField("source").cast("long") * priorities + c.getField("priority")
    code = F.when(F.col("_t_unit").isNotNull(), rank * orders + F.col("_t_order"))
    line = Window.partitionBy(*(col for col in _CANDIDATE_INPUTS if col in columns))
    ranked = matched.withColumn("_code", code).withColumn("_best", F.min("_code").over(line))
    found = F.col("_best").isNotNull()
    # A line keeps the row of its best candidate (codes differ within a line: distinct candidates, and at most one
    # period of a value and unit holds on a day), or its first row when none names a unit.
    keep = (~found & (F.coalesce(F.col("_pos"), F.lit(0)) == 0)) | (F.col("_code") == F.col("_best"))
    tag_key = F.concat_ws("=", c.getField("key"), c.getField("value"))

    def winner(source: int, value: Column) -> Column:
        return F.when(found & (c.getField("source") == source), value)

    return ranked.where(keep).select(
        *columns,
        winner(_TAG, F.col("_t_unit")).alias("_tag_unit"),
        winner(_TAG, tag_key).alias("_tag_key"),
        winner(_PIPELINE_TAG, F.col("_t_unit")).alias("_pipeline_tag_unit"),
        winner(_PIPELINE_TAG, tag_key).alias("_pipeline_tag_key"),
    )


# --- attribution ---------------------------------------------------------------------------------------------


def attribute(lines: DataFrame, config: Config) -> DataFrame:
    """Add business_unit, attribution_method, attribution_confidence and attribution_key to usage lines."""
    spark = lines.sparkSession
    columns = lines.columns
    day = F.col("usage_date")
    workload = F.concat_ws(":", "workload_type", "workload_id")
    line_keys = {
        "budget_policy": F.col("policy_id"),
        "workload": workload,
        "identity": F.col("owner_identity"),
        "workspace": F.col("workspace_id"),
    }
    out = best_tags(lines, config)
    for method, rules in explicit_rules(spark, config).items():
        out = out.join(
            F.broadcast(rules),
            (line_keys[method] == F.col(f"_{method}_key")) & _in_force(day, f"_{method}_"),
            "left",
        ).drop(f"_{method}_from", f"_{method}_to")

    unit = F.coalesce(*(F.col(f"_{m}_unit") for m, _ in ATTRIBUTION_METHODS), F.lit(UNALLOCATED))
    method_col = F.lit("unallocated")
    confidence = F.lit("none")
    key = F.lit(None).cast("string")
    for m, conf in reversed(ATTRIBUTION_METHODS):
        present = F.col(f"_{m}_unit").isNotNull()
        method_col = F.when(present, F.lit(m)).otherwise(method_col)
        confidence = F.when(present, F.lit(conf)).otherwise(confidence)
        key = F.when(present, F.col(f"_{m}_key")).otherwise(key)
    return out.select(
        *columns,
        unit.alias("business_unit"),
        method_col.alias("attribution_method"),
        confidence.alias("attribution_confidence"),
        key.alias("attribution_key"),
    )
