"""Shared SQL warehouses split by consumption: each billed hour divided by who used it (pool method `consumption`).

The rule (DESIGN §4):

* a statement's `total_task_duration_ms` counts in each clock hour its wall-clock interval `[start_time, end_time)`
  overlaps, in proportion to the overlap (an `end_time` exactly on the hour adds nothing to the next hour; a
  statement with no `end_time`, or none after its start, counts whole in the hour it started);
* an identity's share of an hour's billed cost is its task time in the hour over all task time in the hour;
* the shares of each bill of an hour (a pool's lines of one SKU in that hour) sum exactly to it (list and
  effective): shares are truncated toward zero at 10 decimals and the remainder goes to the identity with the most
  task time (ties: the smallest identity, NULL last), as `allocation` does for pools;
* a billed hour with no task time (idle: auto-stop tails, gaps, cached results) follows its pool's `IdleRule`:
  spread over the identities of that warehouse-day in proportion to their task time that day, charged to a named
  business unit, or kept as one visible row with identity NULL.

A billed hour is the hour its usage line starts in (warehouse usage is billed per hour); hours are UTC and computed
from epoch microseconds, so the session time zone does not matter. Every hour and day is computed from that hour's or
day's rows only, so a day's split never depends on the report window, provided `queries` holds every statement that
overlaps it (statements run at most 48 hours: read query history from two days before the window, see
`query_window`). Statements in hours with no bill yet (billing lags query history) carry no cost; their task time
still counts in their day for the `spread` idle rule. A pool line whose warehouse ran no statement is idle: no line
is ever dropped.

Business units come from an identity -> unit mapping (the config's identity rules, effective-dated, see
`identity_units`); an identity the mapping does not name, a NULL identity and a kept idle hour are `UNALLOCATED`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, IdentityRule, SharedPool
from chargeback.money import MONEY, RATIO, money, ratio_of, share_toward_zero, times_ratio, with_remainder
from chargeback.steps.validity import in_force_on

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
# Statements time out after 48 hours by default (STATEMENT_TIMEOUT): a window's statements start at most that early.
QUERY_LOOKBACK = dt.timedelta(days=2)

# allocation_basis values: how a row's share was found.
CONSUMPTION, IDLE_SPREAD, IDLE_UNIT, IDLE_KEPT = "consumption", "idle_spread", "idle_unit", "idle_kept"


_HOUR = ("workspace_id", "warehouse_id", "usage_hour")
# One bill: what a pool's lines of one SKU cost in a warehouse hour, with what names it and the pool's idle rule.
_BILL = (
    *_HOUR,
    "pool_id",
    "billing_origin_product",
    "sku_name",
    "currency_code",
    "warehouse_name",
    "workspace_name",
    "idle_method",
    "idle_unit",
)


def _micros(ts: str | Column) -> Column:
    return F.unix_micros(F.col(ts) if isinstance(ts, str) else ts)


def _floor_to(us: Column, unit: int) -> Column:
    return us - F.pmod(us, F.lit(unit))


def utc_date(us: Column) -> Column:
    """The UTC date of epoch microseconds (independent of the session time zone)."""
    return F.date_from_unix_date((_floor_to(us, US_PER_DAY) / F.lit(US_PER_DAY)).cast("int"))


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
    # Aware bounds: a naive datetime literal is read in the client process's time zone, not the session's.
    first = dt.datetime.combine(start_date - QUERY_LOOKBACK, dt.time(), tzinfo=dt.UTC)
    after = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return history.where((F.col("start_time") >= F.lit(first)) & (F.col("start_time") < F.lit(after)))


def pool_lines(lines: DataFrame, pools: Sequence[SharedPool]) -> DataFrame:
    """The silver lines claimed by the pools split by consumption, with their pool's idle rule (`idle_method`,
    `idle_unit`) and names. A claimed line with no warehouse id (pools may match on more than warehouses) has no
    statement to split it by: it is idle."""
    rules = lines.sparkSession.createDataFrame(
        [(p.id, p.idle.method, p.idle.business_unit) for p in pools if p.idle is not None],
        "_pool string, idle_method string, idle_unit string",
    )
    is_warehouse = F.col("workload_type") == "warehouse"
    return lines.join(F.broadcast(rules), F.col("pool_id") == F.col("_pool")).select(
        "workspace_id",
        "warehouse_id",
        "usage_start_time",
        "pool_id",
        "billing_origin_product",
        "sku_name",
        "currency_code",
        # The name of a warehouse line's workload is the warehouse's; a line typed otherwise is named by its id.
        F.when(is_warehouse, F.col("workload_name")).otherwise(F.col("warehouse_id")).alias("warehouse_name"),
        "workspace_name",
        "idle_method",
        "idle_unit",
        "list_cost",
        "effective_cost",
    )


def identity_units(spark: SparkSession, rules: Sequence[IdentityRule]) -> DataFrame:
    """The config's identity rules as the mapping `consumption_hourly` takes: identity, business_unit, valid_from,
    valid_to (exclusive, NULL = open)."""
    return spark.createDataFrame(
        [(r.identity, r.business_unit, r.valid_from, r.valid_to) for r in rules],
        "identity string, business_unit string, valid_from date, valid_to date",
    )


def billed_hours(lines: DataFrame) -> DataFrame:
    """The bills of each warehouse hour: lines summed by the hour their usage starts in (`_BILL`)."""
    start = _micros("usage_start_time")
    return (
        lines.withColumn("usage_hour", F.timestamp_micros(_floor_to(start, US_PER_HOUR)))
        .groupBy(*_BILL)
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
        return with_remainder(F.col(share), F.col(total), F.sum(share).over(window), F.col("_owner"))

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
    """The bills of hours with task time, split by each identity's task time in the hour."""
    by_task = [F.col("task_ms").desc(), F.col("identity").asc_nulls_last()]
    return _split(
        hours.where(~F.col("is_idle")).join(used.where(F.col("task_ms") > 0), list(_HOUR)),
        _BILL,
        "task_ms",
        by_task,
    ).withColumn("allocation_basis", F.lit(CONSUMPTION))


def _spread_idle(idle: DataFrame, used: DataFrame) -> DataFrame:
    """Idle bills split by the identities' task time that warehouse-day; a day without task time keeps them whole."""
    # A day's task time is the sum of its hours' (`used`): exact, both are sums of MONEY amounts.
    daily = (
        used.withColumn("usage_date", utc_date(_micros("usage_hour")))
        .groupBy("workspace_id", "warehouse_id", "usage_date", "identity")
        .agg(money(F.sum("task_ms")).alias("day_task_ms"))
        .where(F.col("day_task_ms") > 0)
    )
    day = ["workspace_id", "warehouse_id", "usage_date"]
    spread = _split(
        idle.join(daily, day), _BILL, "day_task_ms", [F.col("day_task_ms").desc(), F.col("identity").asc_nulls_last()]
    ).withColumn("allocation_basis", F.lit(IDLE_SPREAD))
    unspread = idle.join(daily.select(*day).distinct(), day, "left_anti")
    return spread.unionByName(_whole(unspread, IDLE_KEPT, F.lit(UNALLOCATED)), allowMissingColumns=True)


def _idle_rows(hours: DataFrame, used: DataFrame) -> DataFrame:
    """The bills of hours without task time, charged as their pool's idle rule says."""
    idle = hours.where(F.col("is_idle")).withColumn("task_ms", F.lit(0).cast(MONEY))
    idle = idle.withColumn("query_count", F.lit(0).cast("bigint"))
    method = F.col("idle_method")
    return (
        _spread_idle(idle.where(method == "spread"), used)
        .unionByName(_whole(idle.where(method == "unit"), IDLE_UNIT, F.col("idle_unit")), allowMissingColumns=True)
        .unionByName(_whole(idle.where(method == "keep"), IDLE_KEPT, F.lit(UNALLOCATED)), allowMissingColumns=True)
    )


@dataclass(frozen=True)
class Usage:
    """What pools split by consumption need besides the lines: the statements, and which identity is which unit."""

    queries: DataFrame  # `stage_queries` of every statement overlapping the lines' hours (`query_window`)
    identity_units: DataFrame | None  # `identity_units`, or None: every identity UNALLOCATED


def cost_rows(shares: DataFrame) -> DataFrame:
    """The shares summed to the `cost_daily` grain as shared cost of the pool, by warehouse (`workload_id`)."""
    return (
        shares.groupBy(
            "usage_date",
            "business_unit",
            "workspace_id",
            "billing_origin_product",
            "sku_name",
            "pool_id",
            "currency_code",
            "warehouse_id",
        )
        .agg(
            F.max("warehouse_name").alias("warehouse_name"),
            money(F.sum("list_cost")).alias("list_cost"),
            money(F.sum("effective_cost")).alias("effective_cost"),
        )
        .select(
            "usage_date",
            "business_unit",
            "workspace_id",
            "billing_origin_product",
            "sku_name",
            # A pool line that is no warehouse's (no statement can name it) stays the pool's, as other pools' do.
            F.when(F.col("warehouse_id").isNull(), F.lit("shared_pool"))
            .otherwise(F.lit("warehouse"))
            .alias("workload_type"),
            F.coalesce("warehouse_id", "pool_id").alias("workload_id"),
            F.lit("shared").alias("cost_kind"),
            "pool_id",
            "currency_code",
            F.coalesce("warehouse_name", "warehouse_id", "pool_id").alias("workload_name"),
            "list_cost",
            "effective_cost",
        )
    )


def as_planned(_: str, df: DataFrame) -> DataFrame:
    """The `materialise` of `consumption_shares` that materialises nothing: each read computes the plan again."""
    return df


def consumption_shares(
    lines: DataFrame,
    queries: DataFrame,
    identity_units: DataFrame | None,
    materialise: Callable[[str, DataFrame], DataFrame] = as_planned,
) -> DataFrame:
    """Every bill of the pool lines split by statement task time (module docstring): one row per bill (`_BILL`:
    hour, warehouse, pool, SKU) x identity, with `usage_date`, `is_idle`, `allocation_basis`, `business_unit`,
    `task_ms`, `query_count`, `share_of_hour`, `list_cost` and `effective_cost`; the rows of a bill sum to it exactly.

    Args:
        lines: pool lines (`pool_lines`): the `_BILL` columns but the hour, `usage_start_time`, `list_cost` and
            `effective_cost`.
        queries: statements (`stage_queries`): workspace_id, warehouse_id, statement_id, identity, start_time,
            end_time, task_duration_ms; every statement overlapping the billed hours (`query_window`).
        identity_units: identity, business_unit, valid_from, valid_to (`identity_units`), or None (UNALLOCATED).
        materialise: given a name (`hours`, `usage`) and an intermediate result read several times below, returns
            it computed once (a caller stages it in a table); by default `as_planned`.
    """
    used = materialise(
        "usage",
        query_hour_slices(queries)
        .groupBy(*_HOUR, "identity")
        .agg(money(F.sum("task_ms")).alias("task_ms"), F.count(F.lit(1)).cast("bigint").alias("query_count")),
    )
    hour_task = used.groupBy(*_HOUR).agg(money(F.sum("task_ms")).alias("hour_task_ms"))
    hours = materialise(
        "hours",
        billed_hours(lines)
        .withColumn("usage_date", utc_date(_micros("usage_hour")))
        .join(hour_task, list(_HOUR), "left")
        .withColumn("is_idle", F.coalesce(F.col("hour_task_ms"), F.lit(0)) <= 0),
    )
    busy = _busy_rows(hours, used).withColumn("business_unit", F.lit(None).cast("string"))
    rows = busy.unionByName(_idle_rows(hours, used), allowMissingColumns=True)
    return _with_units(rows, identity_units).select(
        *_BILL,
        "usage_date",
        F.col("identity").cast("string").alias("identity"),
        "is_idle",
        "allocation_basis",
        "business_unit",
        F.col("task_ms").cast(MONEY).alias("task_ms"),
        "query_count",
        F.col("share_of_hour").cast(RATIO).alias("share_of_hour"),
        money(F.col("list_cost")).alias("list_cost"),
        money(F.col("effective_cost")).alias("effective_cost"),
    )


def _whole(bills: DataFrame, basis: str, unit: Column) -> DataFrame:
    """One row per idle bill carrying its whole cost, identity NULL."""
    return bills.select(
        *_BILL,
        "usage_date",
        "is_idle",
        "task_ms",
        "query_count",
        F.lit(None).cast("string").alias("identity"),
        F.lit(1).cast(RATIO).alias("share_of_hour"),
        F.col("hour_list_cost").alias("list_cost"),
        F.col("hour_cost").alias("effective_cost"),
        F.lit(basis).alias("allocation_basis"),
        unit.cast("string").alias("business_unit"),
    )
