"""Gold `cost_anomalies_daily`: daily cost of each business unit and of the largest workloads against a robust
baseline, with a reason when it is anomalous.

Series are built from `usage_costs` lines (cost as attributed, before shared-cost pools), zero-filled for days
without cost. For each day scored, the baseline is the trailing `window_days` days before it (the day itself
excluded): their median and MAD (median absolute deviation). The score is a robust z-score,
`(cost - median) / scale` with `scale = max(1.4826 x MAD, 5% of the median, 0.01)` (1.4826 makes MAD estimate
a standard deviation for normal noise; the other two terms keep a flat series from scoring infinity). The
score is DECIMAL with 6 decimals, computed from the DECIMAL amounts without passing through a float.

A day is scored only with at least `min_history_days` of history in the input. Reasons, first match wins:

* `new workload`: a workload with no cost in the whole baseline costs at least `floor` today;
* `attribution dropped` (business units): the unit's cost attributed by a business-unit tag falls below half
  its baseline median (itself at least `floor`), while the account's cost attributed by other rules or left
  unallocated rises by at least half of what the unit lost: the cost moved, it did not stop;
* `spike`: score >= `score_threshold` and cost - median >= `floor`.

`floor` is an absolute amount in the chargeback currency so that tiny series never alert. The defaults are
`AnomalySettings()`; a run can pass others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.contracts.insight_tables import COST_ANOMALIES_DAILY, SCORE
from chargeback.money import MONEY, money, plus, times_ratio

UNIT, WORKLOAD = "business_unit", "workload"
REASONS = ("new workload", "attribution dropped", "spike")


@dataclass(frozen=True)
class AnomalySettings:
    window_days: int = 28
    min_history_days: int = 14
    score_threshold: Decimal = Decimal("3.5")
    floor: Decimal = Decimal(100)
    top_workloads: int = 50


def _zero() -> Column:
    return F.lit(0).cast(MONEY)


def _zero_filled(series: DataFrame, keys: list[str], values: list[str], first: dt.date, last: dt.date) -> DataFrame:
    """Every key on every day of [first, last], absent days at zero."""
    days = series.sparkSession.range(1).select(F.explode(F.sequence(F.lit(first), F.lit(last))).alias("usage_date"))
    grid = series.select(*keys).distinct().crossJoin(days)
    filled = grid.join(series, [*keys, "usage_date"], "left")
    return filled.select(*keys, "usage_date", *(F.coalesce(F.col(v), _zero()).alias(v) for v in values))


def _median(rows: DataFrame, group: list[str], value: str, alias: str) -> DataFrame:
    """Exact median of `value` per `group` (mean of the two middle values for an even count), in DECIMAL."""
    ordered = Window.partitionBy(*group).orderBy(F.col(value))
    n = F.count(F.lit(1)).over(Window.partitionBy(*group))
    ranked = rows.withColumn("_rn", F.row_number().over(ordered)).withColumn("_n", n)
    low, high = F.floor((F.col("_n") + 1) / 2), F.floor((F.col("_n") + 2) / 2)
    middle = plus(
        F.when(F.col("_rn") == low, F.col(value)).otherwise(_zero()),
        F.when(F.col("_rn") == high, F.col(value)).otherwise(_zero()),
    )
    return ranked.groupBy(*group).agg(
        times_ratio(money(F.sum(middle)), F.lit(Decimal("0.5"))).alias(alias),
        F.max("_n").cast("int").alias(f"{alias}_days"),
    )


def _materialised(df: DataFrame) -> DataFrame:
    """`df` computed once and held as a local relation.

    The daily series are small (keys x days) and each is read several times below; as plans, every read would
    aggregate the usage lines again.
    """
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def trailing_baseline(
    grid: DataFrame, keys: list[str], value: str, window_days: int, scored: tuple[dt.date, dt.date]
) -> DataFrame:
    """Per key and day in `scored`: median and MAD of `value` over the `window_days` days before it, and the
    history total. `grid` holds the history too."""
    history = grid.select(*keys, F.col("usage_date").alias("_day"), F.col(value).alias("_v"))
    days = grid.where(F.col("usage_date").between(F.lit(scored[0]), F.lit(scored[1])))
    pairs = (
        days.select(*keys, "usage_date")
        .join(history, keys)
        .where((F.col("_day") < F.col("usage_date")) & (F.col("_day") >= F.date_sub(F.col("usage_date"), window_days)))
    )
    group = [*keys, "usage_date"]
    median = _median(pairs, group, "_v", f"{value}_median")
    deviations = pairs.join(median, group).withColumn("_dev", F.abs(plus(F.col("_v"), -F.col(f"{value}_median"))))
    mad = _median(deviations, group, "_dev", f"{value}_mad").drop(f"{value}_mad_days")
    total = pairs.groupBy(*group).agg(money(F.sum(F.abs("_v"))).alias(f"{value}_history"))
    return days.join(median, group, "left").join(mad, group, "left").join(total, group, "left")


def _unit_series(lines: DataFrame) -> DataFrame:
    """Daily cost of each business unit: all of it, attributed by a tag, and not (`untagged`: the account's series
    sums it). Computed once and held: the unit rows, the account's series and the scored days' bounds read it."""
    cost, method = F.col("effective_cost"), F.col("attribution_method")
    return _materialised(
        lines.groupBy("usage_date", "business_unit").agg(
            money(F.sum(cost)).alias("effective_cost"),
            money(F.sum(F.when(method == "tag", cost).otherwise(_zero()))).alias("tagged_cost"),
            money(F.sum(F.when(method != "tag", cost).otherwise(_zero()))).alias("untagged"),
        )
    )


def _workload_series(lines: DataFrame, top: int) -> tuple[DataFrame, DataFrame]:
    """Daily cost of the `top` workloads by total cost, and each one's name and main business unit."""
    by_unit = lines.groupBy("workload_type", "workload_id", "business_unit").agg(
        money(F.sum("effective_cost")).alias("_cost"), F.max("workload_name").alias("workload_name")
    )
    workload = Window.partitionBy("workload_type", "workload_id")
    largest = (
        by_unit.withColumn("_total", F.sum("_cost").over(workload))
        .withColumn("_rank", F.row_number().over(workload.orderBy(F.col("_cost").desc(), "business_unit")))
        .where(F.col("_rank") == 1)
        .orderBy(F.col("_total").desc(), "workload_type", "workload_id")
        .limit(top)
        .select("workload_type", "workload_id", "business_unit", "workload_name")
        .transform(_materialised)
    )
    series = (
        lines.join(largest.select("workload_type", "workload_id"), ["workload_type", "workload_id"])
        .groupBy("usage_date", "workload_type", "workload_id")
        .agg(money(F.sum("effective_cost")).alias("effective_cost"))
        .transform(_materialised)
    )
    return series, largest


def _baseline_columns() -> list[Column]:
    """The cost baseline of `trailing_baseline(..., "effective_cost", ...)` under the table's names."""
    return [
        F.col("effective_cost"),
        F.col("effective_cost_median").alias("baseline_median"),
        F.col("effective_cost_mad").alias("baseline_mad"),
        F.col("effective_cost_median_days").alias("baseline_days"),
        F.col("effective_cost_history").alias("history"),
    ]


def _score(cost: Column, median: Column, mad: Column) -> Column:
    scale = F.greatest(
        times_ratio(mad, F.lit(Decimal("1.4826"))),
        times_ratio(F.abs(median), F.lit(Decimal("0.05"))),
        F.lit(Decimal("0.01")).cast(MONEY),
    )
    # Both factors bounded so that each engine keeps at least 8 decimals of the quotient before the cast.
    return (plus(cost, -median).cast("decimal(30,10)") / scale.cast("decimal(24,10)")).cast(SCORE)


def _unit_rows(
    series: DataFrame, settings: AnomalySettings, first: dt.date, last: dt.date, scored_days: tuple[dt.date, dt.date]
) -> DataFrame:
    """Business-unit rows of `_unit_series`: cost and tagged cost against their baselines, `_dropped` when
    attribution dropped."""
    floor = F.lit(settings.floor).cast(MONEY)
    units = _zero_filled(series, ["business_unit"], ["effective_cost", "tagged_cost"], first, last)
    unit_base = trailing_baseline(units, ["business_unit"], "effective_cost", settings.window_days, scored_days).join(
        trailing_baseline(units, ["business_unit"], "tagged_cost", settings.window_days, scored_days).select(
            "business_unit", "usage_date", "tagged_cost_median"
        ),
        ["business_unit", "usage_date"],
    )
    account = _account_untagged(series, settings, first, last, scored_days)
    lost = plus(F.col("tagged_cost_median"), -F.col("tagged_cost"))
    dropped = (
        (F.col("tagged_cost_median") >= floor)
        & (F.col("tagged_cost") < times_ratio(F.col("tagged_cost_median"), F.lit(Decimal("0.5"))))
        & (plus(F.col("untagged"), -F.col("untagged_median")) >= times_ratio(lost, F.lit(Decimal("0.5"))))
    )
    return unit_base.join(account, "usage_date", "left").select(
        "usage_date",
        F.lit(UNIT).alias("scope"),
        F.col("business_unit").alias("scope_key"),
        "business_unit",
        *(F.lit(None).cast("string").alias(c) for c in ("workload_type", "workload_id", "workload_name")),
        *_baseline_columns(),
        "tagged_cost",
        F.col("tagged_cost_median").alias("baseline_tagged_cost"),
        F.when(dropped, F.lit("attribution dropped")).alias("_dropped"),
    )


def _account_untagged(
    series: DataFrame, settings: AnomalySettings, first: dt.date, last: dt.date, scored_days: tuple[dt.date, dt.date]
) -> DataFrame:
    """The account's daily cost not attributed by a tag (`untagged`, summed over the units of `_unit_series`) and
    its baseline median (`untagged_median`)."""
    untagged = series.groupBy("usage_date").agg(money(F.sum("untagged")).alias("untagged"))
    return trailing_baseline(
        _zero_filled(untagged.withColumn("_all", F.lit(1)), ["_all"], ["untagged"], first, last),
        ["_all"],
        "untagged",
        settings.window_days,
        scored_days,
    ).select("usage_date", "untagged", "untagged_median")


def _workload_rows(
    lines: DataFrame, settings: AnomalySettings, first: dt.date, last: dt.date, scored_days: tuple[dt.date, dt.date]
) -> DataFrame:
    """Rows of the largest workloads: cost against its baseline, with the workload's name and main unit."""
    series, largest = _workload_series(lines, settings.top_workloads)
    keys = ["workload_type", "workload_id"]
    workloads = trailing_baseline(
        _zero_filled(series, keys, ["effective_cost"], first, last),
        keys,
        "effective_cost",
        settings.window_days,
        scored_days,
    )
    return workloads.join(largest, keys).select(
        "usage_date",
        F.lit(WORKLOAD).alias("scope"),
        F.concat_ws(":", "workload_type", "workload_id").alias("scope_key"),
        "business_unit",
        "workload_type",
        "workload_id",
        "workload_name",
        *_baseline_columns(),
        F.lit(None).cast(MONEY).alias("tagged_cost"),
        F.lit(None).cast(MONEY).alias("baseline_tagged_cost"),
        F.lit(None).cast("string").alias("_dropped"),
    )


def cost_anomalies_daily(
    lines: DataFrame,
    start: dt.date,
    end: dt.date,
    currency: str,
    run_id: str,
    settings: AnomalySettings | None = None,
) -> DataFrame:
    """Rows for the days in [start, end] from `usage_costs` lines covering those days and their history."""
    settings = settings or AnomalySettings()
    units = _unit_series(lines)
    bounds = units.agg(F.min("usage_date"), F.max("usage_date")).collect()[0]
    first, last = bounds[0], min(bounds[1], end) if bounds[1] else None
    if first is None or last is None or last < start:
        schema = COST_ANOMALIES_DAILY.ddl_schema(with_comments=False)
        return lines.sparkSession.createDataFrame([], schema)
    floor = F.lit(settings.floor).cast(MONEY)
    scored_from = max(start, first + dt.timedelta(days=settings.min_history_days))

    scored_days = (scored_from, last)
    unit_rows = _unit_rows(units, settings, first, last, scored_days)
    workload_rows = _workload_rows(lines, settings, first, last, scored_days)

    cost, median = F.col("effective_cost"), F.col("baseline_median")
    score = _score(cost, median, F.col("baseline_mad"))
    reason = (
        F.when((F.col("scope") == WORKLOAD) & (F.col("history") == 0) & (cost >= floor), F.lit("new workload"))
        .when(F.col("_dropped").isNotNull(), F.col("_dropped"))
        .when((F.col("score") >= F.lit(settings.score_threshold)) & (plus(cost, -median) >= floor), F.lit("spike"))
    )
    scored = (
        unit_rows.unionByName(workload_rows)
        .where((F.col("usage_date") >= F.lit(scored_from)) & (F.col("usage_date") <= F.lit(last)))
        .withColumn("score", score)
        .withColumn("reason", reason)
        .where((cost != 0) | (median != 0) | F.col("reason").isNotNull())
    )
    return (
        scored.withColumn("is_anomaly", F.col("reason").isNotNull())
        .withColumn("floor", floor)
        .withColumn("currency_code", F.lit(currency))
        .withColumn("run_id", F.lit(run_id))
        .select(*COST_ANOMALIES_DAILY.column_names)
    )
