"""Calendar arithmetic on billing months, written once: every module that steps through months uses these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after the one containing `day`."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_end(day: dt.date) -> dt.date:
    """The last day of the month containing `day`."""
    return next_month(day) - dt.timedelta(days=1)


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from the one containing `first` to the one containing `last`, in order."""
    months = [first.replace(day=1)]
    while months[-1] < last.replace(day=1):
        months.append(next_month(months[-1]))
    return months


def run_window(
    today: dt.date, lookback_days: int, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The days a run covers unless told: the `lookback_days` days ending yesterday, the last complete UTC day."""
    last = end or (today - dt.timedelta(days=1))
    return start or (last - dt.timedelta(days=lookback_days - 1)), last


@dataclass(frozen=True)
class DaySet:
    """A set of days as sorted, disjoint, non-adjacent ranges: what an incremental run rewrites.

    A run rewrites the days it recomputed; runs of consecutive days stay one range, so a full window is one range
    and a table write one `BETWEEN` (a predicate grows with the gaps between touched days, not with the days).
    """

    ranges: tuple[tuple[dt.date, dt.date], ...] = ()

    @classmethod
    def of(cls, days: Iterable[dt.date]) -> DaySet:
        ranges: list[tuple[dt.date, dt.date]] = []
        for day in sorted(set(days)):
            if ranges and ranges[-1][1] + dt.timedelta(days=1) == day:
                ranges[-1] = (ranges[-1][0], day)
            else:
                ranges.append((day, day))
        return cls(tuple(ranges))

    @classmethod
    def between(cls, first: dt.date, last: dt.date) -> DaySet:
        return cls(((first, last),) if first <= last else ())

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __contains__(self, day: object) -> bool:
        return any(first <= day <= last for first, last in self.ranges)  # type: ignore[operator]

    def __iter__(self) -> Iterator[dt.date]:
        for first, last in self.ranges:
            yield from (first + dt.timedelta(days=n) for n in range((last - first).days + 1))

    def __len__(self) -> int:
        return sum((last - first).days + 1 for first, last in self.ranges)

    def __or__(self, other: DaySet) -> DaySet:
        return DaySet.of([*self, *other])

    def clip(self, first: dt.date, last: dt.date) -> DaySet:
        """The days of this set in [first, last]."""
        if first > last:
            return DaySet()
        return DaySet(tuple((max(a, first), min(b, last)) for a, b in self.ranges if a <= last and b >= first))

    def widen(self, before: dt.timedelta) -> DaySet:
        """Each range extended `before` earlier (the days whose job runs may reach into these days)."""
        return DaySet.of(day for first, last in self.ranges for day in DaySet.between(first - before, last))

    @property
    def first(self) -> dt.date:
        return self.ranges[0][0]

    @property
    def last(self) -> dt.date:
        return self.ranges[-1][1]
