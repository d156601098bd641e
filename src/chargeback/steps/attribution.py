"""Attribution: which business unit owns each usage line, by which rule, with what confidence.

Precedence (first match wins): business-unit tag (configured keys in priority order) -> serverless budget
policy id -> explicit workload mapping -> pipeline tags from `system.lakeflow.pipelines` (serverless
pipelines leave `custom_tags` empty) -> identity (run_as / owned_by / created_by) -> workspace default ->
UNALLOCATED. Every rule applies only on usage dates inside its [valid_from, valid_to) window, so a reorg
does not rewrite history.

The config is data, not code: each kind of rule is a small DataFrame (the tag values are matched to the
distinct tag sets, the other rules joined to the lines), so the query plan has the same size for 5 business
units as for 5,000 (a CASE branch per unit or alias, as before, nested one level deeper each and broke Spark
Connect's protobuf nesting limit at about 20 units).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
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
from chargeback.steps.usage import tags_json
from chargeback.steps.validity import in_force_on
from chargeback.steps.workloads import pipeline_tags_json

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
# A unit a candidate names, and when; `code` orders them (among the periods in force on a day, one per code).
_PERIOD = "struct<code:bigint,source:int,unit:string,tag_key:string,valid_from:date,valid_to:date>"
_TAG, _PIPELINE_TAG = 0, 1  # where a business-unit tag comes from: the usage's own tags or its pipeline's
_LOOKUPS = (("_own", _TAG), ("_pipeline", _PIPELINE_TAG))  # a line's candidate columns, by source
_MAX_CODE = 2**62


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
    in `key_form` and the value normalised, each once (entries alike after normalising, `team: ML` and
    `Team: ml`, would tie on every order). Needs `_keys`, the keys in priority order."""

    def entry(e: Column) -> Column:
        key = key_form(e.getField("key"))
        return F.struct(
            F.lit(source).alias("source"),
            (F.array_position(F.col("_keys"), key) - 1).cast("int").alias("priority"),
            key.alias("key"),
            normalised(e.getField("value")).alias("value"),
        ).cast(_CANDIDATE)

    entries = F.coalesce(F.from_json(tags_json, _TAG_ENTRIES), F.from_json(F.lit("[]"), _TAG_ENTRIES))
    return F.array_distinct(F.filter(F.transform(entries, entry), lambda c: c.getField("priority") >= 0))


@dataclass(frozen=True)
class TagSets:
    """The tag sets (`tags_json`) the lines to attribute may carry: their own tags' and their pipelines'.

    Business-unit tags are chosen once per distinct set of candidates (few: the business-unit entries of the tag
    sets), not once per line; a line whose candidates are not among those of these sets fails the run.
    """

    own: DataFrame
    pipeline: DataFrame

    @classmethod
    def of_lines(cls, lines: DataFrame) -> TagSets:
        """The tag sets of `lines` themselves: right for any lines, but computes `lines` once more."""
        return cls(lines.select("tags_json"), lines.select(F.col("pipeline_tags_json").alias("tags_json")))

    @classmethod
    def of_records(cls, records: DataFrame, pipelines: DataFrame) -> TagSets:
        """The tag sets of raw usage `records` and of `pipelines` (`system.lakeflow.pipelines`): what the lines
        netted from those records, named from those pipelines, carry; read from the sources, not the lines."""
        own = records.select(F.map_entries("custom_tags").alias("_entries")).distinct()
        return cls(
            own.select(tags_json(F.col("_entries")).alias("tags_json")),
            pipelines.select(pipeline_tags_json(pipelines).alias("tags_json")),
        )


def _choices(
    tag_sets: TagSets, keys: DataFrame, values: DataFrame, rank: Callable[[Column], Column]
) -> dict[int, DataFrame]:
    """By source (own tags, pipeline tags), per distinct non-empty candidate array of its tag sets (`_cands`,
    JSON): `_periods`, each unit a candidate names, the period it names it in and its `code` (empty when none
    names a unit). Collected: it is small (a row per distinct set of business-unit tag entries, whatever else the
    tags hold), and a frame of known size is what the engine broadcasts (engine: broadcast-known-size)."""
    sources = ((tag_sets.own, _TAG), (tag_sets.pipeline, _PIPELINE_TAG))
    cands = reduce(
        DataFrame.unionByName,
        (
            keys.crossJoin(sets).select(
                F.lit(source).alias("_source"), _candidates(F.col("tags_json"), source).alias("_c")
            )
            for sets, source in sources
        ),
    )
    c = F.col("_c")
    matched = (
        cands.select("_source", F.to_json("_c").alias("_cands"), "_c")
        .distinct()
        # Not outer, so a tag set without candidates has no row; not filtered on size (engine: filter-into-cross-join).
        .select("_source", "_cands", F.explode("_c").alias("_c"))
        .join(F.broadcast(values), c.getField("value") == F.col("_t_value"), "left")
    )
    period = F.struct(
        rank(c).alias("code"),
        c.getField("source").alias("source"),
        F.col("_t_unit").alias("unit"),
        F.concat_ws("=", c.getField("key"), c.getField("value")).alias("tag_key"),
        F.col("_t_from").alias("valid_from"),
        F.col("_t_to").alias("valid_to"),
    ).cast(_PERIOD)
    # collect_list skips the NULLs of candidates that name no unit.
    periods = F.collect_list(F.when(F.col("_t_unit").isNotNull(), period))
    rows = matched.groupBy("_source", "_cands").agg(periods).collect()
    return {
        source: keys.sparkSession.createDataFrame(
            [r[1:] for r in rows if r[0] == source], f"_cands string, _periods array<{_PERIOD}>"
        )
        for _, source in sources
    }


def _lower_code(best: Column, period: Column) -> Column:
    # A fold on the code, not array_min of the structs (engine: slow-struct-min).
    return F.when(best.isNull() | (period.getField("code") < best.getField("code")), period).otherwise(best)


def best_tags(lines: DataFrame, config: Config, tag_sets: TagSets | None = None) -> DataFrame:
    """Add `_tag_unit`/`_tag_key` and `_pipeline_tag_unit`/`_pipeline_tag_key`: the business-unit tag that
    attributes each line, NULL when none names a unit (pipeline tags only count when no own tag does).

    Lowest key priority wins, then the smallest unit id, then the smaller `key=value`. The candidates of each
    distinct tag set of `tag_sets` (default: the lines') are matched to the tag values once; each line then looks
    its candidates up (a broadcast join per source) and keeps the best one in force on its day. No row of the
    lines is joined back to them: a self-join would compute the netting upstream again.
    """
    spark = lines.sparkSession
    columns = lines.columns
    tag_sets = tag_sets or TagSets.of_lines(lines)
    key_list = tag_keys(config)
    keys = spark.createDataFrame([(key_list,)], "_keys array<string>")
    values, orders = tag_value_table(spark, config)
    priorities = max(len(key_list), 1)
    if 2 * priorities * orders >= _MAX_CODE:
        raise ValueError(f"{priorities} tag keys x {orders} tag values and units are too many to rank")

    def rank(c: Column) -> Column:
        # The candidate order as one number (cheap to compare): source, key priority, then unit id and value.
        source_priority = c.getField("source").cast("long") * priorities + c.getField("priority")
        return source_priority * orders + F.col("_t_order")

    line_tags = {
        _TAG: F.col("tags_json"),
        _PIPELINE_TAG: F.when(F.col("workload_type") == "pipeline", F.col("pipeline_tags_json")),
    }
    # The one-row frame on the left, so the lines stream (engine: cross-join-left-side).
    looked_up = keys.crossJoin(lines).select(
        *columns, *(F.to_json(_candidates(line_tags[source], source)).alias(name) for name, source in _LOOKUPS)
    )
    choices = _choices(tag_sets, keys, values, rank)
    for name, source in _LOOKUPS:
        named = choices[source].select(
            F.col("_cands").alias(f"{name}_cands"), F.col("_periods").alias(f"{name}_periods")
        )
        looked_up = looked_up.join(F.broadcast(named), F.col(name) == F.col(f"{name}_cands"), "left")
    missing = reduce(
        operator.or_,
        ((F.col(name) != "[]") & F.col(f"{name}_cands").isNull() for name, _ in _LOOKUPS),
    )
    periods = F.concat(
        *(F.coalesce(F.col(f"{name}_periods"), F.array().cast(f"array<{_PERIOD}>")) for name, _ in _LOOKUPS)
    )
    in_force = F.filter(
        periods, lambda p: in_force_on(F.col("usage_date"), p.getField("valid_from"), p.getField("valid_to"))
    )
    # Loud: tag sets read from the sources lack a line's when a source changed between two reads of one step (run
    # again) or a caller passed the wrong sets. Both engines evaluate the THEN branch only on rows it selects: were
    # it evaluated on every row, every test with a tagged line would fail, not pass.
    best = F.when(
        missing,
        F.raise_error(
            F.lit("a usage line's tags are not among the tag sets read for it (did a source change during the run?)")
        ),
    ).otherwise(F.aggregate(in_force, F.lit(None).cast(_PERIOD), _lower_code))
    b = F.col("_best")

    def winner(source: int, field: str) -> Column:
        return F.when(b.getField("source") == source, b.getField(field))

    return looked_up.select(*columns, best.alias("_best")).select(
        *columns,
        winner(_TAG, "unit").alias("_tag_unit"),
        winner(_TAG, "tag_key").alias("_tag_key"),
        winner(_PIPELINE_TAG, "unit").alias("_pipeline_tag_unit"),
        winner(_PIPELINE_TAG, "tag_key").alias("_pipeline_tag_key"),
    )


# --- attribution ---------------------------------------------------------------------------------------------


def attribute(lines: DataFrame, config: Config, tag_sets: TagSets | None = None) -> DataFrame:
    """Add business_unit, attribution_method, attribution_confidence and attribution_key to usage lines, whose
    tags are among `tag_sets` (default: their own, computed once more)."""
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
    out = best_tags(lines, config, tag_sets)
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
