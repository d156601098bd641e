"""Exact decimal arithmetic that gives the same result on Sail and on Spark.

Engines type decimal products and quotients differently (Spark shrinks the scale when precision overflows
38 digits; Sail keeps the scale and wraps silently on SUM, or fails on the product). Every product here casts its
factors so that p1 + p2 + 1 <= 38: no engine then needs to adjust the result type, and both agree to the last
digit.

A wide factor is split into its whole part and its fraction (both truncated toward zero, so both carry the
factor's sign): each partial product then fits 38 digits exactly, the parts that are already whole at 10
decimals are added as they are and only the rest is rounded, once, half up. So a product is the exact product
rounded half up at 10 decimals, for every input inside the supported range:

- quantities: |quantity| < 10^15 (18 decimals); unit prices: 0 <= price < 10^6 (12 decimals);
  so a line costs less than 10^21 at list price;
- exchange rates as the config allows them (up to 10^10, 10 decimals), for a converted amount below
  `AMOUNT_LIMIT`;
- amounts times a ratio or a discount: |amount| < `AMOUNT_LIMIT`.

Callers keep inputs inside the range (`in_range`): Sail evaluates every branch of a CASE, so an out-of-range value
must be replaced by a harmless one before it reaches a cast, not only filtered afterwards.
(engine: decimal-overflow, engine: case-evaluates-every-branch)
"""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F

MONEY = "decimal(38,10)"
QUANTITY = "decimal(38,18)"
RATIO = "decimal(13,12)"
PERCENT = "decimal(9,4)"
UNIT_PRICE = "decimal(18,12)"
FX_RATE = "decimal(21,10)"

QUANTITY_LIMIT = Decimal(10) ** 15
UNIT_PRICE_LIMIT = Decimal(10) ** 6
AMOUNT_LIMIT = Decimal(10) ** 24


def money(col: Column) -> Column:
    return col.cast(MONEY)


def _dec(digits: int, scale: int) -> str:
    return f"decimal({digits + scale},{scale})"


def in_range(col: Column, limit: Decimal) -> Column:
    """|col| < limit (NULL stays NULL)."""
    return F.abs(col) < F.lit(limit)


def _split(x: Column, digits: int, scale: int) -> tuple[Column, Column]:
    """x = whole + fraction, both truncated toward zero: DECIMAL(digits, 0) and DECIMAL(scale, scale)."""
    exact = x.cast(_dec(digits, scale))
    whole = F.when(exact < 0, F.ceil(exact)).otherwise(F.floor(exact)).cast(_dec(digits, 0))
    return whole, (exact - whole).cast(_dec(0, scale))


def _truncate10(x: Column, digits: int) -> Column:
    """x truncated toward zero at 10 decimals, as DECIMAL(digits + 10, 10)."""
    magnitude = F.floor(F.abs(x), F.lit(10))
    return F.when(x < 0, -magnitude).otherwise(magnitude).cast(_dec(digits, 10))


def _product(x: Column, x_digits: int, x_scale: int, y: Column, y_digits: int, y_scale: int) -> Column:
    """x * y rounded half up at 10 decimals, exactly, for |x| < 10^x_digits and |y| < 10^y_digits.

    Needs x_digits + y_digits + y_scale + 1 <= 38 and x_scale + y_digits + y_scale + 1 <= 38.
    """
    whole, fraction = _split(x, x_digits, x_scale)
    factor = y.cast(_dec(y_digits, y_scale))
    digits = x_digits + y_digits
    fine = x_scale + y_scale
    big = (whole * factor).cast(_dec(digits, y_scale))  # exact, |big| < 10^(x_digits + y_digits)
    small = fraction * factor  # exact, scale x_scale + y_scale, |small| < 10^y_digits
    if y_scale <= 10:
        head, rest = big.cast(_dec(digits, 10)), small
    else:
        head = _truncate10(big, digits)
        # What `head` left of `big` (|.| < 10^-10) joins the fraction's product before the one rounding.
        rest = (big - head).cast(_dec(1, fine)) + small.cast(_dec(y_digits, fine))
    # All parts share the sign of x * y, so rounding the rest alone rounds the sum.
    return money(head + rest.cast(_dec(y_digits + 1, 10)))


def times_price(quantity: Column, unit_price: Column) -> Column:
    """quantity x unit price as money, exact: |quantity| < 10^15 (18 decimals), 0 <= price < 10^6 (12 decimals)."""
    return _product(quantity, 15, 18, unit_price, 6, 12)


def times_ratio(amount: Column, ratio: Column) -> Column:
    """amount x ratio (0..9.99, 12 decimals) as money, rounded half up: |amount| < 10^24."""
    return _product(amount, 24, 10, ratio.cast(RATIO), 1, 12)


def ratio_of(part: Column, whole: Column) -> Column:
    """part / whole as a 12-digit ratio, for |part| < 10^16 (and a money whole).

    Sail types a quotient with the dividend's scale + 4 and fails when the dividend, scaled up by the divisor's
    scale + 4, passes 38 digits; Spark keeps 38 - (dividend's integer digits + divisor's scale) decimals. So the
    types depend on the magnitudes: |part| < 10^8 and |whole| < 10^14 (every real ratio) divide as they always did,
    at 20 or more digits; a larger part or whole divides with fewer decimals on the side that no longer needs them
    (at least 18 digits of quotient). Each branch sees only values its types hold (Sail evaluates every branch);
    a part of 10^16 or more gives NULL.
    """
    one = F.lit(1)

    def quotient(cond: Column, part_type: str, whole_type: str) -> Column:
        return F.when(cond, part).otherwise(one).cast(part_type) / F.when(cond, whole).otherwise(one).cast(whole_type)

    bands = (
        # (|part| below, |whole| below 10^14?, dividend type, divisor type): Sail / Spark decimals computed
        (Decimal(10) ** 8, True, "decimal(32,20)", "decimal(20,6)"),  # 24 / 20
        (Decimal(10) ** 11, True, "decimal(28,17)", "decimal(19,5)"),  # 21 / 22
        (Decimal(10) ** 15, True, "decimal(29,14)", "decimal(18,4)"),  # 18 / 19: whole > 10^10 here
        (Decimal(10) ** 16, False, "decimal(30,14)", "decimal(31,3)"),  # 18 / 19: whole >= 10^14
    )
    small_whole = in_range(whole, Decimal(10) ** 14)
    conditions, taken = [], F.lit(False)
    for limit, below, _, _ in bands:
        conditions.append(~taken & in_range(part, limit) & (small_whole if below else ~small_whole))
        taken = taken | conditions[-1]
    quotients = [quotient(c, p, w).cast(RATIO) for c, (_, _, p, w) in zip(conditions, bands, strict=True)]
    result = F.when(conditions[0], quotients[0])
    for cond, value in zip(conditions[1:], quotients[1:], strict=True):
        result = result.when(cond, value)
    return result


def share_toward_zero(amount: Column, ratio: Column) -> Column:
    """amount x ratio truncated toward zero at 10 decimals, so shares never exceed the amount in size.

    Exact for |amount| < 10^24: the whole part's product is truncated as it is, the fraction's product is added to
    what that left before truncating again (all parts share the amount's sign).
    """
    whole, fraction = _split(amount, 24, 10)
    factor = ratio.cast(RATIO)
    big = (whole * factor).cast(_dec(25, 12))  # exact
    head = _truncate10(big, 25)
    rest = (big - head).cast(_dec(1, 22)) + (fraction * factor).cast(_dec(1, 22))
    return money(head + _truncate10(rest, 2))


# An amount below AMOUNT_LIMIT at 10 decimals: two of them add up in 35 digits.
_AMOUNT = _dec(24, 10)


def plus(a: Column, b: Column) -> Column:
    """a + b as money, exact for |a|, |b| < AMOUNT_LIMIT: MONEY + MONEY would need 39 digits, and Spark then drops a
    decimal (DECIMAL(38,9)); Sail keeps it (engine: decimal-overflow). Subtract with `plus(a, -b)`."""
    return money(a.cast(_AMOUNT) + b.cast(_AMOUNT))


def with_remainder(share: Column, total: Column, shares_total: Column, is_owner: Column) -> Column:
    """`share` as money, plus on the owner's row what all the shares (`shares_total`) lack to make `total`: shares
    truncated toward zero then add up to their total exactly (`plus`, so no engine drops the last digit)."""
    return plus(share, F.when(is_owner, plus(total, -shares_total)).otherwise(F.lit(0).cast(MONEY)))


def discounted(list_cost: Column, discount_percent: Column) -> Column:
    """list cost x (1 - percent / 100), rounded half up: the ratio is exact (4 decimals of percent, 6 of ratio)."""
    keep = ((F.lit(100).cast(PERCENT) - discount_percent.cast(PERCENT)) / F.lit(100).cast("decimal(3,0)")).cast(
        "decimal(7,6)"
    )
    return _product(list_cost, 24, 10, keep, 1, 6)


def converted(amount: Column, fx_rate: Column) -> Column:
    """amount x exchange rate as money, rounded half up: |amount| < 10^21, rate up to 10^10 (10 decimals), and
    |amount x rate| < 10^24 (callers check it with `conversion_in_range`).

    The rate is split too (whole and fraction), so every partial product fits 38 digits.
    """
    whole, fraction = _split(amount, 21, 10)
    rate = fx_rate.cast(FX_RATE)
    rate_whole, rate_fraction = _split(rate, 11, 10)
    exact_10 = (whole * rate_whole).cast(_dec(27, 10)) + (whole * rate_fraction).cast(_dec(21, 10))  # exact
    small = fraction * rate  # exact at 20 decimals, |.| < 10^11
    return money(exact_10.cast(_dec(27, 10)) + small.cast(_dec(12, 10)))


def conversion_in_range(amount: Column, fx_rate: Column) -> Column:
    """Whether `converted` holds amount x rate: a bound with a wide margin, checked in floating point (no money)."""
    return in_range(amount, Decimal(10) ** 21) & (
        F.abs(amount).cast("double") * fx_rate.cast("double") < F.lit(float(AMOUNT_LIMIT) / 10)
    )
