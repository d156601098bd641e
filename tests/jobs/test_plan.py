"""jobs.plan: how a run decides, day by day, what it recomputes (the pure part; end to end in test_incremental)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from chargeback.jobs.plan import DayPlan, DayState, RunPlan, _day_plan, _Seen

DAY = dt.date(2026, 9, 10)
WATERMARK = dt.date(2026, 9, 20)
SEEN = _Seen(DayState(100, Decimal("12.5"), dt.date(2026, 9, 12)), WATERMARK, "earlier", "fp")


def plan(now: DayState | None, seen: _Seen | None = SEEN, line_level: bool = True) -> DayPlan:
    return _day_plan(DAY, now, seen, "fp", line_level)


def test_an_unchanged_day_is_not_recomputed() -> None:
    p = plan(SEEN.state)
    assert not p.recomputed and p.reason == "unchanged since run earlier"


def test_a_day_with_only_new_records_recomputes_the_lines_they_touch() -> None:
    p = plan(DayState(102, Decimal("12.1"), WATERMARK))  # a retraction and a restatement, ingested on the watermark
    assert p.recomputed and p.since == WATERMARK


@pytest.mark.parametrize(
    ("now", "seen", "line_level", "why"),
    [
        (DayState(100, Decimal("12.5"), None), None, True, "not covered"),
        (SEEN.state, _Seen(SEEN.state, WATERMARK, "other", "old-fp"), True, "another config"),
        (None, SEEN, True, "no records"),
        (DayState(99, Decimal("12.5"), WATERMARK), SEEN, True, "changed otherwise"),  # one gone, one added
        (DayState(100, Decimal("13"), dt.date(2026, 9, 12)), SEEN, True, "changed otherwise"),  # rewritten in place
        (DayState(101, Decimal("13"), dt.date(2026, 9, 19)), SEEN, True, "changed otherwise"),  # ingested before
        (DayState(101, Decimal("13"), WATERMARK), SEEN, False, "changed otherwise"),  # a copy: re-exports by content
    ],
)
def test_any_other_change_recomputes_the_whole_day(
    now: DayState | None, seen: _Seen | None, line_level: bool, why: str
) -> None:
    p = plan(now, seen, line_level)
    assert p.recomputed and p.since is None and why in p.reason


def test_a_plan_names_the_days_it_rewrites_and_those_whose_silver_it_recomputes() -> None:
    days = (
        DayPlan(DAY, None, True, None, "the source holds no records for the day any more"),
        DayPlan(DAY + dt.timedelta(days=1), SEEN.state, False, None, "unchanged since run earlier"),
        DayPlan(DAY + dt.timedelta(days=2), SEEN.state, True, WATERMARK, "records ingested on or after"),
        DayPlan(
            DAY + dt.timedelta(days=3),
            SEEN.state,
            True,
            None,
            "a closed day re-allocated: corrections of the closed months are booked again",
        ),
    )
    run = RunPlan("incremental", WATERMARK, "fp", days)
    assert list(run.recomputed) == [DAY, DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3)]
    assert run.lines_since == {DAY: None, DAY + dt.timedelta(days=2): WATERMARK}
