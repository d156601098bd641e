"""Calendar arithmetic on billing months, written once: every module that steps through months uses these."""

from __future__ import annotations

import datetime as dt


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
