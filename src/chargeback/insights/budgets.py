"""Gold `budget_status_monthly`: each configured budget against its month's cost to date and a month-end forecast.

Actual cost is the allocated effective cost of `cost_daily` (direct, shared and corrections booked in the
month: what the statement will show) of the budget's unit, narrowed to its workspace and product if given.

Forecast (`forecast_month_end`): actual to date plus a forecast of each remaining day of the month.

1. History: daily cost over the last 8 weeks up to the as-of day (shorter when the series is younger), days
   without cost at zero.
2. Model: `cost(t) = (a + b t) x s(t)`, a linear trend times a multiplicative seasonal factor `s` with two
   classes, weekday and weekend (Saturday, Sunday). Alternating three times from `s = 1`: fit `a + b t` by
   ordinary least squares to `cost / s`, then set each class's factor to the ratio of the class's actual cost
   to its trend (a ratio of sums, so zero-cost days do no harm).
3. Each remaining day is forecast as `max(0, (a + b t) x s(t))`.

With fewer than 14 days of history the forecast is the mean daily cost (no trend, no seasonality) times the
days left. A month already over (as-of day at or past its end) forecasts its actual cost. The arithmetic is
Python `Decimal` on the driver: one series per budget and at most 56 points each, collected once.

Status: `over` once actual cost reaches the budget, else `critical` / `warning` when the forecast reaches
`critical_percent` / `warning_percent` of it, else `ok`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.config import Budget, Config, in_force
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY
from chargeback.dates import month_end
from chargeback.money import MONEY

HISTORY_DAYS = 56
MIN_TREND_DAYS = 14
_ROUNDS = 3  # alternating fits: three already land within a millionth of an exact model
_PLACES = Decimal("1E-10")
_RATIO_PLACES = Decimal("1E-6")
ALL = "*"


def _is_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5


def _line(ts: Sequence[Decimal], ys: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Ordinary least squares `y = a + b t`."""
    n = Decimal(len(ts))
    t_mean, y_mean = sum(ts) / n, sum(ys) / n
    sxx = sum((t - t_mean) ** 2 for t in ts)
    b = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, ys, strict=True)) / sxx if sxx else Decimal(0)
    return y_mean - b * t_mean, b


def forecast_remaining(history: Mapping[dt.date, Decimal], as_of: dt.date, until: dt.date) -> Decimal:
    """Forecast cost of the days after `as_of` up to `until` from daily `history` up to `as_of` (module doc)."""
    remaining = [as_of + dt.timedelta(days=i) for i in range(1, (until - as_of).days + 1)]
    known = [d for d in history if d <= as_of]
    if not remaining or not known:
        return Decimal(0)
    start = max(min(known), as_of - dt.timedelta(days=HISTORY_DAYS - 1))
    days = [start + dt.timedelta(days=i) for i in range((as_of - start).days + 1)]
    ys = [history.get(d, Decimal(0)) for d in days]
    if len(days) < MIN_TREND_DAYS:
        return sum(ys, Decimal(0)) / len(ys) * len(remaining)
    ts = [Decimal((d - as_of).days) for d in days]
    factor = {False: Decimal(1), True: Decimal(1)}
    a = b = Decimal(0)
    for _ in range(_ROUNDS):
        a, b = _line(ts, [y / factor[_is_weekend(d)] for d, y in zip(days, ys, strict=True)])
        for weekend in (False, True):
            cls = [(a + b * t, y) for d, t, y in zip(days, ts, ys, strict=True) if _is_weekend(d) == weekend]
            trend, actual = sum((p for p, _ in cls), Decimal(0)), sum((y for _, y in cls), Decimal(0))
            factor[weekend] = actual / trend if cls and trend > 0 and actual > 0 else Decimal(1)
    return sum(
        (max(Decimal(0), (a + b * Decimal((d - as_of).days)) * factor[_is_weekend(d)]) for d in remaining),
        Decimal(0),
    )


def status(budget: Budget, actual: Decimal, forecast: Decimal) -> str:
    if actual >= budget.amount:
        return "over"
    if forecast * 100 >= budget.amount * budget.critical_percent:
        return "critical"
    if forecast * 100 >= budget.amount * budget.warning_percent:
        return "warning"
    return "ok"


def budget_status_monthly(
    daily: DataFrame, config: Config, months: Sequence[dt.date], as_of: dt.date, run_id: str
) -> DataFrame:
    """Budget status for `months` (first days) as of `as_of`, from `cost_daily` rows covering those months and
    the 8 weeks before the as-of day."""
    spark = daily.sparkSession
    schema = BUDGET_STATUS_MONTHLY.ddl_schema(with_comments=False)
    wanted = [(m, b) for m in months if m <= as_of for b in config.budgets if in_force(b, m)]
    if not wanted:
        return spark.createDataFrame([], schema)
    units = sorted({b.business_unit for _, b in wanted})
    first = min(m for m, _ in wanted) - dt.timedelta(days=HISTORY_DAYS)
    rows = (
        daily.where(
            F.col("business_unit").isin(units)
            & (F.col("usage_date") >= F.lit(first))
            & (F.col("usage_date") <= F.lit(as_of))
        )
        .groupBy("usage_date", "business_unit", "workspace_id", "billing_origin_product")
        .agg(F.sum("effective_cost").cast(MONEY).alias("cost"))
        .collect()
    )
    out = []
    for month, budget in wanted:
        series: dict[dt.date, Decimal] = defaultdict(Decimal)
        for r in rows:
            if (
                r.business_unit == budget.business_unit
                and budget.workspace_id in (None, r.workspace_id)
                and budget.billing_origin_product in (None, r.billing_origin_product)
            ):
                series[r.usage_date] += r.cost
        last = month_end(month)
        through = min(as_of, last)
        actual = sum((v for d, v in series.items() if month <= d <= through), Decimal(0))
        forecast = actual + forecast_remaining(series, through, last)
        out.append(
            (
                month,
                budget.business_unit,
                budget.workspace_id or ALL,
                budget.billing_origin_product or ALL,
                budget.amount,
                budget.warning_percent,
                budget.critical_percent,
                through,
                (through - month).days + 1,
                last.day,
                actual.quantize(_PLACES),
                forecast.quantize(_PLACES),
                (forecast / budget.amount).quantize(_RATIO_PLACES),
                status(budget, actual, forecast),
                config.currency,
                run_id,
            )
        )
    return spark.createDataFrame(out, schema)
