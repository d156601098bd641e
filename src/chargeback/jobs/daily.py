"""The chargeback job: read sources, run the pure steps, check them against the source, write tables.

Steps (each also a task of the Databricks job): `config` -> `price_attribute` (silver `usage_costs`) ->
`allocate_publish` (gold, behind the gate) -> `reconcile` (records the run; fails on imbalance).

Before the first step of a run writes anything, `check_inputs` reads and checks everything the run needs (source
columns, FX coverage of the window, usage records, list prices in force, and that the source has not lost published
usage). Before any gold write, the gate (`tieout`) ties the lines to publish out with the raw usage records and
allocated cost out with billed cost, day by day, and refuses to shrink published cost beyond the allowed share.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.config import CONFIG_TABLES, Config, config_frames
from chargeback.contracts import cost_tables
from chargeback.contracts.cost_tables import POLICY_COVERAGE_DAILY
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY, FOCUS_COSTS
from chargeback.contracts.system_tables import JOBS, PIPELINES, SERVED_ENTITIES, WORKSPACES_LATEST
from chargeback.contracts.table_spec import TableSpec
from chargeback.errors import InputError, ReconciliationError
from chargeback.insights.anomalies import AnomalySettings, cost_anomalies_daily
from chargeback.insights.budgets import budget_status_monthly
from chargeback.insights.focus import focus_costs
from chargeback.jobs import tieout
from chargeback.marts import cost as cost_marts
from chargeback.marts.policy_coverage import policy_coverage_daily
from chargeback.names import TableName
from chargeback.steps.allocation import allocate, assign_pools
from chargeback.steps.attribution import attribute
from chargeback.steps.pricing import apply_discounts_and_fx, price_intervals, price_usage
from chargeback.steps.usage import net_usage, stage_usage, usage_window
from chargeback.steps.workloads import identify_workloads
from chargeback.storage.store import TableStore

TOLERANCE = Decimal("0.01")
STEPS = ("config", "price_attribute", "allocate_publish", "reconcile")


@dataclass(frozen=True)
class SourceTables:
    """Where the system tables are read from (copies of them work too)."""

    usage: TableName = TableName("system", "billing", "usage")
    list_prices: TableName = TableName("system", "billing", "list_prices")
    workspaces: TableName = TableName("system", "access", "workspaces_latest")
    jobs: TableName = TableName("system", "lakeflow", "jobs")
    pipelines: TableName = TableName("system", "lakeflow", "pipelines")
    served_entities: TableName = TableName("system", "serving", "served_entities")


@dataclass(frozen=True)
class RunParams:
    """Everything a run depends on besides config and data, parsed once at the edge."""

    catalog: str
    schema: str
    start_date: dt.date
    end_date: dt.date
    run_id: str
    run_at: dt.datetime
    sources: SourceTables = field(default_factory=SourceTables)
    # Publish even when the run removes more than the config's max_shrink_percent of a day's or month's cost.
    allow_shrink: bool = False

    def __post_init__(self) -> None:
        if self.end_date < self.start_date:
            raise InputError(f"--end-date {self.end_date} is before --start-date {self.start_date}")
        TableName(self.catalog, self.schema, "x")  # validates both identifiers

    def table(self, spec: TableSpec | str) -> TableName:
        return TableName(self.catalog, self.schema, spec if isinstance(spec, str) else spec.table)


@dataclass
class RunSummary:
    """What a run did, for stdout and `reconciliation_runs`."""

    run_id: str
    start_date: dt.date
    end_date: dt.date
    currency: str
    rows_written: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    billed_cost: Decimal = Decimal(0)
    allocated_cost: Decimal = Decimal(0)
    usage_line_count: int = 0
    unpriced_line_count: int = 0
    unpriced_skus: str = ""
    duplicate_record_count: int = 0
    conflicting_record_count: int = 0
    duplicate_record_examples: str = ""
    # What the raw usage of the window nets to, read once per process (`source_facts`).
    source: tieout.SourceFacts | None = field(default=None, repr=False, compare=False)

    @property
    def difference(self) -> Decimal:
        return self.billed_cost - self.allocated_cost

    @property
    def is_balanced(self) -> bool:
        return abs(self.difference) <= TOLERANCE

    def as_json(self) -> str:
        """One machine-readable line for job logs; amounts as exact decimal strings."""
        return json.dumps(
            {
                "run_id": self.run_id,
                "window": [self.start_date.isoformat(), self.end_date.isoformat()],
                "currency": self.currency,
                "billed_cost": str(self.billed_cost),
                "allocated_cost": str(self.allocated_cost),
                "difference": str(self.difference),
                "is_balanced": self.is_balanced,
                "usage_line_count": self.usage_line_count,
                "unpriced_line_count": self.unpriced_line_count,
                "unpriced_skus": self.unpriced_skus,
                "duplicate_record_count": self.duplicate_record_count,
                "conflicting_record_count": self.conflicting_record_count,
                "duplicate_record_examples": self.duplicate_record_examples,
                "rows_written": self.rows_written,
                "step_seconds": self.step_seconds,
            },
            sort_keys=True,
        )


def _optional(store: TableStore, name: TableName, schema: StructType) -> DataFrame:
    """An enrichment table, or an empty one of its schema when the account lacks it (regional, preview)."""
    if store.exists(name):
        return store.read(name)
    return store.spark.createDataFrame([], schema)


def _total(df: DataFrame, column: str = "effective_cost") -> Decimal:
    value = df.agg(F.sum(column)).collect()[0][0]
    return Decimal(value) if value is not None else Decimal(0)


def read_usage(store: TableStore, params: RunParams) -> DataFrame:
    return store.read_required(params.sources.usage, list(tieout.USAGE_COLUMNS))


def read_list_prices(store: TableStore, params: RunParams) -> DataFrame:
    return store.read_required(params.sources.list_prices, list(tieout.LIST_PRICE_COLUMNS))


def source_facts(store: TableStore, params: RunParams, summary: RunSummary) -> tieout.SourceFacts:
    """What the raw usage of the window nets to (computed once per process), and its re-exported records."""
    if summary.source is None:
        facts = tieout.source_facts(read_usage(store, params), params.start_date, params.end_date)
        summary.source = facts
        summary.duplicate_record_count = facts.duplicate_records
        summary.conflicting_record_count = facts.conflicting_records
        summary.duplicate_record_examples = ", ".join(facts.duplicate_examples)
    return summary.source


def check_inputs(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Read and check everything the run needs; runs at the start of a run's first step, before any write.

    Refuses (one line, nothing written): a missing source table or column; a day of the window no FX rate covers;
    a usage record without id, SKU or end time, or with a NULL, NaN or out-of-range quantity; no prices in
    price_currency; two different or a NULL list price in force for a SKU the window uses; a source that lost
    usage the published silver holds (beyond max_shrink_percent, or any of a closed day).
    """
    start, end = params.start_date, params.end_date
    usage, list_prices = read_usage(store, params), read_list_prices(store, params)
    tieout.check_fx(config.first_day_without_fx(start, end), config.price_currency, config.currency, start, end)
    tieout.check_records(usage, str(params.sources.usage), start, end)
    facts = source_facts(store, params, summary)
    tieout.check_prices(list_prices, str(params.sources.list_prices), config.price_currency, facts)
    silver = params.table(cost_tables.USAGE_COSTS)
    if store.exists(silver):
        months = _months_of(store.read(silver), "usage_date", params)
        published = {
            (r.usage_date, r.sku_name, r.cloud, r.usage_unit): (Decimal(r.q or 0), Decimal(r.cost or 0))
            for r in months.groupBy(*tieout.KEY)
            .agg(F.sum("usage_quantity").alias("q"), F.sum("effective_cost").alias("cost"))
            .collect()
        }
        before, after = tieout.estimate_recomputed(published, facts, start, end)
        month_totals: dict[dt.date, Decimal] = {}
        for key, (_, cost) in published.items():
            month_totals[key[0].replace(day=1)] = month_totals.get(key[0].replace(day=1), Decimal(0)) + cost
        _check_shrink(config, params, facts, before, after, month_totals)


def _months_of(df: DataFrame, day: str, params: RunParams) -> DataFrame:
    """Rows of `df` whose `day` falls in a month the window touches."""
    last = (params.end_date.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return df.where(F.col(day).between(F.lit(params.start_date.replace(day=1)), F.lit(last)))


def _check_shrink(
    config: Config,
    params: RunParams,
    facts: tieout.SourceFacts,
    before: dict[dt.date, Decimal],
    after: dict[dt.date, Decimal],
    month_totals: dict[dt.date, Decimal],
) -> None:
    tieout.check_shrink(
        before,
        after,
        month_totals,
        max_share=config.max_shrink_percent / 100,
        allow=params.allow_shrink,
        currency=config.currency,
        is_closed=config.is_closed,
        source_days=facts.days,
    )


def build_usage_costs(store: TableStore, config: Config, params: RunParams) -> DataFrame:
    """Silver for the window, read from the source tables (enrichment tables are optional)."""
    src = params.sources
    return usage_costs(
        read_usage(store, params),
        read_list_prices(store, params),
        Enrichment(
            _optional(store, src.workspaces, WORKSPACES_LATEST),
            _optional(store, src.jobs, JOBS),
            _optional(store, src.pipelines, PIPELINES),
            _optional(store, src.served_entities, SERVED_ENTITIES),
        ),
        config,
        params,
    )


@dataclass(frozen=True)
class Enrichment:
    """The system tables that name workloads and workspaces and carry pipeline tags."""

    workspaces: DataFrame
    jobs: DataFrame
    pipelines: DataFrame
    served_entities: DataFrame


def usage_costs(
    usage: DataFrame, list_prices: DataFrame, enrichment: Enrichment, config: Config, params: RunParams
) -> DataFrame:
    """Silver: netted, priced, identified and attributed usage lines of the window, with their pool."""
    lines = usage_window(usage, params.start_date, params.end_date).transform(stage_usage).transform(net_usage)
    priced = price_usage(lines, price_intervals(list_prices, config.price_currency)).transform(
        apply_discounts_and_fx, config.discounts, config.fx_rates, config.price_currency, config.currency
    )
    identified = identify_workloads(
        priced, enrichment.workspaces, enrichment.jobs, enrichment.pipelines, enrichment.served_entities
    )
    attributed = attribute(identified, config).transform(assign_pools, config.shared_costs)
    return attributed.withColumn("run_id", F.lit(params.run_id)).select(*cost_tables.USAGE_COSTS.column_names)


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
        day = (month + dt.timedelta(days=32)).replace(day=1)
    return first_open if first_open is None else max(first_open, params.start_date)


def publish_start(config: Config, params: RunParams) -> dt.date:
    """The first open day of the window; a window of closed months only is refused."""
    first_open = open_start(config, params)
    if first_open is None:
        raise InputError(f"every month in {params.start_date}..{params.end_date} is closed; nothing to publish")
    return first_open


def _window(store: TableStore, spec: TableSpec, params: RunParams, start: dt.date) -> DataFrame:
    return store.read(params.table(spec)).where(
        (F.col("usage_date") >= F.lit(start)) & (F.col("usage_date") <= F.lit(params.end_date))
    )


def run_config_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Write the config tables so analysts can join on business units and rules."""
    for name, frame in config_frames(store.spark, config).items():
        store.write(params.table(CONFIG_TABLES[name]), CONFIG_TABLES[name], frame)
        summary.rows_written[name] = frame.count()


def run_price_attribute_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    silver = build_usage_costs(store, config, params)
    store.write(
        params.table(cost_tables.USAGE_COSTS),
        cost_tables.USAGE_COSTS,
        silver,
        ("usage_date", params.start_date, params.end_date),
    )
    summary.rows_written["usage_costs"] = _window(store, cost_tables.USAGE_COSTS, params, params.start_date).count()


def run_allocate_publish_step(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Allocate and write gold for the open days of the window; book closed days' changes as corrections.

    The gate runs before anything is written: the silver lines tie out with the raw usage records (`tieout`),
    allocated cost equals billed cost day by day, and published cost does not shrink beyond the allowed share.
    """
    first_open = publish_start(config, params)
    silver = _window(store, cost_tables.USAGE_COSTS, params, params.start_date)
    lines = tieout.check_lines(silver, source_facts(store, params, summary), params.start_date, params.end_date)
    costs = allocate(silver, config.shared_costs, config.unit_ids)
    open_costs = cost_marts.cost_daily(costs.where(F.col("usage_date") >= F.lit(first_open)), params.run_id)
    daily_name = params.table(cost_tables.COST_DAILY)
    booked = store.spark.createDataFrame([], open_costs.schema)
    new_daily = open_costs
    if first_open > params.start_date and store.exists(daily_name):
        existing = store.read(daily_name)
        booked = existing.where(
            (F.col("usage_date") < F.lit(first_open))
            & (F.coalesce("original_usage_date", "usage_date") >= F.lit(params.start_date))
            & (F.coalesce("original_usage_date", "usage_date") < F.lit(first_open))
        ).withColumn("usage_date", F.coalesce("original_usage_date", "usage_date"))
        truth = costs.where(F.col("usage_date") < F.lit(first_open))
        new_daily = open_costs.unionByName(cost_marts.corrections(truth, booked, first_open, params.run_id))

    billed = sum(lines.cost_by_day.values(), Decimal(0))
    charged = F.coalesce("original_usage_date", "usage_date").alias("day")
    allocated_by_day = {
        r.day: Decimal(r.cost or 0)
        for r in new_daily.unionByName(booked).groupBy(charged).agg(F.sum("effective_cost").alias("cost")).collect()
    }
    allocated = sum(allocated_by_day.values(), Decimal(0))
    if abs(billed - allocated) > TOLERANCE:
        raise ReconciliationError(
            f"allocated {allocated} != billed {billed} {config.currency} for {params.start_date}..{params.end_date} "
            f"(difference {billed - allocated}); nothing was written"
        )
    tieout.check_allocated(lines.cost_by_day, allocated_by_day, config.currency, TOLERANCE)
    if store.exists(daily_name):
        # Published cost per charged day of the months the window touches (later corrections included).
        published = (
            store.read(daily_name)
            .where(F.col("usage_date") >= F.lit(params.start_date.replace(day=1)))
            .select(charged, "effective_cost")
        )
        by_day = {
            r.day: Decimal(r.cost or 0)
            for r in _months_of(published, "day", params)
            .groupBy("day")
            .agg(F.sum("effective_cost").alias("cost"))
            .collect()
        }
        month_totals: dict[dt.date, Decimal] = {}
        for day, cost in by_day.items():
            month_totals[day.replace(day=1)] = month_totals.get(day.replace(day=1), Decimal(0)) + cost
        in_window = {d: c for d, c in by_day.items() if params.start_date <= d <= params.end_date}
        _check_shrink(config, params, source_facts(store, params, summary), in_window, lines.cost_by_day, month_totals)

    window = ("usage_date", first_open, params.end_date)
    store.write(daily_name, cost_tables.COST_DAILY, new_daily, window)
    open_lines = silver.where(F.col("usage_date") >= F.lit(first_open))
    store.write(
        params.table(cost_tables.SERVING_COSTS_DAILY),
        cost_tables.SERVING_COSTS_DAILY,
        cost_marts.serving_costs_daily(open_lines, params.run_id),
        window,
    )
    store.write(
        params.table(cost_tables.TAG_COVERAGE_DAILY),
        cost_tables.TAG_COVERAGE_DAILY,
        cost_marts.tag_coverage_daily(open_lines, config.currency, params.run_id),
        window,
    )
    store.write(
        params.table(POLICY_COVERAGE_DAILY),
        POLICY_COVERAGE_DAILY,
        policy_coverage_daily(open_lines, config, params.run_id),
        window,
    )
    _publish_statements(store, config, params, first_open)
    store.write(
        params.table(FOCUS_COSTS),
        FOCUS_COSTS,
        # cost_daily as just written: reading it back is cheaper than allocating again.
        focus_costs(_window(store, cost_tables.COST_DAILY, params, first_open), silver, config, params.run_id),
        ("x_UsageDate", first_open, params.end_date),
    )
    history = _window(
        store, cost_tables.USAGE_COSTS, params, first_open - dt.timedelta(days=AnomalySettings().window_days)
    )
    store.write(
        params.table(COST_ANOMALIES_DAILY),
        COST_ANOMALIES_DAILY,
        cost_anomalies_daily(history, first_open, params.end_date, config.currency, params.run_id),
        window,
    )
    months = ("billing_month", first_open.replace(day=1), params.end_date.replace(day=1))
    store.write(
        params.table(BUDGET_STATUS_MONTHLY),
        BUDGET_STATUS_MONTHLY,
        budget_status_monthly(
            store.read(daily_name), config, _month_starts(*months[1:]), params.end_date, params.run_id
        ),
        months,
    )
    # Every row this run wrote lies between the first month of the window and its end: the date predicate
    # prunes the history partitions, which a filter on the run id alone would scan.
    written_from = params.start_date.replace(day=1)
    for spec, run_column in (
        *((spec, "run_id") for spec in cost_tables.GOLD_TABLES),
        (POLICY_COVERAGE_DAILY, "run_id"),
        (FOCUS_COSTS, "x_RunId"),
        (COST_ANOMALIES_DAILY, "run_id"),
        (BUDGET_STATUS_MONTHLY, "run_id"),
    ):
        (date_column,) = spec.partition_by
        summary.rows_written[spec.table] = (
            store.read(params.table(spec))
            .where(F.col(date_column).between(F.lit(written_from), F.lit(params.end_date)))
            .where(F.col(run_column) == params.run_id)
            .count()
        )


def _month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    months = [first]
    while months[-1] < last:
        months.append((months[-1] + dt.timedelta(days=32)).replace(day=1))
    return months


def _publish_statements(store: TableStore, config: Config, params: RunParams, first_open: dt.date) -> None:
    """Rewrite the monthly statements of the window's months from `cost_daily`.

    Statements of closed months keep their rows once they read `closed`; one still `open` is rewritten
    once more, with the same amounts (its days are never rewritten), to record that it is now closed.
    """
    first_month, last_month = params.start_date.replace(day=1), params.end_date.replace(day=1)
    in_window = (F.col("billing_month") >= F.lit(first_month)) & (F.col("billing_month") <= F.lit(last_month))
    name = params.table(cost_tables.CHARGEBACK_MONTHLY)
    statements = cost_marts.chargeback_monthly(
        store.read(params.table(cost_tables.COST_DAILY)).where(in_window), config, params.run_id
    )
    if store.exists(name):
        kept = store.read(name).where(
            in_window
            & (F.col("statement_status") == "closed")
            & (F.col("billing_month") < F.lit(first_open.replace(day=1)))
        )
        statements = statements.join(kept.select("billing_month").distinct(), "billing_month", "left_anti")
        statements = statements.unionByName(kept)
    store.write(name, cost_tables.CHARGEBACK_MONTHLY, statements, ("billing_month", first_month, last_month))


def reconcile(store: TableStore, config: Config, params: RunParams, summary: RunSummary) -> None:
    """Compare billed cost of the window with what gold holds for it; record the run; fail on imbalance."""
    silver = _window(store, cost_tables.USAGE_COSTS, params, params.start_date)
    daily = store.read(params.table(cost_tables.COST_DAILY))
    window_days = (F.col("day") >= F.lit(params.start_date)) & (F.col("day") <= F.lit(params.end_date))
    # Closed days count through their original booking plus later corrections naming them.
    allocated_rows = daily.withColumn("day", F.coalesce("original_usage_date", "usage_date")).where(window_days)
    summary.billed_cost = _total(silver)
    summary.allocated_cost = _total(allocated_rows)
    summary.usage_line_count = silver.count()
    unpriced = silver.where(~F.col("is_priced"))
    by_sku = (
        unpriced.groupBy("sku_name", "usage_unit", F.coalesce("unpriced_reason", F.lit("no list price")).alias("why"))
        .agg(F.sum("usage_quantity").alias("q"))
        .orderBy("sku_name", "why")
    )
    summary.unpriced_line_count = unpriced.count()
    summary.unpriced_skus = "; ".join(
        f"{r.sku_name} ({r.q.normalize():f} {r.usage_unit}: {r.why})" for r in by_sku.collect()
    )
    source_facts(store, params, summary)  # re-exported records, for the run log


def record_run(store: TableStore, params: RunParams, summary: RunSummary, duration_seconds: float) -> None:
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
            check_inputs(store, config, params, summary)
        STEP_FUNCTIONS[step](store, config, params, summary)
        summary.step_seconds[step] = round(clock() - step_started, 3)
    if "reconcile" in steps:
        record_run(store, params, summary, clock() - started)
        if not summary.is_balanced:
            raise ReconciliationError(
                f"run {params.run_id}: allocated {summary.allocated_cost} != billed {summary.billed_cost} "
                f"{summary.currency} (difference {summary.difference})"
            )
    return summary
