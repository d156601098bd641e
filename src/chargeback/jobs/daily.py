"""The chargeback job: read sources, run the pure steps, check them against the source, write tables.

Steps (each also a task of the Databricks job): `config` -> `price_attribute` (silver `usage_costs`) ->
`allocate_publish` (gold, behind the gate) -> `reconcile` (records the run; fails on imbalance).

Before the first step of a run writes anything, `check_inputs` reads and checks everything the run needs (source
columns, FX coverage of the window, usage records, list prices in force, and that the source has not lost published
usage). Before any gold write, the gate (`check_gate`, with `tieout`) ties the lines to publish out with the raw
usage records and allocated cost out with billed cost, day by day, and refuses to shrink published cost beyond the
allowed share; then `outputs.publish` writes the gold tables, each declared once in `outputs.OUTPUTS`.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import reduce

from pyspark.sql import Column, DataFrame, GroupedData
from pyspark.sql import functions as F

from chargeback.config import CONFIG_TABLES, Config, config_frames
from chargeback.contracts import cost_tables
from chargeback.contracts.system_tables import (
    CLUSTERS,
    JOBS,
    PIPELINES,
    SERVED_ENTITIES,
    WAREHOUSES,
    WORKSPACES_LATEST,
)
from chargeback.contracts.table_spec import TableSpec
from chargeback.dates import DaySet, month_end, next_month
from chargeback.errors import InputError, ReconciliationError
from chargeback.jobs import outputs, plan, shrink, sources, tieout
from chargeback.jobs.params import STEPS, TOLERANCE, RunParams, RunSummary
from chargeback.marts import cost as cost_marts
from chargeback.steps.allocation import allocate, assign_pools, consumption_split
from chargeback.steps.attribution import TagSets, attribute
from chargeback.steps.pricing import apply_discounts_and_fx, price_intervals, price_usage
from chargeback.steps.usage import (
    add_to_published,
    net_records,
    net_usage,
    on_days,
    on_days_column,
    stage_usage,
    usage_window,
)
from chargeback.steps.workloads import Enrichment, identify_workloads
from chargeback.storage.store import TableStore

# Scratch tables of the publish step: its intermediate results, read more than once, written once per run.
STAGED_COST_DAILY = "staging_cost_daily"
STAGED_CONSUMPTION_SHARES = "staging_consumption_shares"
# The consumption split's intermediate results (`consumption.consumption_shares`), by their name there.
STAGED_CONSUMPTION_PARTS = "staging_consumption_{}"


def _sum_or_zero(value: Decimal | None) -> Decimal:
    """A collected SUM of a DECIMAL column: NULL (no rows) is 0."""
    return Decimal(value) if value is not None else Decimal(0)


def _total(df: DataFrame) -> Decimal:
    return _sum_or_zero(df.agg(F.sum("effective_cost")).collect()[0][0])


def read_usage(store: TableStore, params: RunParams) -> DataFrame:
    return store.read_required(params.sources.usage, list(tieout.USAGE_COLUMNS))


def read_list_prices(store: TableStore, params: RunParams) -> DataFrame:
    return store.read_required(params.sources.list_prices, list(tieout.LIST_PRICE_COLUMNS))


def run_plan(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> plan.RunPlan:
    """The days this run recomputes: as its first step logged them, else planned now (`check_inputs` logs it)."""
    if summary.plan is None:
        logged = plan.logged_plan(store, params)
        if (
            logged is not None
            and logged.days
            and not (params.start_date <= logged.days[0].usage_date and logged.days[-1].usage_date <= params.end_date)
        ):
            raise InputError(
                f"run {params.run_id} planned {logged.days[0].usage_date}..{logged.days[-1].usage_date}, outside this "
                f"step's window {params.start_date}..{params.end_date}: start a new run"
            )
        sources = (read_usage(store, params), read_list_prices(store, params))
        summary.plan = logged or plan.plan_run(store, config, params, sources, open_start(config, params))
    return summary.plan


def source_facts(
    store: TableStore, config: Config, params: RunParams, summary: RunSummary, ids_may_repeat: bool | None = None
) -> tieout.SourceFacts:
    """What the raw usage of the days the run recomputes nets to (computed once per process), and its re-exported
    records (`ids_may_repeat`: as `tieout.check_records` found it in this process)."""
    if summary.source is None:
        days = run_plan(store, config, params, summary).recomputed
        usage = on_days(read_usage(store, params), days)
        facts = tieout.source_facts(usage, params.start_date, params.end_date, ids_may_repeat)
        summary.source = facts
        summary.duplicate_record_count = facts.duplicate_records
        summary.conflicting_record_count = facts.conflicting_records
        summary.duplicate_record_examples = ", ".join(facts.duplicate_examples)
    return summary.source


def check_inputs(
    store: TableStore, config: Config, params: RunParams, summary: RunSummary, now: Callable[[], dt.datetime]
) -> None:
    """Read and check everything the run needs; runs at the start of a run's first step, before any write.

    Refuses (one line, nothing written): a missing source table or column (query history too, when a pool splits
    by consumption), or an optional one that exists but cannot be read; a day of the window no FX rate covers;
    a usage record without id, SKU or end time, or with a NULL, NaN or out-of-range quantity, or one without
    usage_date that starts in the window or has no start (`tieout.undated`); no prices in
    price_currency; two different or a NULL list price in force for a SKU the window uses; a source that lost
    usage the published silver holds (beyond max_shrink_percent, or any of a closed day). The records and usage
    checked are those of the days the run recomputes (`jobs.plan`); the plan is logged once they pass.
    """
    start, end = params.start_date, params.end_date
    usage, list_prices = read_usage(store, params), read_list_prices(store, params)
    tieout.check_fx(config.first_day_without_fx(start, end), config.price_currency, config.currency, start, end)
    run = run_plan(store, config, params, summary)
    days = run.recomputed
    records = usage.where(on_days_column(days) | tieout.undated(start, end))
    ids_may_repeat = tieout.check_records(records, str(params.sources.usage), start, end)
    facts = source_facts(store, config, params, summary, ids_may_repeat)
    tieout.check_prices(list_prices, str(params.sources.list_prices), config.price_currency, facts)
    if sources.consumption_pool_ids(config):
        sources.read_query_history(store, params)
    sources.check_optional(store, params)
    silver = params.table(cost_tables.USAGE_COSTS)
    if store.exists(silver):
        months = _months_of(store.read(silver), "usage_date", params)
        published = {
            (r.usage_date, r.sku_name, r.cloud, r.usage_unit): (Decimal(r.q or 0), Decimal(r.cost or 0))
            for r in months.groupBy(*tieout.KEY)
            .agg(F.sum("usage_quantity").alias("q"), F.sum("effective_cost").alias("cost"))
            .collect()
        }
        recomputed = {key: value for key, value in published.items() if key[0] in days}
        before, after = shrink.estimate_recomputed(recomputed, facts, start, end)
        month_totals = _by_month((key[0], cost) for key, (_, cost) in published.items())
        _check_shrink(config, params, facts, before, after, month_totals)
    if not run.is_logged and run.days:
        plan.record_plan(store, params, run, now())


def _by_month(cost_by_day: Iterable[tuple[dt.date, Decimal]]) -> dict[dt.date, Decimal]:
    """Cost per month (its first day) of (day, cost) pairs."""
    totals: dict[dt.date, Decimal] = {}
    for day, cost in cost_by_day:
        totals[day.replace(day=1)] = totals.get(day.replace(day=1), Decimal(0)) + cost
    return totals


def _months_of(df: DataFrame, day: str, params: RunParams) -> DataFrame:
    """Rows of `df` whose `day` falls in a month the window touches."""
    return df.where(F.col(day).between(F.lit(params.start_date.replace(day=1)), F.lit(month_end(params.end_date))))


def _check_shrink(
    config: Config,
    params: RunParams,
    facts: tieout.SourceFacts,
    before: dict[dt.date, Decimal],
    after: dict[dt.date, Decimal],
    month_totals: dict[dt.date, Decimal],
) -> None:
    shrink.check_shrink(
        before,
        after,
        month_totals,
        max_share=config.max_shrink_percent / 100,
        allow=params.allow_shrink,
        currency=config.currency,
        is_closed=config.is_closed,
        source_days=facts.days,
    )


def build_usage_costs(store: TableStore, config: Config, params: RunParams, run: plan.RunPlan) -> DataFrame:
    """Silver of the days whose lines `run` recomputes, from the source tables (enrichment tables are optional).

    A day is recomputed whole, or (`lines_since` maps it to a date) keeps its published lines and adds to them the
    records ingested on or after that date, all new to them (`jobs.plan`, checked again by `_addable`): each line
    they touch is netted again (`add_to_published`) and priced and attributed as a whole run does, from the
    quantity of all its records; only the new records are read.
    """
    src = params.sources
    usage = on_days(read_usage(store, params), run.silver_days)
    enrichment = Enrichment(
        sources.optional(store, src.workspaces, WORKSPACES_LATEST),
        sources.optional(store, src.jobs, JOBS),
        sources.optional(store, src.pipelines, PIPELINES),
        sources.optional(store, src.served_entities, SERVED_ENTITIES),
        sources.optional(store, src.warehouses, WAREHOUSES),
        sources.optional(store, src.clusters, CLUSTERS),
    )
    list_prices = read_list_prices(store, params)
    silver = params.table(cost_tables.USAGE_COSTS)
    lines_since = _addable(usage, store.read(silver), run) if store.exists(silver) else run.lines_since
    partial = _days_by_since(lines_since)
    if not partial:
        return usage_costs(usage, list_prices, enrichment.for_records(usage), config, params)
    whole_records = on_days(usage, DaySet.of(d for d, since in lines_since.items() if since is None))
    new_records = usage.where(_ingested_since(partial))
    whole = usage_lines(whole_records, params)
    new_lines = stage_usage(new_records, params.dedupe_usage).transform(net_records)
    published = on_days(store.read(silver), DaySet.of(day for days in partial.values() for day in days))
    kept = published.join(new_lines.select("usage_line_id"), "usage_line_id", "left_anti")
    added = add_to_published(new_lines, published)
    records = whole_records.unionByName(new_records)
    named = enrichment.for_records(records)
    return cost_lines(whole.unionByName(added), list_prices, named, records, config, params).unionByName(
        kept.select(*cost_tables.USAGE_COSTS.column_names)
    )


def _days_by_since(lines_since: dict[dt.date, dt.date | None]) -> dict[dt.date, list[dt.date]]:
    """The days added to (not recomputed whole), by the date their new records are ingested from."""
    partial: dict[dt.date, list[dt.date]] = {}
    for day, since in lines_since.items():
        if since is not None:
            partial.setdefault(since, []).append(day)
    return partial


def _ingested_since(partial: dict[dt.date, list[dt.date]]) -> Column:
    """Records of the days of `partial` (by `since` date) ingested on or after their date."""
    return reduce(
        operator.or_,
        (on_days_column(DaySet.of(days)) & (F.col("ingestion_date") >= F.lit(s)) for s, days in partial.items()),
    )


def _addable(usage: DataFrame, published: DataFrame, run: plan.RunPlan) -> dict[dt.date, dt.date | None]:
    """`run.lines_since`, with each day to add to recomputed whole unless its published lines are still as the plan
    found them: they hold every record the source had for the day but the new ones (their count plus the new
    records' is the day's logged count), and none of the new ones yet (their latest ingestion is before it).

    So a retried or repeated step (its first attempt wrote silver), or records that arrived after the plan was
    logged, recompute the day whole rather than add records twice. A first attempt that left neither a line holding
    a new record nor a different count only dropped new lines that netted to zero: adding again gives the same.
    """
    partial = _days_by_since(run.lines_since)
    if not partial:
        return run.lines_since
    held = plan.held_records(published, DaySet.of(day for days in partial.values() for day in days))
    by_day = usage.where(_ingested_since(partial)).groupBy("usage_date").agg(F.count(F.lit(1)).alias("n"))
    new = {r.usage_date: r.n for r in by_day.collect()}
    logged = {d.usage_date: d.state.records if d.state else 0 for d in run.days}
    addable = dict(run.lines_since)
    for day, since in run.lines_since.items():
        if since is None:
            continue
        count, last = held.get(day, (0, None))
        if count + new.get(day, 0) != logged[day] or (last is not None and last >= since):
            addable[day] = None
    return addable


def usage_lines(usage: DataFrame, params: RunParams) -> DataFrame:
    """The netted usage lines of the window's records (`net_usage`)."""
    return stage_usage(usage_window(usage, params.start_date, params.end_date), params.dedupe_usage).transform(
        net_usage
    )


def cost_lines(
    lines: DataFrame,
    list_prices: DataFrame,
    enrichment: Enrichment,
    records: DataFrame,
    config: Config,
    params: RunParams,
) -> DataFrame:
    """Silver rows of usage lines (netted from `records`): priced, identified and attributed, with their pool."""
    priced = price_usage(lines, price_intervals(list_prices, config.price_currency)).transform(
        apply_discounts_and_fx, config.discounts, config.fx_rates, config.price_currency, config.currency
    )
    identified = identify_workloads(priced, enrichment)
    tag_sets = TagSets.of_records(records, enrichment.pipelines)
    attributed = attribute(identified, config, tag_sets).transform(assign_pools, config.shared_costs)
    return attributed.withColumn("run_id", F.lit(params.run_id)).select(*cost_tables.USAGE_COSTS.column_names)


def usage_costs(
    usage: DataFrame, list_prices: DataFrame, enrichment: Enrichment, config: Config, params: RunParams
) -> DataFrame:
    """Silver: netted, priced, identified and attributed usage lines of the window, with their pool."""
    return cost_lines(usage_lines(usage, params), list_prices, enrichment, usage, config, params)


def open_start(config: Config, params: RunParams) -> dt.date | None:
    """First day of the window in an open month (None when the whole window is closed).

    Closed months must precede open ones inside a window: a statement is closed in order.
    """
    day, first_open = params.start_date, None
    while day <= params.end_date:
        month = day.replace(day=1)
        is_closed = config.is_closed(month)
        if first_open is None and not is_closed:
            first_open = day
        elif first_open is not None and is_closed:
            raise InputError(f"closed month {month:%Y-%m} follows an open month in the window; close months in order")
        day = next_month(month)
    return first_open if first_open is None else max(first_open, params.start_date)


def publish_start(config: Config, params: RunParams) -> dt.date:
    """The first open day of the window; a window of closed months only is refused."""
    first_open = open_start(config, params)
    if first_open is None:
        raise InputError(f"every month in {params.start_date}..{params.end_date} is closed; nothing to publish")
    return first_open


def _read_from(store: TableStore, spec: TableSpec, params: RunParams, start: dt.date) -> DataFrame:
    return usage_window(store.read(params.table(spec)), start, params.end_date)


def run_config_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Write the config tables so analysts can join on business units and rules."""
    for name, frame in config_frames(store.spark, config).items():
        store.write(params.table(CONFIG_TABLES[name]), CONFIG_TABLES[name], frame)
        summary.rows_written[name] = store.rows_written(params.table(CONFIG_TABLES[name]))


def run_price_attribute_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Silver for the days the plan recomputes (whole, or new records added to the published lines)."""
    run = run_plan(store, config, params, summary)
    silver = build_usage_costs(store, config, params, run)
    days = run.silver_days
    store.write(params.table(cost_tables.USAGE_COSTS), cost_tables.USAGE_COSTS, silver, ("usage_date", days))
    summary.rows_written["usage_costs"] = store.rows_written(params.table(cost_tables.USAGE_COSTS)) if days else 0


def run_allocate_publish_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Allocate and write gold for the open days of the window; book closed days' changes as corrections.

    No table is written before the gate has passed (`check_gate`) but the run's scratch tables (`STAGED_*`); then
    every table of `outputs.OUTPUTS`, each after those it reads (`outputs.publish`).
    """
    first_open = publish_start(config, params)
    days = run_plan(store, config, params, summary).recomputed
    silver = on_days(store.read(params.table(cost_tables.USAGE_COSTS)), days)
    usage = sources.consumption_usage(store, config, params, days.first if days else params.end_date)
    # Staged: the gate and the writes read them (and compute them once).
    shares = consumption_split(
        silver,
        config.shared_costs,
        usage,
        lambda part, df: store.stage(params.scratch(STAGED_CONSUMPTION_PARTS.format(part)), df),
    )
    if shares is not None:
        shares = store.stage(params.scratch(STAGED_CONSUMPTION_SHARES), shares)
    costs = allocate(silver, config.shared_costs, config.unit_ids, shares=shares)
    daily, booked, carried = book_corrections(store, costs, params, first_open, days)
    # Rewriting first_open must not drop the corrections booked on it for days the window no longer reaches.
    daily = store.stage(params.scratch(STAGED_COST_DAILY), daily, *([carried] if carried is not None else []))
    check_gate(store, config, params, summary, silver, daily.unionByName(booked))
    outputs.publish(outputs.Inputs(store, config, params, first_open, days, silver, daily, shares), summary)


def book_corrections(
    store: TableStore, costs: DataFrame, params: RunParams, first_open: dt.date, days: DaySet
) -> tuple[DataFrame, DataFrame, DataFrame | None]:
    """The cost_daily rows to write, what the closed days of the window booked before (at their own day), and the
    corrections booked on `first_open` before for closed days before the window, kept as they are (None when
    nothing is published yet).

    The rows to write are the allocated costs of the open days plus, when the window starts in closed months and
    the run recomputes `first_open` (and with it every closed day of the window: `plan.plan_run`),
    corrections booked on `first_open` for the difference between the closed days' allocation now and their
    bookings so far (original rows plus earlier corrections).
    """
    open_costs = cost_marts.cost_daily(costs.where(F.col("usage_date") >= F.lit(first_open)), params.run_id)
    daily_name = params.table(cost_tables.COST_DAILY)
    booked = store.spark.createDataFrame([], open_costs.schema)
    if not store.exists(daily_name):
        return open_costs, booked, None
    # Corrections booked on first_open for closed days the window no longer reaches: this run does not re-book
    # them, and rewriting first_open must not drop them.
    carried = store.read(daily_name).where(
        (F.col("usage_date") == F.lit(first_open)) & (F.col("original_usage_date") < F.lit(params.start_date))
    )
    if first_open <= params.start_date or first_open not in days:
        return open_costs, booked, carried
    booking_day = cost_marts.charged_day()
    booked = (
        store.read(daily_name)
        .where(
            (F.col("usage_date") < F.lit(first_open))
            & (booking_day >= F.lit(params.start_date))
            & (booking_day < F.lit(first_open))
        )
        .withColumn("usage_date", booking_day)
    )
    truth = costs.where(F.col("usage_date") < F.lit(first_open))
    return open_costs.unionByName(cost_marts.corrections(truth, booked, first_open, params.run_id)), booked, carried


def check_gate(
    store: TableStore, config: Config, params: RunParams, summary: RunSummary, silver: DataFrame, allocated: DataFrame
) -> None:
    """The gate before any gold write; raises (one line, nothing written) unless all of these hold.

    The silver lines tie out with the raw usage records (`tieout.check_lines`); `allocated` (the cost_daily rows
    to write plus the closed days' bookings) equals billed cost in total and day by day; published cost does not
    shrink beyond the allowed share.
    """
    facts = source_facts(store, config, params, summary)
    billed_by_day = tieout.check_lines(silver, facts, params.start_date, params.end_date).cost_by_day
    billed = sum(billed_by_day.values(), Decimal(0))
    in_window = cost_marts.charged_day().between(F.lit(params.start_date), F.lit(params.end_date))
    allocated_by_day = _cost_per_day(allocated.where(in_window).groupBy(cost_marts.charged_day().alias("day")))
    total = sum(allocated_by_day.values(), Decimal(0))
    if abs(billed - total) > TOLERANCE:
        raise ReconciliationError(
            f"allocated {total} != billed {billed} {config.currency} for {params.start_date}..{params.end_date} "
            f"(difference {billed - total}); nothing was written"
        )
    tieout.check_allocated(billed_by_day, allocated_by_day, config.currency, TOLERANCE)
    _check_published_shrink(store, config, params, summary, facts, billed_by_day)


def _cost_per_day(by_day: GroupedData) -> dict[dt.date, Decimal]:
    return {r.day: Decimal(r.cost or 0) for r in by_day.agg(F.sum("effective_cost").alias("cost")).collect()}


def _check_published_shrink(
    store: TableStore,
    config: Config,
    params: RunParams,
    summary: RunSummary,
    facts: tieout.SourceFacts,
    recomputed: dict[dt.date, Decimal],
) -> None:
    """Published cost of the days the run recomputes (in `cost_daily`) against what this run would publish for them."""
    daily_name = params.table(cost_tables.COST_DAILY)
    if not store.exists(daily_name):
        return
    # Published cost per charged day of the months the window touches (later corrections included).
    published = (
        store.read(daily_name)
        .where(F.col("usage_date") >= F.lit(params.start_date.replace(day=1)))
        .select(cost_marts.charged_day().alias("day"), "effective_cost")
    )
    by_day = _cost_per_day(_months_of(published, "day", params).groupBy("day"))
    days = run_plan(store, config, params, summary).recomputed
    in_window = {d: c for d, c in by_day.items() if d in days}
    _check_shrink(config, params, facts, in_window, recomputed, _by_month(by_day.items()))


def reconcile(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Compare billed cost of the window with what gold holds for it; record the run; fail on imbalance."""
    silver = _read_from(store, cost_tables.USAGE_COSTS, params, params.start_date)
    daily = store.read(params.table(cost_tables.COST_DAILY))
    window_days = (F.col("day") >= F.lit(params.start_date)) & (F.col("day") <= F.lit(params.end_date))
    # Closed days count through their original booking plus later corrections naming them.
    allocated_rows = daily.withColumn("day", cost_marts.charged_day()).where(window_days)
    # One pass over silver for its cost and counts; the unpriced SKUs are listed only when there are some.
    billed, lines, unpriced_lines = silver.agg(
        F.sum("effective_cost"), F.count(F.lit(1)), F.count(F.when(~F.col("is_priced"), F.lit(1)))
    ).collect()[0]
    summary.billed_cost = _sum_or_zero(billed)
    summary.allocated_cost = _total(allocated_rows)
    summary.usage_line_count, summary.unpriced_line_count = int(lines), int(unpriced_lines)
    if unpriced_lines:
        by_sku = (
            silver.where(~F.col("is_priced"))
            .groupBy("sku_name", "usage_unit", F.coalesce("unpriced_reason", F.lit("no list price")).alias("why"))
            .agg(F.sum("usage_quantity").alias("q"))
            .orderBy("sku_name", "why")
        )
        summary.unpriced_skus = "; ".join(
            f"{r.sku_name} ({r.q.normalize():f} {r.usage_unit}: {r.why})" for r in by_sku.collect()
        )
    source_facts(store, config, params, summary)  # re-exported records, for the run log


def record_run(
    store: TableStore, params: RunParams, summary: RunSummary, duration_seconds: float, recorded_at: dt.datetime
) -> None:
    row = [
        (
            params.run_id,
            params.run_at.replace(tzinfo=None),
            params.start_date,
            params.end_date,
            summary.billed_cost,
            summary.allocated_cost,
            summary.difference,
            summary.is_balanced,
            summary.usage_line_count,
            summary.unpriced_line_count,
            summary.unpriced_skus,
            summary.currency,
            Decimal(f"{duration_seconds:.3f}"),
            json.dumps(summary.rows_written, sort_keys=True),
            json.dumps(summary.step_seconds, sort_keys=True),
            summary.duplicate_record_count,
            summary.conflicting_record_count,
            summary.duplicate_record_examples,
            summary.plan.mode if summary.plan else None,
            summary.plan.watermark if summary.plan else None,
            len(summary.plan.recomputed) if summary.plan else 0,
            recorded_at.replace(tzinfo=None),
        )
    ]
    spec = cost_tables.RECONCILIATION_RUNS
    schema = ", ".join(f"{c.name} {c.type}" for c in spec.columns)
    store.append(params.table(spec), spec, store.spark.createDataFrame(row, schema))


STEP_FUNCTIONS: dict[str, Callable[[TableStore, Config, RunParams, RunSummary], None]] = {
    "config": run_config_step,
    "price_attribute": run_price_attribute_step,
    "allocate_publish": run_allocate_publish_step,
    "reconcile": reconcile,
}


def run(
    store: TableStore,
    config: Config,
    params: RunParams,
    steps: tuple[str, ...] = STEPS,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunSummary:
    """Run `steps` in order. The first checks every input before anything is written (`check_inputs`); the
    reconcile step records the run and raises if it does not balance."""
    if "allocate_publish" in steps:
        publish_start(config, params)  # refuse a window of closed months before any step writes
    summary = RunSummary(params.run_id, params.start_date, params.end_date, config.currency)
    started = clock()
    for index, step in enumerate(steps):
        step_started = clock()
        if index == 0:
            check_inputs(store, config, params, summary, wall_clock)
        STEP_FUNCTIONS[step](store, config, params, summary)
        summary.step_seconds[step] = round(clock() - step_started, 3)
    if "reconcile" in steps:
        record_run(store, params, summary, clock() - started, wall_clock())
        if not summary.is_balanced:
            raise ReconciliationError(
                f"run {params.run_id}: allocated {summary.allocated_cost} != billed {summary.billed_cost} "
                f"{summary.currency} (difference {summary.difference})"
            )
    return summary
