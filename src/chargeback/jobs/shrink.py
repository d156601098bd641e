"""Published cost never silently shrinks: the check before the first write of a run and before gold is written.

A run never removes more than a small share (`max_shrink_percent`) of a day's or month's published cost unless
asked to (`--allow-shrink`), and never debits a closed month because source rows went missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal, localcontext

from chargeback.errors import ShrinkError
from chargeback.jobs.params import TOLERANCE
from chargeback.jobs.tieout import Key, SourceFacts


def _percent(part: Decimal, whole: Decimal) -> str:
    return f"{(part * 100 / whole):.1f}%"


def check_shrink(
    published: dict[dt.date, Decimal],
    recomputed: dict[dt.date, Decimal],
    month_published: dict[dt.date, Decimal],
    *,
    max_share: Decimal,
    allow: bool,
    currency: str,
    is_closed: Callable[[dt.date], bool],
    source_days: Iterable[dt.date],
) -> None:
    """Refuse a run that removes more than `max_share` of a day's or a month's published cost (unless `allow`),
    or that would debit a closed day for which the source has no usage rows at all (always).

    `published` / `recomputed`: cost per day of the window before and after the run; `month_published`: the whole
    published cost of each month the window touches.
    """
    with localcontext() as ctx:
        ctx.prec = 60
        have_source = set(source_days)
        removed_by_month: dict[dt.date, Decimal] = {}
        for day in sorted(published):
            before, after = published[day], recomputed.get(day, Decimal(0))
            removed = before - after
            month = day.replace(day=1)
            removed_by_month[month] = removed_by_month.get(month, Decimal(0)) + removed
            if is_closed(month) and before != 0 and day not in have_source and removed != 0:
                raise ShrinkError(
                    f"the source has no usage rows for {day} of closed month {month:%Y-%m} ({before:,.2f} {currency} "
                    "published): a closed month is never debited for missing source rows; restore the source or "
                    "start the window after that month; nothing was written"
                )
            if not allow:
                _refuse_shrink(str(day), before, after, max_share, currency)
        for month, removed in sorted(removed_by_month.items()):
            before = month_published.get(month, Decimal(0))
            if not allow:
                _refuse_shrink(f"{month:%Y-%m}", before, before - removed, max_share, currency)


def _refuse_shrink(of: str, before: Decimal, after: Decimal, max_share: Decimal, currency: str) -> None:
    """Refuse going from `before` to `after` published cost of a day or month (`of`) beyond `max_share` removed."""
    removed = before - after
    if before > 0 and removed > max(before * max_share, TOLERANCE):
        raise ShrinkError(
            f"this run would remove {_percent(removed, before)} of the published cost of {of} ({before:,.2f} -> "
            f"{after:,.2f} {currency}), more than the {max_share * 100:g}% allowed (max_shrink_percent); if the "
            "source really lost that usage, run again with --allow-shrink; nothing was written"
        )


def estimate_recomputed(
    published: dict[Key, tuple[Decimal, Decimal]], facts: SourceFacts, start: dt.date, end: dt.date
) -> tuple[dict[dt.date, Decimal], dict[dt.date, Decimal]]:
    """Published cost per day of the window and its estimate from the source as it is now, before any pricing.

    `published`: (quantity, cost) per key from the published silver. A key keeps its published cost per unit, so
    a source that lost (or gained) usage shows as lost (or gained) cost; usage under keys never published counts
    as nothing, which can only overstate a shrink.
    """
    before: dict[dt.date, Decimal] = {}
    after: dict[dt.date, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for key, (quantity, cost) in published.items():
            day = key[0]
            if not start <= day <= end:
                continue
            source = facts.quantities.get(key, Decimal(0))
            estimate = cost if quantity == 0 else cost * source / quantity
            before[day] = before.get(day, Decimal(0)) + cost
            after[day] = after.get(day, Decimal(0)) + estimate
    return before, after
