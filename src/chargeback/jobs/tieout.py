"""The gate that checks the source, not the pipeline against itself (DESIGN §1 step [7]).

Everything here is derived again from the raw system tables, independently of the pipeline's steps (`usage`,
`pricing` and the rest are not called): the same rules, written a second time, so a bug or a bad input in a step
cannot vouch for itself.

- Before anything is written (`check_records`, `check_prices`, `check_fx`, `source_facts`): every usage record of
  the window is billable (an id, a SKU, a finite quantity inside the supported range), the list prices in force
  for the SKUs used are unambiguous and non-NULL, `price_currency` has prices, the FX rates cover every day of the
  window.
- Before gold is written (`check_lines`, `check_allocated`): the lines to publish carry, per (usage_date, SKU,
  cloud, unit), exactly the quantity the raw records net to (each record once: the copy with the latest
  ingestion_date, then the greatest content hash); every line is priced with a non-NULL cost or unpriced at zero
  cost for want of a list price, with its SKU reported; allocated cost equals billed cost day by day.
- `shrink.check_shrink` (its own module): a run never removes more than a small share of a day's or month's
  published cost unless asked to, and never debits a closed month because source rows went missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, MapType, StructType

from chargeback.errors import ReconciliationError, SourceDataError
from chargeback.jobs.params import TOLERANCE
from chargeback.money import QUANTITY_LIMIT, UNIT_PRICE_LIMIT

KEY = ("usage_date", "sku_name", "cloud", "usage_unit")
# What the pipeline reads of each source table; a missing one is a one-line SourceTableError.
USAGE_COLUMNS = (
    "account_id",
    "workspace_id",
    "record_id",
    "record_type",
    "ingestion_date",
    "sku_name",
    "cloud",
    "usage_unit",
    "usage_date",
    "usage_start_time",
    "usage_end_time",
    "usage_quantity",
    "billing_origin_product",
    "custom_tags",
)
LIST_PRICE_COLUMNS = (
    "sku_name",
    "cloud",
    "usage_unit",
    "currency_code",
    "price_start_time",
    "price_end_time",
    "pricing",
)
# The only reason a line may be published unpriced (the pipeline's `pricing.NO_PRICE`).
PUBLISHABLE_UNPRICED = "no list price"
_NULL_MARK, _SEPARATOR = "\u2400", "\u241f"
_EXAMPLES = 5
_BROADCAST_IDS = 100_000

Key = tuple[dt.date, str, str, str]


@dataclass(frozen=True)
class SourceFacts:
    """What the raw usage of a window nets to, per (usage_date, SKU, cloud, unit)."""

    quantities: dict[Key, Decimal]
    records: dict[Key, int]
    spans: dict[tuple[str, str, str], tuple[dt.datetime, dt.datetime]]  # usage_end_time range per SKU key
    duplicate_records: int = 0
    conflicting_records: int = 0
    duplicate_examples: tuple[str, ...] = field(default=())

    @property
    def days(self) -> set[dt.date]:
        return {key[0] for key, count in self.records.items() if count}


def _window(usage: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    return usage.where(F.col("usage_date").between(F.lit(start), F.lit(end)))


def undated(start: dt.date, end: dt.date) -> Column:
    """Records without a usage_date whose usage starts in [start, end] (UTC), or has no start: no day holds them,
    so every count by day would pass them over; the record check finds them by their start instead."""
    begins = F.col("usage_start_time")
    return F.col("usage_date").isNull() & (begins.isNull() | F.to_date(begins).between(F.lit(start), F.lit(end)))


def _text(value: object) -> str:
    return "NULL" if value is None else str(value)


# --- before anything is written ------------------------------------------------------------------------------


def check_records(usage: DataFrame, table: str, start: dt.date, end: dt.date) -> bool:
    """Refuse the first record of the window that cannot be billed, one without a usage_date (`undated`) among
    them: one line naming it and what is wrong.

    Returns whether two records may share an id (`_ids_may_repeat`, for `source_facts`): the same pass over the
    records answers both, and only a refused window reads them again, to name the first bad record.
    """
    q = F.col("usage_quantity")
    floating = isinstance(usage.schema["usage_quantity"].dataType, DoubleType | FloatType)
    if floating:
        not_a_number = F.isnan(q)
        in_range = F.abs(q) < F.lit(float(QUANTITY_LIMIT))
    else:
        not_a_number = F.lit(False)
        in_range = F.abs(q.cast("decimal(38,18)")) < F.lit(QUANTITY_LIMIT)
    problems: list[tuple[Column, str]] = [
        (F.col("usage_date").isNull(), "has no usage_date"),
        (F.col("record_id").isNull(), "has no record_id"),
        (F.col("record_type").isNull(), "has no record_type"),
        (q.isNull(), "has usage_quantity NULL"),
        (not_a_number, "has usage_quantity NaN"),
        (~in_range, "has usage_quantity outside the supported range (absolute value below 1e15)"),
        (F.col("sku_name").isNull(), "has no sku_name"),
        (F.col("cloud").isNull(), "has no cloud"),
        (F.col("usage_unit").isNull(), "has no usage_unit"),
        (F.col("usage_end_time").isNull(), "has no usage_end_time"),
    ]
    flags = [F.coalesce(cond, F.lit(False)).alias(f"_p{i}") for i, (cond, _) in enumerate(problems)]
    any_problem = F.lit(False)
    for cond, _ in problems:
        any_problem = any_problem | F.coalesce(cond, F.lit(False))
    rows = usage.where(F.col("usage_date").between(F.lit(start), F.lit(end)) | undated(start, end))
    # Records without an id share the NULL group, counted as none: they are refused above, not repeats.
    per_id = rows.groupBy(_id_hash().alias("_id")).agg(
        F.count("record_id").alias("_n"), F.max(any_problem.cast("int")).alias("_bad")
    )
    most_copies, bad_found = per_id.agg(F.max("_n"), F.max("_bad")).collect()[0]
    if not bad_found:
        return bool(most_copies and most_copies > 1)
    row = (
        rows.where(any_problem)
        .select("record_id", "usage_date", "sku_name", q.cast("string").alias("q"), *flags)
        .orderBy("usage_date", "record_id")
        .limit(1)
        .collect()[0]
    )
    what = next(text for i, (_, text) in enumerate(problems) if row[f"_p{i}"])
    value = f" ({row.q})" if "range" in what else ""
    raise SourceDataError(
        f"usage record {_text(row.record_id)} of {_text(row.sku_name)} on {_text(row.usage_date)} in {table} "
        f"{what}{value}; nothing was written"
    )


def _fingerprint(frame: DataFrame) -> Column:
    """The record's content besides id, type and ingestion date, hashed: the same rule as the pipeline's netting."""
    names = sorted(set(frame.columns) - {"record_id", "record_type", "ingestion_date"})
    pieces = []
    for name in names:
        is_nested = isinstance(frame.schema[name].dataType, StructType | MapType | ArrayType)
        text = F.to_json(F.col(name)) if is_nested else F.col(name).cast("string")
        pieces.append(F.coalesce(text, F.lit(_NULL_MARK)))
    return F.sha2(F.concat_ws(_SEPARATOR, *pieces), 256)


def _reexported(rows: DataFrame) -> DataFrame:
    """The records exported more than once: `_record_id`, `_record_type` and `_again` (true)."""
    record = ["record_id", "record_type"]
    again = (
        rows.where(F.col("record_id").isNotNull())
        .groupBy(*record)
        .agg(F.count(F.lit(1)).alias("_copies"))
        .where(F.col("_copies") > 1)
        .select(*(F.col(c).alias(f"_{c}") for c in record), F.lit(True).alias("_again"))
    )
    # Re-exports are few: their ids are collected and broadcast rather than the records shuffled.
    few = again.limit(_BROADCAST_IDS + 1).collect()
    if len(few) <= _BROADCAST_IDS:
        again = F.broadcast(rows.sparkSession.createDataFrame(few, again.schema))
    return again


def _id_hash() -> Column:
    """A record's (record_id, record_type) as one 64-bit hash; NULL without an id."""
    return F.when(F.col("record_id").isNotNull(), F.xxhash64("record_id", "record_type"))


def _ids_may_repeat(rows: DataFrame) -> bool:
    """Whether two records may share an id: two with one 64-bit hash of (record_id, record_type). Most sources
    have no re-exports, and grouping on one number costs far less than on two strings; a repeated hash (a copy, or
    rarely a collision) leads to the exact count of `_reexported`."""
    hashes = rows.select(_id_hash().alias("_id")).where(F.col("_id").isNotNull())
    return bool(hashes.groupBy("_id").count().where(F.col("count") > 1).limit(1).collect())


def _each_record_once(rows: DataFrame, ids_may_repeat: bool | None) -> DataFrame:
    """Every record once: a re-exported one as its newest copy, with `_copied` and `_versions` (contents seen).
    `ids_may_repeat`: as `check_records` found it, else None (found here)."""
    record = ["record_id", "record_type"]
    needed = [*KEY, "usage_quantity", "usage_end_time", *record]

    def alone(frame: DataFrame) -> DataFrame:
        return frame.select(*needed, F.lit(False).alias("_copied"), F.lit(1).alias("_versions"))

    if not (_ids_may_repeat(rows) if ids_may_repeat is None else ids_may_repeat):
        return alone(rows)
    same_record = (F.col("record_id") == F.col("_record_id")) & F.col("record_type").eqNullSafe(F.col("_record_type"))
    marked = rows.join(_reexported(rows), same_record, "left").drop("_record_id", "_record_type")
    copy_of = Window.partitionBy(*record)
    newest = copy_of.orderBy(F.col("ingestion_date").desc_nulls_last(), F.col("_content").desc())
    kept = (
        marked.where(F.col("_again"))
        .withColumn("_content", _fingerprint(rows))
        .withColumn("_versions", F.size(F.collect_set("_content").over(copy_of)))
        .withColumn("_n", F.row_number().over(newest))
        .where(F.col("_n") == 1)
        .select(*needed, F.lit(True).alias("_copied"), "_versions")
    )
    return alone(marked.where(F.col("_again").isNull())).unionByName(kept)


def source_facts(usage: DataFrame, start: dt.date, end: dt.date, ids_may_repeat: bool | None = None) -> SourceFacts:
    """Net the raw records of the window per (usage_date, SKU, cloud, unit), each record once (`ids_may_repeat`:
    what `check_records` returned for the same records, when it ran in this process)."""
    conflicting = F.col("_versions") > 1

    def examples(cond: Column) -> Column:
        return F.slice(F.sort_array(F.collect_set(F.when(cond, F.col("record_id")))), 1, _EXAMPLES)

    netted = (
        _each_record_once(_window(usage, start, end), ids_may_repeat)
        .groupBy(*KEY)
        .agg(
            F.sum(F.col("usage_quantity").cast("decimal(38,18)")).alias("q"),
            F.count(F.lit(1)).alias("n"),
            F.min("usage_end_time").alias("first_end"),
            F.max("usage_end_time").alias("last_end"),
            F.sum(F.col("_copied").cast("int")).alias("copied"),
            F.sum(conflicting.cast("int")).alias("conflicting"),
            examples(conflicting).alias("conflict_examples"),
            examples(F.col("_copied")).alias("copy_examples"),
        )
        .collect()
    )
    return _facts_of(netted)


def _facts_of(netted: list[Row]) -> SourceFacts:
    quantities: dict[Key, Decimal] = {}
    records: dict[Key, int] = {}
    spans: dict[tuple[str, str, str], tuple[dt.datetime, dt.datetime]] = {}
    copied = conflicts = 0
    conflict_examples: set[str] = set()
    copy_examples: set[str] = set()
    for r in netted:
        key = (r.usage_date, r.sku_name, r.cloud, r.usage_unit)
        quantities[key], records[key] = Decimal(r.q or 0), int(r.n)
        sku = key[1:]
        first, last = spans.get(sku, (r.first_end, r.last_end))
        spans[sku] = (min(first, r.first_end), max(last, r.last_end))
        copied, conflicts = copied + int(r.copied or 0), conflicts + int(r.conflicting or 0)
        conflict_examples.update(r.conflict_examples or [])
        copy_examples.update(r.copy_examples or [])
    shown = sorted(conflict_examples)[:_EXAMPLES] or sorted(copy_examples)[:_EXAMPLES]
    return SourceFacts(quantities, records, spans, copied, conflicts, tuple(shown))


def _unit_price(list_prices: DataFrame) -> Column:
    """pricing.effective_list.default, else pricing.default (each NULL when the export lacks it)."""

    def field_of(*path: str) -> Column:
        dtype, col = list_prices.schema["pricing"].dataType, F.col("pricing")
        absent = col.isNull()  # each struct on the way (engine: null-struct-field)
        for name in path:
            if not isinstance(dtype, StructType) or name not in dtype.fieldNames():
                return F.lit(None).cast("decimal(38,18)")
            dtype, col = dtype[name].dataType, col.getField(name)
            absent = absent | col.isNull()
        return F.when(~absent, col.cast("decimal(38,18)"))

    return F.coalesce(field_of("effective_list", "default"), field_of("default"))


def _interval(start: dt.datetime, end: dt.datetime | None) -> str:
    return f"[{start}, {end if end is not None else 'open'})"


def _require_currency(list_prices: DataFrame, in_currency: DataFrame, table: str, price_currency: str) -> None:
    if not in_currency.limit(1).collect():
        present = [
            r[0] for r in list_prices.select("currency_code").distinct().orderBy("currency_code").limit(10).collect()
        ]
        has = ", ".join(_text(c) for c in present) if present else "no rows"
        raise SourceDataError(
            f"{table} has no price in price_currency {price_currency} (it has {has}); check price_currency in the "
            "config; nothing was written"
        )


def check_prices(list_prices: DataFrame, table: str, price_currency: str, facts: SourceFacts) -> None:
    """Refuse prices that would lose or double money for a SKU used in the window; one line naming it.

    The rows of a (SKU, cloud, unit) in `price_currency` in force between its first and last usage end time in the
    window must not disagree (two different prices at once, whatever their starts) nor be NULL; identical rows
    count once. `price_currency` must have prices at all.
    """
    in_currency = list_prices.where(F.col("currency_code") == F.lit(price_currency))
    _require_currency(list_prices, in_currency, table, price_currency)
    if not facts.spans:
        return
    skus = sorted({sku for sku, _, _ in facts.spans})
    rows = (
        in_currency.where(F.col("sku_name").isin(skus))
        .select(
            "sku_name", "cloud", "usage_unit", "price_start_time", "price_end_time", _unit_price(list_prices).alias("p")
        )
        .distinct()
        .collect()
    )
    by_key: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        by_key.setdefault((r.sku_name, r.cloud, r.usage_unit), []).append(r)
    for key, (first, last) in sorted(facts.spans.items()):
        live = sorted(
            (r for r in by_key.get(key, []) if _in_force(r.price_start_time, r.price_end_time, first, last)),
            key=lambda r: (r.price_start_time, r.price_end_time or dt.datetime.max),
        )
        _check_prices_in_force(f"{key[0]} ({key[1]}, {price_currency}, {key[2]})", live, first, last, table)


def _in_force(start: dt.datetime | None, end: dt.datetime | None, first: dt.datetime, last: dt.datetime) -> bool:
    """Whether a price of [start, end) is in force at some time of [first, last]."""
    return start is not None and start <= last and (end is None or end > first)


def _check_prices_in_force(name: str, live: list[Row], first: dt.datetime, last: dt.datetime, table: str) -> None:
    """The prices of `name` in force during the window (by start): each non-NULL and in range, none at odds."""
    for r in live:
        span = _interval(r.price_start_time, r.price_end_time)
        if r.p is None:
            raise SourceDataError(
                f"the list price of {name} in force {span} is NULL (pricing.effective_list.default and "
                f"pricing.default) while the window uses it; fix {table}; nothing was written"
            )
        if abs(r.p) >= UNIT_PRICE_LIMIT:
            raise SourceDataError(
                f"the list price of {name} in force {span} is {r.p.normalize():f}, outside the supported range "
                f"(below {UNIT_PRICE_LIMIT:,}); nothing was written"
            )
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            overlap_end = min((e for e in (a.price_end_time, b.price_end_time) if e is not None), default=None)
            overlaps = overlap_end is None or overlap_end > b.price_start_time
            if overlaps and a.p != b.p and _in_force(b.price_start_time, overlap_end, first, last):
                raise SourceDataError(
                    f"{_disagreement(name, a, b)}, in force at once during the window; fix {table}; nothing was written"
                )


def _disagreement(name: str, a: Row, b: Row) -> str:
    if a.price_start_time == b.price_start_time:
        return f"two list prices of {name} start at {a.price_start_time}: {a.p.normalize():f} and {b.p.normalize():f}"
    return (
        f"list prices of {name} overlap: {_interval(a.price_start_time, a.price_end_time)} at {a.p.normalize():f} "
        f"and {_interval(b.price_start_time, b.price_end_time)} at {b.p.normalize():f}"
    )


def check_fx(first_uncovered: dt.date | None, price_currency: str, currency: str, start: dt.date, end: dt.date) -> None:
    if first_uncovered is not None:
        raise SourceDataError(
            f"no {price_currency}->{currency} rate in fx_rates covers {first_uncovered} (window {start}..{end}): "
            f"its usage could not be converted to {currency}; nothing was written"
        )


# --- before gold is written ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineTotals:
    """What the lines to publish hold: cost per day."""

    cost_by_day: dict[dt.date, Decimal]


def _line_totals(lines: DataFrame, start: dt.date, end: dt.date) -> dict[Key, Row]:
    """Per (usage_date, SKU, cloud, unit) of the window: quantity, cost, and how many lines break each rule."""
    is_priced = F.col("is_priced")
    null_cost = is_priced.isNull() | F.col("effective_cost").isNull() | F.col("list_cost").isNull()
    unpriced = ~F.coalesce(is_priced, F.lit(True))

    def count_of(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0))

    rows = (
        _window(lines, start, end)
        .groupBy(*KEY)
        .agg(
            F.sum("usage_quantity").alias("q"),
            F.sum("effective_cost").alias("cost"),
            count_of(null_cost).alias("null_cost"),
            count_of(F.coalesce(is_priced, F.lit(False)) & F.col("unit_price").isNull()).alias("no_unit_price"),
            count_of(unpriced & ((F.col("effective_cost") != 0) | (F.col("list_cost") != 0))).alias("unpriced_cost"),
            count_of(unpriced & ~F.coalesce(F.col("unpriced_reason") == PUBLISHABLE_UNPRICED, F.lit(False))).alias(
                "bad_reason"
            ),
            F.sort_array(F.collect_set(F.when(unpriced, F.coalesce("unpriced_reason", F.lit("no reason"))))).alias(
                "reasons"
            ),
        )
        .collect()
    )
    return {(r.usage_date, r.sku_name, r.cloud, r.usage_unit): r for r in rows}


def _where(key: Key) -> str:
    return f"{key[1]} ({key[2]}) on {key[0]}"


def check_lines(lines: DataFrame, facts: SourceFacts, start: dt.date, end: dt.date) -> LineTotals:
    """The silver lines of the window against the source: quantity per key, a cost on every line.

    Raises ReconciliationError (one line) on the first difference: a line dropped, doubled, moved, NULL-costed, or
    unpriced without a reason the product publishes.
    """
    got = _line_totals(lines, start, end)
    for key in sorted(got, key=repr):
        _check_line_costs(key, got[key])
    for key in sorted(set(got) | set(facts.quantities), key=repr):
        expected = facts.quantities.get(key, Decimal(0))
        actual = Decimal(got[key].q) if key in got and got[key].q is not None else Decimal(0)
        if actual != expected:
            how = "lost" if abs(actual) < abs(expected) else "added"
            raise ReconciliationError(
                f"source tie-out: the lines to publish carry {actual.normalize():f} {key[3]} of {_where(key)}, the "
                f"raw usage records {expected.normalize():f} (usage {how} between source and gold); nothing was "
                "published"
            )
    cost_by_day: dict[dt.date, Decimal] = {}
    for key, r in got.items():
        cost_by_day[key[0]] = cost_by_day.get(key[0], Decimal(0)) + Decimal(r.cost or 0)
    return LineTotals(cost_by_day)


def _check_line_costs(key: Key, r: Row) -> None:
    """Every line of `key` has a cost, a priced one a unit price, an unpriced one no cost and a publishable reason."""
    if r.null_cost:
        raise ReconciliationError(
            f"{r.null_cost} usage line(s) of {_where(key)} have no cost (NULL); nothing was published"
        )
    if r.no_unit_price:
        raise ReconciliationError(
            f"{r.no_unit_price} usage line(s) of {_where(key)} are priced without a unit price; nothing was published"
        )
    if r.unpriced_cost:
        raise ReconciliationError(
            f"{r.unpriced_cost} unpriced usage line(s) of {_where(key)} carry a cost; nothing was published"
        )
    if r.bad_reason:
        raise ReconciliationError(
            f"{r.bad_reason} usage line(s) of {_where(key)} are unpriced ({', '.join(r.reasons)}); "
            "nothing was published"
        )


def check_allocated(
    billed: dict[dt.date, Decimal], allocated: dict[dt.date, Decimal], currency: str, tolerance: Decimal = TOLERANCE
) -> None:
    """Allocated cost equals billed cost on every day (closed days: their bookings plus corrections)."""
    for day in sorted(set(billed) | set(allocated)):
        b, a = billed.get(day, Decimal(0)), allocated.get(day, Decimal(0))
        if abs(b - a) > tolerance:
            raise ReconciliationError(
                f"allocated {a} != billed {b} {currency} on {day} (difference {b - a}); nothing was published"
            )
