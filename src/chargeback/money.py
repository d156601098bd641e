"""Exact decimal arithmetic that gives the same result on Sail and on Spark.

Engines type decimal products and quotients differently (Spark shrinks the scale when precision overflows
38 digits; Sail keeps the scale and wraps silently on SUM). Every product here casts its factors so that
p1 + p2 + 1 <= 38: no engine then needs to adjust the result type, and both agree to the last digit.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

MONEY = "decimal(38,10)"
QUANTITY = "decimal(38,18)"
RATIO = "decimal(13,12)"
PERCENT = "decimal(9,4)"


def money(col: Column) -> Column:
    return col.cast(MONEY)


def times_price(quantity: Column, unit_price: Column) -> Column:
    """quantity x unit price as money: up to 10^12 units at up to 999 per unit, 22 digits of scale."""
    return money(quantity.cast("decimal(24,12)") * unit_price.cast("decimal(13,10)"))


def times_ratio(amount: Column, ratio: Column) -> Column:
    """amount x ratio (0..9.99) as money, rounded half up."""
    return money(amount.cast("decimal(24,10)") * ratio.cast(RATIO))


def ratio_of(part: Column, whole: Column) -> Column:
    """part / whole as a 12-digit ratio. Both engines compute at least 20 digits before the cast."""
    return (part.cast("decimal(32,20)") / whole.cast("decimal(20,6)")).cast(RATIO)


def share_toward_zero(amount: Column, ratio: Column) -> Column:
    """amount x ratio truncated toward zero at 10 decimals, so shares never exceed the amount in size."""
    magnitude = F.floor(F.abs(amount).cast("decimal(24,10)") * ratio.cast(RATIO), F.lit(10))
    return money(F.when(amount < 0, -magnitude).otherwise(magnitude))


def discounted(list_cost: Column, discount_percent: Column) -> Column:
    """list cost x (1 - percent / 100); the ratio is exact (4 decimals of percent, 6 of ratio)."""
    keep = ((F.lit(100).cast(PERCENT) - discount_percent.cast(PERCENT)) / F.lit(100).cast("decimal(3,0)")).cast(RATIO)
    return times_ratio(list_cost, keep)


def converted(amount: Column, fx_rate: Column) -> Column:
    """amount x exchange rate (up to 10^6 with 8 decimals) as money."""
    return money(amount.cast("decimal(23,10)") * fx_rate.cast("decimal(14,8)"))
