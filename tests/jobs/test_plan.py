"""jobs.plan: how a run decides, day by day, what it recomputes (the pure part; end to end in test_incremental)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from chargeback.jobs.plan import DayPlan, DayState, RunPlan, _day_plan, _Seen

DAY = dt.date(2026, 9, 10)
WATERMARK = dt.date(2026, 9, 20)
SEEN = _Seen(DayState(100, Decimal("12.5"), dt.date(2026, 9, 12)), WATERMARK, "earlier", "fp")


NEXT = WATERMARK + dt.timedelta(days=1)
SEEN_PARTS = ((dt.date(2026, 9, 11), 60, Decimal("10"), None), (dt.date(2026, 9, 12), 40, Decimal("2.5"), None))


def state(*later: tuple[dt.date | None, int, str]) -> DayState:
    """The day as the source holds it now: what SEEN saw plus records of `later` (ingested, records, quantity)."""
    parts = (*SEEN_PARTS, *((d, n, Decimal(q), None) for d, n, q in later))
    dated = [d for d, _, _, _ in parts if d is not None]
    return DayState(
        sum(n for _, n, _, _ in parts), sum((q for _, _, q, _ in parts), Decimal(0)), max(dated), by_ingestion=parts
    )


def plan(now: DayState | None, seen: _Seen | None = SEEN, lines_hold: int | None = 100) -> DayPlan:
    return _day_plan(DAY, now, seen, "fp", lines_hold)


def test_an_unchanged_day_is_not_recomputed() -> None:
    p = plan(state())
    assert not p.recomputed and p.reason == "unchanged since run earlier"


def test_a_day_with_only_records_ingested_after_the_watermark_adds_them_to_its_lines() -> None:
    p = plan(state((NEXT, 2, "-0.4")))  # a retraction and a restatement, ingested the day after the watermark
    assert p.recomputed and p.since == NEXT


def test_through_sums_the_records_ingested_by_a_day_exactly() -> None:
    # 33 digits: Python's default context keeps 28, and would round the sum.
    one, two = Decimal("123456789012345.123456789012345678"), Decimal("246913578024690.246913578024691356")
    now = DayState(3, Decimal(0), NEXT, by_ingestion=((WATERMARK, 2, two, None), (NEXT, 1, one, None)))
    assert now.through(WATERMARK) == DayState(2, two, WATERMARK)
    assert now.through(NEXT) == DayState(3, Decimal("370370367037035.370370367037037034"), NEXT)
    assert DayState(1, one, None, by_ingestion=((None, 1, one, None),)).through(NEXT) is None


def test_a_copy_s_digest_is_summed_and_compared() -> None:
    parts = ((WATERMARK, 2, Decimal(1), Decimal(-5)), (NEXT, 1, Decimal(2), Decimal(9)))
    now = DayState(3, Decimal(3), NEXT, Decimal(4), by_ingestion=parts)
    assert now.through(WATERMARK) == DayState(2, Decimal(1), WATERMARK, Decimal(-5))
    seen = _Seen(DayState(3, Decimal(3), NEXT, Decimal(4)), NEXT, "earlier", "fp")
    assert not _day_plan(DAY, now, seen, "fp", None).recomputed
    # The same count, quantity and dates; a record rewritten in place (or two swapping quantities).
    rewritten = DayState(3, Decimal(3), NEXT, Decimal(5))
    assert _day_plan(DAY, rewritten, seen, "fp", None).recomputed


@pytest.mark.parametrize(
    ("now", "seen", "lines_hold", "why"),
    [
        (state(), None, 100, "not covered"),
        (state(), _Seen(SEEN.state, WATERMARK, "other", "old-fp"), 100, "another config"),
        (None, SEEN, 100, "no records"),
        # Records ingested on the watermark's own day after the run read it: not told from the ones it read.
        (state((WATERMARK, 2, "-0.4")), SEEN, 100, "records ingested by 2026-09-20 changed"),
        (state((dt.date(2026, 9, 19), 1, "0.5")), SEEN, 100, "records ingested by 2026-09-20 changed"),
        (state((None, 1, "0.5")), SEEN, 100, "records ingested by 2026-09-20 changed"),  # no ingestion date
        # Rewritten in place: the same records, another quantity.
        (
            DayState(
                100,
                Decimal("13"),
                dt.date(2026, 9, 12),
                by_ingestion=((dt.date(2026, 9, 12), 100, Decimal("13"), None),),
            ),
            SEEN,
            100,
            "records ingested by 2026-09-20 changed",
        ),
        (state((NEXT, 2, "-0.4")), SEEN, 98, "netted to zero"),  # a line of two records went: not in silver
        (state((NEXT, 2, "-0.4")), SEEN, None, "a copy"),  # re-exported records are resolved by content
    ],
)
def test_any_other_change_recomputes_the_whole_day(
    now: DayState | None, seen: _Seen | None, lines_hold: int | None, why: str
) -> None:
    p = plan(now, seen, lines_hold)
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
