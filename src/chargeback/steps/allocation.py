"""Shared-cost allocation: pooled usage is split to business units, exactly, by explicit rules.

A usage line is claimed by the first configured pool whose criteria it meets; unclaimed lines stay direct
cost of their attributed unit (UNALLOCATED included, so unowned cost stays visible). Each pool's cost per
(day, workspace, product, SKU) is split by weights:

* `proportional`: the targets' direct effective cost that day (optionally in the same product);
* `even`: equal; `fixed`: configured percentages; `central`: all to one unit;
* `consumption`: each billed warehouse hour by its users' statement task time (`steps.consumption`).

A pool-day whose proportional weights are all zero (at 6 decimals) falls back to `even`. Shares are
truncated toward zero at 10 decimals and the remainder goes to the largest-weight target (ties: smallest
unit id), so the shares of a pool sum to the pool exactly and never have the opposite sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, SharedPool
from chargeback.contracts.cost_tables import COST_GRAIN
from chargeback.errors import InputError
from chargeback.money import MONEY, PERCENT, money, ratio_of, share_toward_zero, with_remainder
from chargeback.steps import consumption
from chargeback.steps.pricing import glob_like

_GROUP = ("pool_id", "usage_date", "workspace_id", "billing_origin_product", "sku_name", "currency_code")
_ANY_PRODUCT = "*"
WEIGHT = "decimal(20,6)"


_POOLS = (
    "array<struct<id:string,products:array<string>,sku_likes:array<string>,workspaces:array<string>,"
    "warehouses:array<string>,unallocated:boolean>>"
)


def pool_table(spark: SparkSession, pools: Sequence[SharedPool]) -> DataFrame:
    """The pools' match criteria in config order, as one row (`_pools`); an empty list is a criterion not given."""
    criteria = [
        (
            pool.id,
            list(pool.match.billing_origin_products),
            [glob_like(pattern) for pattern in pool.match.sku_patterns],
            list(pool.match.workspace_ids),
            list(pool.match.warehouse_ids),
            pool.match.unallocated,
        )
        for pool in pools
    ]
    return spark.createDataFrame([(criteria,)], f"_pools {_POOLS}")


def claims(pool: Column, pools: Sequence[SharedPool]) -> Column:
    """Whether a usage line meets every criterion `pool` (a `pool_table` entry) gives. Only the line columns some
    pool of `pools` has a criterion on are read."""
    given = {
        "products": any(p.match.billing_origin_products for p in pools),
        "sku_likes": any(p.match.sku_patterns for p in pools),
        "workspaces": any(p.match.workspace_ids for p in pools),
        "warehouses": any(p.match.warehouse_ids for p in pools),
        "unallocated": any(p.match.unallocated is not None for p in pools),
    }
    cond = F.lit(True)
    for field, column in (
        ("products", "billing_origin_product"),
        ("workspaces", "workspace_id"),
        ("warehouses", "warehouse_id"),
    ):
        if given[field]:
            listed = pool.getField(field)
            cond = cond & ((F.size(listed) == 0) | F.array_contains(listed, F.col(column)))
    if given["sku_likes"]:
        likes = pool.getField("sku_likes")
        cond = cond & ((F.size(likes) == 0) | F.exists(likes, lambda like: F.like(F.col("sku_name"), like)))
    if given["unallocated"]:
        unallocated = pool.getField("unallocated")
        cond = cond & (unallocated.isNull() | (unallocated == (F.col("business_unit") == F.lit(UNALLOCATED))))
    return cond


def assign_pools(lines: DataFrame, pools: Sequence[SharedPool]) -> DataFrame:
    """Add `pool_id`: the first pool (config order) that claims the line, NULL for direct cost.

    The pools are one row of data joined to every line, so the plan is the same size for 2 pools as for 200.
    """
    if not pools:
        return lines.withColumn("pool_id", F.lit(None).cast("string"))
    first = F.get(F.filter(F.col("_pools"), lambda pool: claims(pool, pools)), 0).getField("id")
    # The one-row frame on the left, so the lines stream (engine: cross-join-left-side).
    claimed = pool_table(lines.sparkSession, pools).crossJoin(lines).withColumn("pool_id", first)
    return claimed.select(*lines.columns, "pool_id")


def pool_targets(spark: SparkSession, pools: Sequence[SharedPool], unit_ids: Sequence[str]) -> DataFrame:
    """One row per (pool, target unit) with the method and the unit's base weight."""
    rows: list[tuple[str, str, bool, str | None, Decimal]] = []
    for pool in pools:
        targets: list[tuple[str | None, Decimal]]
        if pool.method == "fixed":
            targets = [(unit, pct) for unit, pct in pool.percentages]
        elif pool.method == "central":
            targets = [(pool.business_unit, Decimal(1))]
        else:
            targets = [(unit, Decimal(1)) for unit in (pool.business_units or unit_ids)]
        rows += [(pool.id, pool.method, pool.same_product, u, w) for u, w in targets]
    return spark.createDataFrame(
        rows, f"pool_id string, method string, same_product boolean, business_unit string, base_weight {PERCENT}"
    )


def direct_rows(lines: DataFrame) -> DataFrame:
    """Unpooled lines summed to the cost grain as `cost_kind = 'direct'`."""
    return (
        lines.where(F.col("pool_id").isNull())
        .withColumn("cost_kind", F.lit("direct"))
        .groupBy(*COST_GRAIN)
        .agg(
            F.first("workload_name", ignorenulls=True).alias("workload_name"),
            money(F.sum("list_cost")).alias("list_cost"),
            money(F.sum("effective_cost")).alias("effective_cost"),
        )
    )


def _pool_groups(lines: DataFrame, pools: Sequence[SharedPool]) -> DataFrame:
    """Each pool's cost per (day, workspace, product, SKU), with the product its weights are taken in
    (`weight_product`: the group's own for a same-product pool, else `*`)."""
    same_product = lines.sparkSession.createDataFrame(
        [(pool.id, pool.same_product) for pool in pools], "pool_id string, _same_product boolean"
    )
    within_product = F.coalesce(F.col("_same_product"), F.lit(False))
    return (
        lines.where(F.col("pool_id").isNotNull())
        .groupBy(*_GROUP)
        .agg(money(F.sum("list_cost")).alias("pool_list_cost"), money(F.sum("effective_cost")).alias("pool_cost"))
        .join(F.broadcast(same_product), "pool_id", "left")
        .withColumn("weight_product", F.when(within_product, F.col("billing_origin_product")).otherwise(_ANY_PRODUCT))
        .drop("_same_product")
    )


def _direct_cost(lines: DataFrame) -> DataFrame:
    """Each unit's direct effective cost per day, by product and over all products (`weight_product` = `*`)."""
    direct = lines.where(F.col("pool_id").isNull() & (F.col("business_unit") != F.lit(UNALLOCATED)))
    by_product = direct.groupBy("usage_date", F.col("billing_origin_product").alias("weight_product"), "business_unit")
    overall = direct.groupBy("usage_date", F.lit(_ANY_PRODUCT).alias("weight_product"), "business_unit")
    return by_product.agg(money(F.sum("effective_cost")).alias("direct_cost")).unionByName(
        overall.agg(money(F.sum("effective_cost")).alias("direct_cost"))
    )


def _weights(groups: DataFrame, targets: DataFrame, direct_cost: DataFrame) -> DataFrame:
    """Each target's weight and ratio per (pool, day, weight product); all-zero weights fall back to even."""
    demand = groups.select("pool_id", "usage_date", "weight_product").distinct()
    weights = demand.join(F.broadcast(targets), "pool_id").join(
        direct_cost, ["usage_date", "weight_product", "business_unit"], "left"
    )
    raw = F.when(
        F.col("method") == "proportional", F.greatest(F.coalesce("direct_cost", F.lit(0).cast(MONEY)), F.lit(0))
    ).otherwise(F.col("base_weight"))
    pool_day = Window.partitionBy("pool_id", "usage_date", "weight_product")
    return (
        # Weights carry 6 decimals, the precision ratio_of divides by: a positive weight sum then never
        # rounds to a zero divisor (weights below a millionth of the currency count as zero).
        weights.withColumn("raw_weight", raw.cast(WEIGHT))
        .withColumn("weight", F.when(F.sum("raw_weight").over(pool_day) > 0, F.col("raw_weight")).otherwise(F.lit(1)))
        .withColumn("ratio", ratio_of(F.col("weight"), F.sum("weight").over(pool_day)))
        .select("pool_id", "usage_date", "weight_product", "business_unit", "weight", "ratio")
    )


def allocate_shared(lines: DataFrame, pools: Sequence[SharedPool], unit_ids: Sequence[str]) -> DataFrame:
    """Split each pool's cost per (day, workspace, product, SKU) to its targets: `cost_kind = 'shared'` rows."""
    targets = pool_targets(lines.sparkSession, pools, unit_ids)
    groups = _pool_groups(lines, pools)
    weights = _weights(groups, targets, _direct_cost(lines))

    group = Window.partitionBy(*_GROUP)
    owner_first = Window.partitionBy(*_GROUP).orderBy(F.col("weight").desc(), F.col("business_unit"))
    split = (
        groups.join(weights, ["pool_id", "usage_date", "weight_product"])
        .withColumn("list_share", share_toward_zero(F.col("pool_list_cost"), F.col("ratio")))
        .withColumn("cost_share", share_toward_zero(F.col("pool_cost"), F.col("ratio")))
        .withColumn("is_owner", F.row_number().over(owner_first) == 1)
    )

    def with_residual(share: str, total: str) -> Column:
        return with_remainder(F.col(share), F.col(total), F.sum(share).over(group), F.col("is_owner"))

    return split.select(
        "usage_date",
        "business_unit",
        "workspace_id",
        "billing_origin_product",
        "sku_name",
        F.lit("shared_pool").alias("workload_type"),
        F.col("pool_id").alias("workload_id"),
        F.lit("shared").alias("cost_kind"),
        "pool_id",
        "currency_code",
        F.col("pool_id").alias("workload_name"),
        with_residual("list_share", "pool_list_cost").alias("list_cost"),
        with_residual("cost_share", "pool_cost").alias("effective_cost"),
    )


def consumption_split(
    lines: DataFrame,
    pools: Sequence[SharedPool],
    usage: consumption.Usage | None,
    materialise: Callable[[str, DataFrame], DataFrame] = consumption.as_planned,
) -> DataFrame | None:
    """The shares of the bills of the pools split by consumption (None without such pools); `materialise` as
    `consumption.consumption_shares` takes it."""
    by_use = [pool for pool in pools if pool.method == "consumption"]
    if not by_use:
        return None
    if usage is None:
        raise InputError(f"shared_costs: pool {by_use[0].id} splits by consumption, which needs query history")
    pool_lines = consumption.pool_lines(lines, by_use)
    return consumption.consumption_shares(pool_lines, usage.queries, usage.identity_units, materialise)


def allocate(
    lines: DataFrame,
    pools: Sequence[SharedPool],
    unit_ids: Sequence[str],
    usage: consumption.Usage | None = None,
    *,
    shares: DataFrame | None = None,
) -> DataFrame:
    """Direct and allocated shared cost rows at the `cost_daily` grain; totals equal the lines' totals.

    Pools split by consumption need `usage` (statements and identity units): see `steps.consumption`; or their
    `shares` as `consumption_split` computed them, for a caller that uses them twice.
    """
    by_rule = [pool for pool in pools if pool.method != "consumption"]
    rows = direct_rows(lines)
    if by_rule:
        ruled = lines.where(F.col("pool_id").isNull() | F.col("pool_id").isin([pool.id for pool in by_rule]))
        rows = rows.unionByName(allocate_shared(ruled, by_rule, unit_ids))
    if shares is None:
        shares = consumption_split(lines, pools, usage)
    if shares is not None:
        rows = rows.unionByName(consumption.cost_rows(shares))
    return rows
