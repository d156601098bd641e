"""chargeback.dates against an independent computation (calendar.monthrange) on every day of several years."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chargeback.dates import DaySet, month_end, month_starts, next_month

# Leap years (2000: divisible by 400; 2024, 2028), a century that is not one (1900, 2100), and the year ends.
YEARS = (1900, 1999, 2000, 2023, 2024, 2025, 2026, 2027, 2028, 2100)


def _days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range(366 if calendar.isleap(year) else 365)]


def _expected_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)


def _first_of(month_index: int) -> dt.date:
    """The first day of month number `month_index` (year x 12 + month - 1)."""
    year, month = divmod(month_index, 12)
    return dt.date(year, month + 1, 1)


@pytest.mark.parametrize("year", YEARS)
def test_next_month_and_month_end_on_every_day(year: int) -> None:
    for day in _days(year):
        assert next_month(day) == _expected_next_month(day), day
        assert month_end(day) == dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1]), day


@pytest.mark.parametrize("year", YEARS)
def test_month_starts_from_every_day_of_a_year(year: int) -> None:
    """From every day of `year` to a day in the same month, the next one and thirteen months later."""
    for day in _days(year):
        for months_after in (0, 1, 13):
            index = day.year * 12 + day.month - 1 + months_after
            first_of_last = _first_of(index)
            days_in_last = calendar.monthrange(first_of_last.year, first_of_last.month)[1]
            last = first_of_last.replace(day=min(day.day, days_in_last))
            expected = [_first_of(i) for i in range(index - months_after, index + 1)]
            assert month_starts(day, last) == expected, (day, last)


def test_month_starts_of_a_last_day_before_the_first_is_the_first_month() -> None:
    assert month_starts(dt.date(2026, 3, 15), dt.date(2026, 1, 1)) == [dt.date(2026, 3, 1)]


# --- DaySet: what an incremental run rewrites, against plain Python sets -----------------------------------------

_EPOCH = dt.date(2026, 1, 1)
_offsets = st.sets(st.integers(min_value=0, max_value=60), max_size=40)


def _set(offsets: set[int]) -> set[dt.date]:
    return {_EPOCH + dt.timedelta(days=n) for n in offsets}


@given(_offsets)
def test_a_day_set_holds_exactly_its_days_in_sorted_disjoint_non_adjacent_ranges(offsets: set[int]) -> None:
    days = _set(offsets)
    day_set = DaySet.of(days)
    assert set(day_set) == days and len(day_set) == len(days) and bool(day_set) == bool(days)
    assert all(d in day_set for d in days) and _EPOCH - dt.timedelta(days=1) not in day_set
    for (_, last), (first, _) in zip(day_set.ranges, day_set.ranges[1:], strict=False):
        assert first > last + dt.timedelta(days=1)  # a gap between ranges, or they would be one


@given(_offsets, _offsets, st.integers(0, 60), st.integers(0, 60), st.integers(0, 5))
@example(set(range(5, 11)), set(), 8, 6, 0)  # clipped to an empty window inside a range
def test_union_clip_and_widen_match_set_arithmetic(a: set[int], b: set[int], lo: int, hi: int, reach: int) -> None:
    first, last = _EPOCH + dt.timedelta(days=lo), _EPOCH + dt.timedelta(days=hi)
    assert set(DaySet.of(_set(a)) | DaySet.of(_set(b))) == _set(a) | _set(b)
    clipped = DaySet.of(_set(a)).clip(first, last)
    assert set(clipped) == {d for d in _set(a) if first <= d <= last} and len(clipped) == len(set(clipped))
    widened = {d - dt.timedelta(days=k) for d in _set(a) for k in range(reach + 1)}
    assert set(DaySet.of(_set(a)).widen(dt.timedelta(days=reach))) == widened
    assert list(DaySet.between(first, last)) == sorted({first + dt.timedelta(days=n) for n in range(hi - lo + 1)})
