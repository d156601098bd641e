"""Gold budget_status_monthly: month-end forecasts on series with known answers, statuses, budget scopes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest

from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY
from chargeback.dates import month_end
from chargeback.insights.budgets import budget_status_monthly, forecast_remaining
from tests.helpers import config

OCTOBER = dt.date(2026, 10, 1)
MID = dt.date(2026, 10, 15)
START = OCTOBER - dt.timedelta(days=70)


def trend_weekly(i: int, day: dt.date) -> Decimal:
    """Multiplicative: a linear trend, weekends at 40 %."""
    return (Decimal(100) + 6 * i) * (Decimal("0.4") if day.weekday() >= 5 else 1)


def additive_noisy(i: int, day: dt.date) -> Decimal:
    """Additive weekend dip on a steeper trend, with +-3 % deterministic noise."""
    noise = Decimal((i * 7919) % 13 - 6) / 200
    return (Decimal(300) + 10 * i - (150 if day.weekday() >= 5 else 0)) * (1 + noise)


def series(shape: Callable[[int, dt.date], Decimal], until: dt.date) -> dict[dt.date, Decimal]:
    days = (until - START).days + 1
    return {START + dt.timedelta(days=i): shape(i, START + dt.timedelta(days=i)) for i in range(days)}


@pytest.mark.parametrize("shape", [trend_weekly, additive_noisy])
def test_mid_month_forecast_lands_within_5_percent(shape: Callable[[int, dt.date], Decimal]) -> None:
    full = series(shape, month_end(OCTOBER))
    truth = sum((v for d, v in full.items() if d >= OCTOBER), Decimal(0))
    known = {d: v for d, v in full.items() if d <= MID}
    actual = sum((v for d, v in known.items() if d >= OCTOBER), Decimal(0))
    forecast = actual + forecast_remaining(known, MID, month_end(OCTOBER))
    assert abs(forecast - truth) / truth < Decimal("0.05"), (forecast, truth)
    # The test bites: a plain run rate (no trend, no weekday pattern) misses by more than 5 %.
    run_rate = actual / 15 * 31
    assert abs(run_rate - truth) / truth > Decimal("0.05"), (run_rate, truth)


def test_exact_model_is_recovered() -> None:
    full = series(trend_weekly, month_end(OCTOBER))
    known = {d: v for d, v in full.items() if d <= MID}
    rest = sum((v for d, v in full.items() if d > MID), Decimal(0))
    # Alternating fits converge to the exact trend and factors, up to a relative error far below a cent.
    assert abs(forecast_remaining(known, MID, month_end(OCTOBER)) - rest) / rest < Decimal("1e-6")


def test_short_history_uses_the_mean_and_a_finished_month_forecasts_nothing() -> None:
    known = {MID - dt.timedelta(days=i): Decimal(10 + i) for i in range(5)}  # 10..14, mean 12
    assert forecast_remaining(known, MID, month_end(OCTOBER)) == Decimal(12 * 16)
    assert forecast_remaining(known, month_end(OCTOBER), month_end(OCTOBER)) == 0
    assert forecast_remaining({}, MID, month_end(OCTOBER)) == 0


CONFIG = config(
    """budgets:
  - {business_unit: data-eng, amount: 1000, warning_percent: 80, critical_percent: 100, valid_from: 2026-01-01}
  - {business_unit: finance, amount: 100, warning_percent: 80, critical_percent: 100, valid_from: 2026-01-01}
  - {business_unit: finance, workspace_id: "2222", billing_origin_product: SQL, amount: 5000, warning_percent: 50,
     critical_percent: 90, valid_from: 2026-01-01}
  - {business_unit: marketing, amount: 700, warning_percent: 80, critical_percent: 100, valid_from: 2026-01-01,
     valid_to: 2026-10-01}
"""
)
DAILY = (
    "usage_date date, business_unit string, workspace_id string, billing_origin_product string, "
    "effective_cost decimal(38,10)"
)


@pytest.mark.transform
def test_budget_status_monthly(spark) -> None:
    rows = []
    for i in range(60):
        day = MID - dt.timedelta(days=i)
        rows.append((day, "data-eng", "1111", "JOBS", Decimal(30)))  # 30 a day: 930 a month, 93 %: warning
        rows.append((day, "finance", "1111", "JOBS", Decimal(5)))  # 75 at mid-month, 155 forecast: critical
        rows.append((day, "finance", "2222", "SQL", Decimal(100)))  # over the unit's 100 already
        rows.append((day, "marketing", "1111", "JOBS", Decimal(1)))  # its budget ended in September
    daily = spark.createDataFrame(rows, DAILY)
    actual = budget_status_monthly(daily, CONFIG, [OCTOBER], MID, "run-1")
    assert actual.columns == BUDGET_STATUS_MONTHLY.column_names
    assert dict(actual.dtypes) == {c.name: c.type for c in BUDGET_STATUS_MONTHLY.columns}
    got = {(r.business_unit, r.workspace_scope, r.product_scope): r for r in actual.collect()}
    assert set(got) == {("data-eng", "*", "*"), ("finance", "*", "*"), ("finance", "2222", "SQL")}
    data_eng = got[("data-eng", "*", "*")]
    assert (data_eng.actual_to_date, data_eng.forecast_month_end) == (Decimal(450), Decimal(930))
    assert (data_eng.status, data_eng.forecast_ratio, data_eng.days_elapsed) == ("warning", Decimal("0.93"), 15)
    assert got[("finance", "*", "*")].status == "over"  # 1575 spent on a budget of 100
    sql = got[("finance", "2222", "SQL")]
    assert (sql.actual_to_date, sql.forecast_month_end, sql.status) == (Decimal(1500), Decimal(3100), "warning")
    september = budget_status_monthly(daily, CONFIG, [dt.date(2026, 9, 1)], MID, "run-1").collect()
    marketing = next(r for r in september if r.business_unit == "marketing")
    assert (marketing.actual_to_date, marketing.forecast_month_end, marketing.status) == (30, 30, "ok")
