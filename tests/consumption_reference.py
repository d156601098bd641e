"""DESIGN §4's consumption split in plain Python with exact fractions, written apart from `steps.consumption`, to
check it against: the cost of each billed hour divided by statement task time, idle hours by an idle rule."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

HOUR = dt.timedelta(hours=1)
Split = dict[tuple[dt.date, str | None], Fraction]


def _hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def task_by_hour(statements: Iterable[Any]) -> dict[dt.datetime, dict[str | None, Fraction]]:
    """Task time per clock hour and identity: each statement's time by the share of its interval in the hour."""
    task: dict[dt.datetime, dict[str | None, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for s in statements:
        if not s.task_duration_ms:
            continue
        if s.end_time is None or s.end_time <= s.start_time:
            task[_hour(s.start_time)][s.identity] += s.task_duration_ms
            continue
        duration = Fraction((s.end_time - s.start_time) / dt.timedelta(microseconds=1))
        hour = _hour(s.start_time)
        while hour < s.end_time:
            overlap = min(s.end_time, hour + HOUR) - max(s.start_time, hour)
            task[hour][s.identity] += s.task_duration_ms * Fraction(overlap / dt.timedelta(microseconds=1)) / duration
            hour += HOUR
    return task


def reference_split(bill: Mapping[dt.datetime, Fraction], statements: Iterable[Any], idle: str = "keep") -> Split:
    """Cost per (day, identity) of one warehouse: `bill` is its cost per hour; idle hours `keep` (identity None) or
    `spread` (over that day's task time, else kept)."""
    task = task_by_hour(statements)
    by_day: dict[dt.date, dict[str | None, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for hour, users in task.items():
        for identity, t in users.items():
            by_day[hour.date()][identity] += t
    out: Split = defaultdict(Fraction)
    for hour, cost in bill.items():
        users = {k: v for k, v in task[hour].items() if v > 0}
        if not users and idle == "spread":
            users = {k: v for k, v in by_day[hour.date()].items() if v > 0}
        total = sum(users.values(), Fraction(0))
        for identity, t in users.items() if total else [(None, Fraction(1))]:
            out[(hour.date(), identity)] += cost * (t / total if total else 1)
    return out
