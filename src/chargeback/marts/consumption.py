"""Consumption-based chargeback of shared SQL warehouses: each billed hour split by who used it.

Grain of `compute_consumption_hourly`: billed hour x workspace x warehouse x identity (the statement's
`executed_by`), plus idle rows. The rule (DESIGN §4):

* a statement's `total_task_duration_ms` counts in each clock hour its wall-clock interval `[start_time, end_time)`
  overlaps, in proportion to the overlap (an `end_time` exactly on the hour adds nothing to the next hour; a
  statement with no `end_time`, or none after its start, counts whole in the hour it started);
* an identity's share of an hour's billed cost is its task time in the hour over all task time in the hour;
* the rows of an hour sum exactly to the hour's billed cost (list and effective): shares are truncated toward zero
  at 10 decimals and the remainder goes to the identity with the most task time (ties: the smallest identity, NULL
  last), as `allocation` does for pools;
* a billed hour with no task time (idle: auto-stop tails, gaps, cached results) follows an `IdleRule`: spread over
  the identities of that warehouse-day in proportion to their task time that day, charged to a named business unit,
  or kept as one visible row with identity NULL.

A billed hour is the hour its usage line starts in (warehouse usage is billed per hour); hours are UTC and computed
from epoch microseconds, so the session time zone does not matter. Every hour and day is computed from that hour's or
day's rows only, so a day's split never depends on the report window, provided `queries` holds every statement that
overlaps it (statements run at most 48 hours: read query history from two days before the window, see
`query_window`). Statements in hours with no bill yet (billing lags query history) carry no cost; their task time
still counts in their day for the `spread` idle rule.

Business units are resolved here from an identity -> unit mapping (effective-dated like the config's identity
rules, see `identity_units`); an identity the mapping does not name, a NULL identity and a kept idle hour are
`UNALLOCATED`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, IdentityRule
from chargeback.contracts.cost_tables import TASK_MS
from chargeback.errors import InputError
from chargeback.money import MONEY, RATIO, money, ratio_of, share_toward_zero, times_ratio
from chargeback.steps.validity import in_force_on

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
# Statements time out after 48 hours by default (STATEMENT_TIMEOUT): a window's statements start at most that early.
QUERY_LOOKBACK = dt.timedelta(days=2)
_AMOUNT = "decimal(34,10)"  # an hour's cost: |amount| < 10^24 (money.AMOUNT_LIMIT)

IDLE_METHODS = ("spread", "unit", "keep")
# allocation_basis values: how a row's share was found.
CONSUMPTION, IDLE_SPREAD, IDLE_UNIT, IDLE_KEPT = "consumption", "idle_spread", "idle_unit", "idle_kept"


@dataclass(frozen=True)
class IdleRule:
    """What a billed warehouse hour with no task time is charged to.

    `spread`: the identities that used the warehouse that day, in proportion to their task time that day (a day with
    no task time at all keeps its idle hours as `keep` does); `unit`: the named `business_unit`; `keep`: one row
    with identity NULL, `UNALLOCATED`, so idle cost stays visible.
    """

    method: str
    business_unit: str | None = None

    def __post_init__(self) -> None:
        if self.method not in IDLE_METHODS:
            raise InputError(f"idle rule: method {self.method!r} must be one of {', '.join(IDLE_METHODS)}")
        if (self.method == "unit") != (self.business_unit is not None):
            raise InputError("idle rule: a business_unit is required by method 'unit' and allowed only there")


_HOUR = ("workspace_id", "warehouse_id", "usage_hour")


def _micros(ts: str | Column) -> Column:
    return F.unix_micros(F.col(ts) if isinstance(ts, str) else ts)


def _floor_to(us: Column, unit: int) -> Column:
    return us - F.pmod(us, F.lit(unit))


def _utc_date(hour_us: Column) -> Column:
    return F.date_from_unix_date((_floor_to(hour_us, US_PER_DAY) / F.lit(US_PER_DAY)).cast("int"))


def stage_queries(history: DataFrame) -> DataFrame:
    """Warehouse statements of `system.query.history`: workspace_id, warehouse_id, statement_id, identity
    (`executed_by`), start_time, end_time and task_duration_ms (`total_task_duration_ms`, NULL as 0).

    Every execution status counts (failed and cancelled statements used the warehouse too); statements on serverless
    or classic compute (no `compute.warehouse_id`) are left out.
    """
    warehouse = F.col("compute").getField("warehouse_id")
    return history.where(warehouse.isNotNull()).select(
        "workspace_id",
        warehouse.alias("warehouse_id"),
        "statement_id",
        F.col("executed_by").alias("identity"),
        "start_time",
        "end_time",
        F.coalesce(F.col("total_task_duration_ms"), F.lit(0)).cast("bigint").alias("task_duration_ms"),
    )


def query_window(history: DataFrame, start_date: dt.date, end_date: dt.date) -> DataFrame:
    """Statements that can overlap [start_date, end_date]: started from `QUERY_LOOKBACK` before to the end."""
    first = dt.datetime.combine(start_date - QUERY_LOOKBACK, dt.time())
    after = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time())
    return history.where((F.col("start_time") >= F.lit(first)) & (F.col("start_time") < F.lit(after)))


def warehouse_lines(usage_costs: DataFrame, warehouse_ids: Sequence[str] | None = None) -> DataFrame:
    """Priced usage lines (silver `usage_costs`) of SQL warehouses, optionally only the given (shared) ones:
    workspace_id, warehouse_id, usage_start_time, list_cost, effective_cost, currency_code."""
    lines = usage_costs.where(
        (F.col("workload_type") == "warehouse") & (F.col("billing_origin_product") == "SQL")
    ).withColumn("warehouse_id", F.col("workload_id"))
    if warehouse_ids is not None:
        lines = lines.where(F.col("warehouse_id").isin(list(warehouse_ids)))
    return lines.select(
        "workspace_id", "warehouse_id", "usage_start_time", "list_cost", "effective_cost", "currency_code"
    )


def identity_units(spark: SparkSession, rules: Sequence[IdentityRule]) -> DataFrame:
    """The config's identity rules as the mapping `consumption_hourly` takes: identity, business_unit, valid_from,
    valid_to (exclusive, NULL = open)."""
    return spark.createDataFrame(
        [(r.identity, r.business_unit, r.valid_from, r.valid_to) for r in rules],
        "identity string, business_unit string, valid_from date, valid_to date",
    )


def billed_hours(warehouse_usage_lines: DataFrame) -> DataFrame:
    """The bill of each warehouse hour: lines summed by the hour their usage starts in."""
    start = _micros("usage_start_time")
    return (
        warehouse_usage_lines.where(F.col("warehouse_id").isNotNull())
        .withColumn("usage_hour", F.timestamp_micros(_floor_to(start, US_PER_HOUR)))
        .groupBy(*_HOUR, "currency_code")
        .agg(money(F.sum("list_cost")).alias("hour_list_cost"), money(F.sum("effective_cost")).alias("hour_cost"))
    )


def query_hour_slices(queries: DataFrame) -> DataFrame:
    """Each statement with task time, cut at clock hours: workspace_id, warehouse_id, usage_hour, identity,
    statement_id and task_ms (its task time times the share of its wall-clock interval inside the hour)."""
    start, end, hour = F.col("_start_us"), F.col("_end_us"), F.col("_hour_us")
    ends_after = F.col("_ends_after")
    first_hour = _floor_to(start, US_PER_HOUR)
    last_hour = F.when(ends_after, _floor_to(end - F.lit(1), US_PER_HOUR)).otherwise(first_hour)
    # Operands are guarded and kept as columns (engine: case-evaluates-every-branch) (no division by zero in the
    # other branch), and the money functions refer to their operands many times (a column, not a copied tree).
    overlap = F.least(end, hour + F.lit(US_PER_HOUR)) - F.greatest(start, hour)
    return (
        queries.where(F.col("task_duration_ms") > 0)
        .withColumn("_start_us", _micros("start_time"))
        .withColumn("_end_us", _micros("end_time"))
        .withColumn("_ends_after", F.coalesce(end > start, F.lit(False)))
        .withColumn("_hour_us", F.explode(F.sequence(first_hour, last_hour, F.lit(US_PER_HOUR))))
        .withColumn("_overlap", F.when(ends_after, overlap).otherwise(F.lit(1)))
        .withColumn("_duration", F.when(ends_after, end - start).otherwise(F.lit(1)))
        .withColumn("_fraction", ratio_of(F.col("_overlap"), F.col("_duration")))
        .select(
            "workspace_id",
            "warehouse_id",
            F.timestamp_micros(hour).alias("usage_hour"),
            "identity",
            "statement_id",
            times_ratio(F.col("task_duration_ms"), F.col("_fraction")).alias("task_ms"),
        )
    )


def _split(rows: DataFrame, group: Sequence[str], weight: str, order: Sequence[Column]) -> DataFrame:
    """Add share_of_hour, list_cost and effective_cost: the group's hour cost split by `weight`, exactly.

    Shares are truncated toward zero; the group's remainder goes to its first row in `order`.
    """
    window = Window.partitionBy(*group)
    owner = F.row_number().over(Window.partitionBy(*group).orderBy(*order)) == 1
    split = (
        rows.withColumn("_total", F.sum(weight).over(window))
        .withColumn("share_of_hour", ratio_of(F.col(weight), F.col("_total")))
        .withColumn("_list", share_toward_zero(F.col("hour_list_cost"), F.col("share_of_hour")))
        .withColumn("_cost", share_toward_zero(F.col("hour_cost"), F.col("share_of_hour")))
        .withColumn("_owner", owner)
    )

    def exact(share: str, total: str) -> Column:
        # Bounded operands: DECIMAL(38,10) + DECIMAL(38,10) makes Spark drop decimals (38 digits at most).
        residual = (F.col(total).cast(_AMOUNT) - F.sum(share).over(window).cast(_AMOUNT)).cast(_AMOUNT)
        return money(F.col(share).cast(_AMOUNT) + F.when(F.col("_owner"), residual).otherwise(F.lit(0).cast(_AMOUNT)))

    return split.select(
        *rows.columns,
        "share_of_hour",
        exact("_list", "hour_list_cost").alias("list_cost"),
        exact("_cost", "hour_cost").alias("effective_cost"),
    )


def _with_units(rows: DataFrame, units: DataFrame | None) -> DataFrame:
    """business_unit from the identity mapping valid on the row's date; rows that carry one keep it."""
    if units is None:
        return rows.withColumn("business_unit", F.coalesce(F.col("business_unit"), F.lit(UNALLOCATED)))
    mapping = units.select(
        F.col("identity").alias("_identity"),
        F.col("business_unit").alias("_unit"),
        F.col("valid_from").alias("_from"),
        F.col("valid_to").alias("_to"),
    )
    day = F.col("usage_date")
    valid = in_force_on(day, F.col("_from"), F.col("_to"))
    joined = rows.join(F.broadcast(mapping), (F.col("identity") == F.col("_identity")) & valid, "left")
    return joined.withColumn("business_unit", F.coalesce(F.col("business_unit"), F.col("_unit"), F.lit(UNALLOCATED)))


def _busy_rows(hours: DataFrame, used: DataFrame) -> DataFrame:
    """The billed hours with task time split by each identity's task time in the hour."""
    by_task = [F.col("task_ms").desc(), F.col("identity").asc_nulls_last()]
    return _split(
        hours.where(~F.col("is_idle")).join(used.where(F.col("task_ms") > 0), list(_HOUR)),
        _HOUR,
        "task_ms",
        by_task,
    ).withColumn("allocation_basis", F.lit(CONSUMPTION))


def _spread_idle(idle: DataFrame, slices: DataFrame) -> DataFrame:
    """Idle hours split by the identities' task time that warehouse-day; a day without task time keeps them whole."""
    day_of_slice = _utc_date(_micros("usage_hour"))
    daily = (
        slices.withColumn("usage_date", day_of_slice)
        .groupBy("workspace_id", "warehouse_id", "usage_date", "identity")
        .agg(money(F.sum("task_ms")).alias("day_task_ms"))
        .where(F.col("day_task_ms") > 0)
    )
    spread_rows = idle.join(daily, ["workspace_id", "warehouse_id", "usage_date"])
    spread = _split(
        spread_rows, _HOUR, "day_task_ms", [F.col("day_task_ms").desc(), F.col("identity").asc_nulls_last()]
    ).withColumn("allocation_basis", F.lit(IDLE_SPREAD))
    used_days = daily.select("workspace_id", "warehouse_id", "usage_date").distinct()
    unspread = idle.join(used_days, ["workspace_id", "warehouse_id", "usage_date"], "left_anti")
    return spread.unionByName(_whole(unspread, IDLE_KEPT, UNALLOCATED), allowMissingColumns=True)


def _idle_rows(hours: DataFrame, slices: DataFrame, idle_rule: IdleRule) -> DataFrame:
    """The billed hours without task time, charged as `idle_rule` says."""
    idle = hours.where(F.col("is_idle")).withColumn("task_ms", F.lit(0).cast(MONEY))
    idle = idle.withColumn("query_count", F.lit(0).cast("bigint"))
    if idle_rule.method == "spread":
        return _spread_idle(idle, slices)
    if idle_rule.method == "unit":
        return _whole(idle, IDLE_UNIT, idle_rule.business_unit)
    return _whole(idle, IDLE_KEPT, UNALLOCATED)


def consumption_hourly(
    warehouse_usage_lines: DataFrame,
    queries: DataFrame,
    idle_rule: IdleRule,
    identity_units: DataFrame | None,
    run_id: str,
) -> DataFrame:
    """`compute_consumption_hourly`: every billed warehouse hour split by statement task time (module docstring).

    Args:
        warehouse_usage_lines: priced usage lines of the warehouses to split (`warehouse_lines`): workspace_id,
            warehouse_id, usage_start_time, list_cost, effective_cost, currency_code.
        queries: statements (`stage_queries`): workspace_id, warehouse_id, statement_id, identity, start_time,
            end_time, task_duration_ms; every statement overlapping the billed hours (`query_window`).
        idle_rule: what hours with no task time are charged to.
        identity_units: identity, business_unit, valid_from, valid_to (`identity_units`), or None (UNALLOCATED).
        run_id: the pipeline run writing the rows.
    """
    hours = billed_hours(warehouse_usage_lines).withColumn("usage_date", _utc_date(_micros("usage_hour")))
    slices = query_hour_slices(queries)
    used = slices.groupBy(*_HOUR, "identity").agg(
        money(F.sum("task_ms")).alias("task_ms"), F.count(F.lit(1)).cast("bigint").alias("query_count")
    )
    hour_task = used.groupBy(*_HOUR).agg(money(F.sum("task_ms")).alias("hour_task_ms"))
    hours = hours.join(hour_task, list(_HOUR), "left").withColumn(
        "is_idle", F.coalesce(F.col("hour_task_ms"), F.lit(0)) <= 0
    )
    busy = _busy_rows(hours, used)
    idle_rows = _idle_rows(hours, slices, idle_rule)

    rows = busy.withColumn("business_unit", F.lit(None).cast("string")).unionByName(idle_rows, allowMissingColumns=True)
    return _with_units(rows, identity_units).select(
        "usage_hour",
        "usage_date",
        "workspace_id",
        "warehouse_id",
        F.col("identity").cast("string").alias("identity"),
        "is_idle",
        "allocation_basis",
        "business_unit",
        F.round(F.col("task_ms"), 3).cast(TASK_MS).alias("task_duration_ms"),
        "query_count",
        F.col("share_of_hour").cast(RATIO).alias("share_of_hour"),
        money(F.col("list_cost")).alias("list_cost"),
        money(F.col("effective_cost")).alias("effective_cost"),
        "currency_code",
        F.lit(run_id).alias("run_id"),
    )


def _whole(hours: DataFrame, basis: str, unit: str | None) -> DataFrame:
    """One row per idle hour carrying its whole cost, identity NULL."""
    return hours.select(
        *_HOUR,
        "usage_date",
        "currency_code",
        "is_idle",
        "task_ms",
        "query_count",
        F.lit(None).cast("string").alias("identity"),
        F.lit(1).cast(RATIO).alias("share_of_hour"),
        F.col("hour_list_cost").alias("list_cost"),
        F.col("hour_cost").alias("effective_cost"),
        F.lit(basis).alias("allocation_basis"),
        F.lit(unit).cast("string").alias("business_unit"),
    )
