"""Pricing of usage lines: list price at usage time, then discounts and currency conversion.

The price of a line is the `system.billing.list_prices` row with the same SKU, cloud, unit and currency
whose half-open interval [price_start_time, price_end_time) contains the line's `usage_end_time` (NULL end =
still in force). The official dashboard's inclusive join prices a line ending exactly on a price change twice;
this does not.

Every line comes out exactly once (a left join, then one row per line): priced, with a cost, or unpriced at zero
cost with `is_priced = false` and the reason in `unpriced_reason`. Rows exported twice with the same content count
once; rows that disagree about the price in force (two prices at once, a NULL price) leave the line unpriced with
that reason rather than pricing it twice or at zero. The run checks prices before it writes (`tieout`) and
refuses such rows in force during its window, so these reasons mark what the gate refuses, not a normal outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.config import Discount, FxRate
from chargeback.money import (
    FX_RATE,
    MONEY,
    PERCENT,
    QUANTITY,
    QUANTITY_LIMIT,
    UNIT_PRICE_LIMIT,
    conversion_in_range,
    converted,
    discounted,
    in_range,
    money,
    times_price,
)
from chargeback.steps.validity import in_force_on

PRICE_KEY = ("sku_name", "cloud", "usage_unit", "currency_code")

# Why a line is unpriced (`unpriced_reason`). Only NO_PRICE is published (reported by SKU); the gate refuses the rest.
NO_PRICE = "no list price"
NULL_PRICE = "NULL list price"
CONFLICTING_PRICES = "conflicting list prices"
QUANTITY_OUT_OF_RANGE = "quantity out of range"
PRICE_OUT_OF_RANGE = "unit price out of range"
NO_FX_RATE = "no fx rate"
AMOUNT_OUT_OF_RANGE = "converted amount out of range"


def pricing_field(list_prices: DataFrame, *path: str) -> Column:
    """`pricing.<path>`, or NULL when the source's pricing struct lacks it (older exports) or a struct on the way
    is NULL (engine: null-struct-field: it would price a line at zero)."""
    dtype = list_prices.schema["pricing"].dataType if "pricing" in list_prices.columns else None
    col, missing = F.col("pricing"), F.col("pricing").isNull()
    for name in path:
        if not isinstance(dtype, StructType) or name not in dtype.fieldNames():
            return F.lit(None).cast(QUANTITY)
        dtype = dtype[name].dataType
        col = col.getField(name)
        missing = missing | col.isNull()
    return F.when(~missing, col.cast(QUANTITY))


def list_unit_price(list_prices: DataFrame) -> Column:
    """The price used for calculating the cost: `pricing.effective_list.default`, else `pricing.default`."""
    return F.coalesce(pricing_field(list_prices, "effective_list", "default"), pricing_field(list_prices, "default"))


def price_intervals(list_prices: DataFrame, price_currency: str) -> DataFrame:
    """The list prices in `price_currency` as disjoint intervals per (SKU, cloud, unit, currency).

    Every start and end of a row is a boundary; each interval between two boundaries that some row covers gets
    the price all its covering rows agree on, with how many rows cover it (`price_rows`) and whether they
    disagree or hold a NULL price (`price_conflict`, `price_missing`). Rows exported twice count once, a row
    nested inside an open-ended one cuts nothing off, and no line can match two intervals.
    """
    rows = (
        list_prices.where(F.col("currency_code") == F.lit(price_currency))
        .select(
            *PRICE_KEY,
            F.col("price_start_time").alias("_start"),
            F.col("price_end_time").alias("_end"),
            list_unit_price(list_prices).alias("_price"),
            pricing_field(list_prices, "default").alias("_default"),
        )
        .where(F.col("_start").isNotNull())
        .distinct()
    )
    bounds = (
        rows.select(*PRICE_KEY, F.col("_start").alias("price_start_time"))
        .unionByName(rows.where(F.col("_end").isNotNull()).select(*PRICE_KEY, F.col("_end").alias("price_start_time")))
        .distinct()
        .withColumn(
            "price_end_time",
            F.lead("price_start_time").over(Window.partitionBy(*PRICE_KEY).orderBy("price_start_time")),
        )
    )
    s, r = bounds.alias("s"), rows.alias("r")
    covers = (F.col("r._start") <= F.col("s.price_start_time")) & (
        F.col("r._end").isNull()
        | (F.col("s.price_end_time").isNotNull() & (F.col("r._end") >= F.col("s.price_end_time")))
    )
    for c in PRICE_KEY:
        covers = covers & (F.col(f"s.{c}") == F.col(f"r.{c}"))
    covered = s.join(r, covers).select("s.*", "r._price", "r._default")
    return covered.groupBy(*PRICE_KEY, "price_start_time", "price_end_time").agg(
        F.count(F.lit(1)).alias("price_rows"),
        (F.count(F.lit(1)) > F.count("_price")).alias("price_missing"),
        (F.min("_price") != F.max("_price")).alias("price_conflict"),
        F.max("_price").alias("unit_price"),
        F.max("_default").alias("unit_list_price_default"),
    )


def price_usage(lines: DataFrame, intervals: DataFrame) -> DataFrame:
    """Attach unit price, `list_cost`, `is_priced` and `unpriced_reason` to each usage line (from
    `price_intervals`: disjoint, so a left join neither drops nor repeats a line)."""
    p = intervals.alias("p")
    u = lines.alias("u")
    joined = u.join(
        F.broadcast(p),
        (F.col("u.sku_name") == F.col("p.sku_name"))
        & (F.col("u.cloud") == F.col("p.cloud"))
        & (F.col("u.usage_unit") == F.col("p.usage_unit"))
        & (F.col("u.usage_end_time") >= F.col("p.price_start_time"))
        & (F.col("p.price_end_time").isNull() | (F.col("u.usage_end_time") < F.col("p.price_end_time"))),
        "left",
    )
    quantity, price = F.col("u.usage_quantity"), F.col("p.unit_price")
    reason = (
        F.when(F.col("p.price_start_time").isNull(), F.lit(NO_PRICE))
        .when(F.col("p.price_missing"), F.lit(NULL_PRICE))
        .when(F.col("p.price_conflict"), F.lit(CONFLICTING_PRICES))
        .when(~in_range(quantity, QUANTITY_LIMIT), F.lit(QUANTITY_OUT_OF_RANGE))
        .when(~in_range(price, UNIT_PRICE_LIMIT), F.lit(PRICE_OUT_OF_RANGE))
    )
    is_priced = reason.isNull()
    zero = F.lit(0)
    return joined.select(
        "u.*",
        F.col("p.currency_code").alias("price_currency_code"),
        F.when(is_priced, price).cast(QUANTITY).alias("unit_price"),
        F.col("p.unit_list_price_default").alias("unit_list_price_default"),
        is_priced.alias("is_priced"),
        reason.alias("unpriced_reason"),
        # Out-of-range values never reach the arithmetic, not even in a branch that is thrown away.
        F.when(
            is_priced,
            times_price(F.when(is_priced, quantity).otherwise(zero), F.when(is_priced, price).otherwise(zero)),
        )
        .otherwise(F.lit(0).cast(MONEY))
        .alias("list_cost"),
    )


def glob_like(pattern: str) -> str:
    """A SKU glob (`*`, `?`) as a LIKE pattern: `%` and `_` are escaped, so they only match themselves (discount
    rules here, shared-cost pools in `allocation`)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def discount_percent(discounts: Sequence[Discount]) -> Column:
    """The percent of the first discount rule (config order) that matches a line on its usage date, else 0."""
    result = F.lit(0).cast(PERCENT)
    for rule in reversed(discounts):
        cond = in_force_on(F.col("usage_date"), rule.valid_from, rule.valid_to)
        if rule.billing_origin_product is not None:
            cond = cond & (F.col("billing_origin_product") == F.lit(rule.billing_origin_product))
        if rule.sku_pattern is not None:
            cond = cond & F.col("sku_name").like(glob_like(rule.sku_pattern))
        result = F.when(cond, F.lit(rule.percent).cast(PERCENT)).otherwise(result)
    return result


def fx_rate(rates: Sequence[FxRate], from_currency: str, to_currency: str) -> Column:
    """The configured rate from `from_currency` to `to_currency` on a line's usage date (1 when equal; NULL on a
    day no rate covers)."""
    if from_currency == to_currency:
        return F.lit(1).cast(FX_RATE)
    result = F.lit(None).cast(FX_RATE)
    for rate in rates:
        if rate.from_currency == from_currency and rate.to_currency == to_currency:
            result = F.when(
                in_force_on(F.col("usage_date"), rate.valid_from, rate.valid_to), F.lit(rate.rate).cast(FX_RATE)
            ).otherwise(result)
    return result


def apply_discounts_and_fx(
    priced: DataFrame, discounts: Sequence[Discount], rates: Sequence[FxRate], price_currency: str, currency: str
) -> DataFrame:
    """`effective_cost` = list cost x (1 - discount) converted to the chargeback currency.

    `list_cost` is converted too, so every cost column of a line is in `currency_code`. A priced line whose day
    has no rate, or whose converted cost passes the supported range, becomes unpriced with that reason (the run
    refuses both before writing).
    """
    was_priced = F.col("is_priced") if "is_priced" in priced.columns else F.lit(True)
    reason = F.col("unpriced_reason") if "unpriced_reason" in priced.columns else F.lit(None).cast("string")
    list_cost, rate, ok = F.col("list_cost"), F.col("fx_rate"), F.col("_convert")
    zero = F.lit(0)
    return (
        priced.withColumn("discount_percent", discount_percent(discounts))
        .withColumn("fx_rate", fx_rate(rates, price_currency, currency))
        .withColumn(
            "_convert", F.coalesce(was_priced & rate.isNotNull() & conversion_in_range(list_cost, rate), F.lit(False))
        )
        .withColumn(
            "unpriced_reason",
            F.when(was_priced & rate.isNull(), F.lit(NO_FX_RATE))
            .when(was_priced & ~ok, F.lit(AMOUNT_OUT_OF_RANGE))
            .otherwise(reason),
        )
        .withColumn(
            "list_cost",
            # Out-of-range values never reach the arithmetic, not even in a branch that is thrown away.
            F.when(
                ok, money(converted(F.when(ok, list_cost).otherwise(zero), F.when(ok, rate).otherwise(zero)))
            ).otherwise(F.lit(0).cast(MONEY)),
        )
        .withColumn("is_priced", ok)
        .withColumn("effective_cost", discounted(F.col("list_cost"), F.col("discount_percent")))
        .withColumn("currency_code", F.lit(currency))
        .drop("_convert")
    )
