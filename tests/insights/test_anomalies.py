"""Gold cost_anomalies_daily: an injected spike is flagged, a steady workload is not, lost tags are found."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from chargeback.contracts.insight_tables import COST_ANOMALIES_DAILY
from chargeback.insights.anomalies import AnomalySettings, cost_anomalies_daily

FIRST = dt.date(2026, 9, 1)
LINES = (
    "usage_date date, business_unit string, attribution_method string, workload_type string, workload_id string, "
    "workload_name string, effective_cost decimal(38,10)"
)
SPIKE_DAY, TAGS_LOST_DAY, NEW_DAY, SMALL_SPIKE_DAY = 34, 30, 37, 35


def series() -> list[tuple]:
    rows = []
    for d in range(42):

        def add(unit: str, method: str, wid: str, cost: int, d: int = d) -> None:
            rows.append((FIRST + dt.timedelta(days=d), unit, method, "job", wid, f"job {wid}", Decimal(cost)))

        add("data-eng", "tag", "1", 200 + (d % 5) * 3)  # steady, with a little weekly-ish noise
        add("finance", "tag", "2", 1500 if d == SPIKE_DAY else 150 + (d % 3) * 4)
        if d < TAGS_LOST_DAY:
            add("marketing", "tag", "3", 300 + (d % 2) * 5)
        else:  # the workload runs on, but its tags are gone: nothing attributes it to marketing any more
            add("UNALLOCATED", "unallocated", "3", 300 + (d % 2) * 5)
        if d >= NEW_DAY:
            add("platform", "tag", "4", 500)
        add("data-eng", "tag", "5", 20 if d == SMALL_SPIKE_DAY else 1)  # a spike below the floor
    return rows


@pytest.fixture(scope="module")
def anomalies(spark):
    lines = spark.createDataFrame(series(), LINES)
    start, end = FIRST + dt.timedelta(days=14), FIRST + dt.timedelta(days=41)
    result = cost_anomalies_daily(lines, start, end, "USD", "run-1", AnomalySettings(floor=Decimal(100)))
    return {(r.usage_date, r.scope, r.scope_key): r for r in result.collect()}, result


def day(n: int) -> dt.date:
    return FIRST + dt.timedelta(days=n)


@pytest.mark.transform
def test_columns_and_key(anomalies) -> None:
    rows, frame = anomalies
    assert frame.columns == COST_ANOMALIES_DAILY.column_names
    assert dict(frame.dtypes) == {c.name: c.type for c in COST_ANOMALIES_DAILY.columns}
    assert len(rows) == frame.count()  # (usage_date, scope, scope_key) is unique
    assert min(k[0] for k in rows) == day(14) and max(k[0] for k in rows) == day(41)


@pytest.mark.transform
def test_injected_spike_is_flagged(anomalies) -> None:
    rows, _ = anomalies
    for key in [(day(SPIKE_DAY), "business_unit", "finance"), (day(SPIKE_DAY), "workload", "job:2")]:
        assert rows[key].reason == "spike" and rows[key].is_anomaly, key
        assert rows[key].score > 100
        assert rows[key].baseline_median == Decimal(154)  # robust: 150/154/158 repeating, median 154
    # The baseline ignores the spike the next day.
    assert rows[(day(SPIKE_DAY + 1), "workload", "job:2")].reason is None


@pytest.mark.transform
def test_steady_and_tiny_workloads_are_not_flagged(anomalies) -> None:
    rows, _ = anomalies
    steady = [r for k, r in rows.items() if k[2] in ("data-eng", "job:1", "job:5")]
    assert len(steady) == 3 * 28
    assert [r for r in steady if r.is_anomaly] == []
    assert max(abs(r.score) for r in steady if r.scope_key == "job:1") < 3.5
    assert rows[(day(SMALL_SPIKE_DAY), "workload", "job:5")].score > 3.5  # scored high, yet below the floor


@pytest.mark.transform
def test_lost_tags_are_attribution_dropped(anomalies) -> None:
    rows, _ = anomalies
    lost = rows[(day(TAGS_LOST_DAY), "business_unit", "marketing")]
    assert lost.reason == "attribution dropped"
    assert lost.tagged_cost == 0 and lost.baseline_tagged_cost == Decimal("302.5")
    assert rows[(day(TAGS_LOST_DAY - 1), "business_unit", "marketing")].reason is None
    # The workload itself did not change: it is not an anomaly.
    assert rows[(day(TAGS_LOST_DAY), "workload", "job:3")].reason is None


@pytest.mark.transform
def test_new_workload(anomalies) -> None:
    rows, _ = anomalies
    assert rows[(day(NEW_DAY), "workload", "job:4")].reason == "new workload"
    assert (day(NEW_DAY - 1), "workload", "job:4") not in rows  # no cost and no baseline: no row
    assert rows[(day(NEW_DAY + 1), "workload", "job:4")].reason != "new workload"


def test_no_lines_no_rows(sail_spark) -> None:
    empty = sail_spark.createDataFrame([], LINES)
    result = cost_anomalies_daily(empty, FIRST, day(3), "USD", "run-1")
    assert result.count() == 0 and result.columns == COST_ANOMALIES_DAILY.column_names


@pytest.mark.transform
def test_medians_and_deviations_keep_every_decimal(spark) -> None:  # type: ignore[no-untyped-def]
    # The two middle values were added as MONEY + MONEY, which Spark types DECIMAL(38,9): a one-day median of
    # 1E-10 came out as 0 there, and each deviation from a median lost its last decimal; Sail kept both.
    from chargeback.insights.anomalies import trailing_baseline

    day = dt.date(2026, 10, 1)
    costs = ["0.0000000001", "0.0000000004", "0"]
    grid = spark.createDataFrame(
        [("u", day + dt.timedelta(days=i), Decimal(c)) for i, c in enumerate(costs)],
        "business_unit string, usage_date date, effective_cost decimal(38,10)",
    )
    third = day + dt.timedelta(days=2)
    rows = trailing_baseline(grid, ["business_unit"], "effective_cost", 28, (third, third))
    # Median of 1E-10 and 4E-10: 2.5E-10, half up 3E-10; deviations 2E-10 and 1E-10, their median half up 2E-10.
    assert [(r.effective_cost_median, r.effective_cost_mad) for r in rows.collect()] == [
        (Decimal("0.0000000003"), Decimal("0.0000000002"))
    ]
