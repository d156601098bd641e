"""The generated period, its scripted instants, and the epoch conversions and time units the builders share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chargeback.local.synthetic.account import PRICE_CHANGE_TIME_OF_DAY


@dataclass(frozen=True)
class Window:
    """The generated period and the relative instants of its scripted events (see the package docstring)."""

    start_date: dt.date
    days: int

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.UTC)

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def as_of(self) -> dt.date:
        """The day the table is read: the day after the last usage day."""
        return self.start_date + dt.timedelta(days=self.days)

    @property
    def change_hour(self) -> int:
        """Hour index (from the start) at which the reorg and the job rename take effect."""
        return (self.days // 2) * 24

    @property
    def change_time(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.change_hour)

    @property
    def usage_policy_since(self) -> dt.date:
        return self.start_date + dt.timedelta(days=self.days // 3)

    @property
    def cancel_hour(self) -> int:
        """Hour index from which the cancelled workspace has no usage."""
        return max(1, self.days // 3) * 24

    @property
    def price_change_time(self) -> dt.datetime:
        day = self.start_date + dt.timedelta(days=(2 * self.days) // 3)
        return dt.datetime.combine(day, PRICE_CHANGE_TIME_OF_DAY, tzinfo=dt.UTC)


def epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def epoch_micros(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1))


# Times in the activity tables are epoch microseconds.
US_PER_HOUR = 3_600 * 1_000_000
H = US_PER_HOUR
S = 1_000_000  # microseconds per second
MS = 1_000
