"""Pricing of usage lines: list price at usage time, then discounts and currency conversion.

The price of a line is the `system.billing.list_prices` row with the same SKU, cloud, unit and currency
whose half-open interval [price_start_time, price_end_time) contains the line's `usage_end_time`. The
official dashboard's inclusive join prices a line ending exactly on a price change twice; this does not.
Unpriced lines are kept at zero cost with `is_priced = false` so reconciliation can report them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.config import Discount, FxRate
from chargeback.money import MONEY, PERCENT, QUANTITY, converted, discounted, money, times_price

PRICE_KEY = ("sku_name", "cloud", "usage_unit", "currency_code")


def price_intervals(list_prices: DataFrame, price_currency: str) -> DataFrame:
    """Non-overlapping price intervals in `price_currency`.

    An interval ends at its own end or at the next start for the same key, whichever comes first, so
    overlapping rows in the source can never price one usage line twice.
    """
    by_key = Window.partitionBy(*PRICE_KEY).orderBy("price_start_time")
    return list_prices.where(F.col("currency_code") == F.lit(price_currency)).select(
        *PRICE_KEY,
        "price_start_time",
        F.least(F.col("price_end_time"), F.lead("price_start_time").over(by_key)).alias("price_end_time"),
        F.coalesce(
            F.col("pricing").getField("effective_list").getField("default"),
            F.col("pricing").getField("default"),
        )
        .cast(QUANTITY)
        .alias("unit_price"),
        F.col("pricing").getField("default").cast(QUANTITY).alias("unit_list_price_default"),
    )


def price_usage(lines: DataFrame, intervals: DataFrame) -> DataFrame:
    """Attach unit price and `list_cost` to each usage line (left join: no line is ever dropped)."""
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
    return joined.select(
        "u.*",
        F.col("p.currency_code").alias("price_currency_code"),
        F.col("p.unit_price"),
        F.col("p.unit_list_price_default"),
        F.col("p.price_start_time").isNotNull().alias("is_priced"),
        F.coalesce(times_price(F.col("u.usage_quantity"), F.col("p.unit_price")), F.lit(0).cast(MONEY)).alias(
            "list_cost"
        ),
    )


def _valid_on(day: Column, valid_from: object, valid_to: object) -> Column:
    cond = day >= F.lit(valid_from)
    return cond if valid_to is None else cond & (day < F.lit(valid_to))


def _glob_to_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def discount_percent(discounts: Sequence[Discount]) -> Column:
    """The percent of the first discount rule (config order) that matches a line on its usage date, else 0."""
    result = F.lit(0).cast(PERCENT)
    for rule in reversed(discounts):
        cond = _valid_on(F.col("usage_date"), rule.valid_from, rule.valid_to)
        if rule.billing_origin_product is not None:
            cond = cond & (F.col("billing_origin_product") == F.lit(rule.billing_origin_product))
        if rule.sku_pattern is not None:
            cond = cond & F.col("sku_name").like(_glob_to_like(rule.sku_pattern))
        result = F.when(cond, F.lit(rule.percent).cast(PERCENT)).otherwise(result)
    return result


def fx_rate(rates: Sequence[FxRate], from_currency: str, to_currency: str) -> Column:
    """The configured rate from `from_currency` to `to_currency` on a line's usage date (1 when equal)."""
    if from_currency == to_currency:
        return F.lit(1).cast("decimal(14,8)")
    result = F.lit(None).cast("decimal(14,8)")
    for rate in rates:
        if rate.from_currency == from_currency and rate.to_currency == to_currency:
            result = F.when(
                _valid_on(F.col("usage_date"), rate.valid_from, rate.valid_to), F.lit(rate.rate).cast("decimal(14,8)")
            ).otherwise(result)
    return result


def apply_discounts_and_fx(
    priced: DataFrame, discounts: Sequence[Discount], rates: Sequence[FxRate], price_currency: str, currency: str
) -> DataFrame:
    """`effective_cost` = list cost x (1 - discount) converted to the chargeback currency.

    `list_cost` is converted too, so every cost column of a line is in `currency_code`.
    """
    rate = fx_rate(rates, price_currency, currency)
    return (
        priced.withColumn("discount_percent", discount_percent(discounts))
        .withColumn("fx_rate", rate)
        .withColumn("list_cost", money(converted(F.col("list_cost"), F.col("fx_rate"))))
        .withColumn("effective_cost", discounted(F.col("list_cost"), F.col("discount_percent")))
        .withColumn("currency_code", F.lit(currency))
    )
