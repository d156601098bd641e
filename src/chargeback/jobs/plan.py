"""Which days a run recomputes: incremental by what the source holds per day, with full runs as the safety net.

Each run logs, per usage day of its window, what the source held when it read it (records, summed quantity,
latest `ingestion_date`) in `run_plans`, and the window's watermark (the latest `ingestion_date`). The next run
reads the source the same way (one aggregate by day and ingestion date) and compares each day with the latest
balanced run that covered it:

- unchanged: not recomputed; its silver and gold stay as that run left them;
- the records ingested by that run's watermark exactly as it saw them (so every record ingested later is new to the
  day's published lines), and those lines holding every record it saw (none netted to zero and went): the records
  ingested after the watermark are added to the lines they touch (`lines_since`); the rest of the day's silver is
  kept;
- anything else (records gone, a quantity rewritten in place, records ingested on the watermark's own day after
  that run read it, a day never covered or computed under another config, a copy whose re-exports are resolved by
  content, the statements a consumption split reads, a pipeline re-tagged since its lines were attributed): the
  whole day. On a copy of the usage table, each day's records are also summed as hashes (a record rewritten in
  place changes them), and the days a re-exported record's copies are on are recomputed together.

A recomputed day in a closed month books corrections on the first open day, against every closed day of the window,
so those days are re-allocated too (their silver is not recomputed). A full run recomputes every day: asked for
(`--full`), periodic (`full_every_days`), the first run, or a config, release or source different from the last
balanced run's.

The plan is logged before the first write, so every step of a run (a task of its own on Databricks) follows the same
plan even if the source grows meanwhile; what arrives later is the next run's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType

import chargeback
from chargeback.config import Config
from chargeback.contracts.cost_tables import RECONCILIATION_RUNS, RUN_PLANS, USAGE_COSTS
from chargeback.contracts.system_tables import PIPELINES
from chargeback.contracts.table_spec import with_null_columns
from chargeback.dates import DaySet
from chargeback.jobs.params import RunParams
from chargeback.jobs.sources import consumption_pool_ids, optional, pool_statements
from chargeback.steps.consumption import utc_date
from chargeback.steps.usage import on_days_column, staged_columns
from chargeback.steps.workloads import latest_pipelines
from chargeback.storage.store import TableStore

FULL, INCREMENTAL = "full", "incremental"
# What the source holds for a day of records of one ingestion date: (ingestion_date, records, quantity, digest).
_Part = tuple[dt.date | None, int, Decimal, Decimal | None]


@dataclass(frozen=True)
class DayState:
    """What the sources hold for a usage day: its usage records (and the statements a consumption split reads)."""

    records: int
    quantity: Decimal
    last_ingestion: dt.date | None
    # A copy's records only (`dedupe_usage`): the sum of a 64-bit hash of each record's id and content, so a record
    # rewritten in place changes the day even when its count and quantity do not. None for the system table, whose
    # records are never rewritten (corrections are new records).
    digest: Decimal | None = None
    # Pools split by consumption only: the sum of a 64-bit hash of each statement of their warehouses that overlaps
    # the day (`query_days`): statements arrive in query history after the usage they split, and change the split.
    queries: Decimal | None = None
    # (ingestion_date, records, quantity, digest) per ingestion date, as read now (not logged, not compared).
    by_ingestion: tuple[_Part, ...] = field(default=(), compare=False)

    def through(self, day: dt.date) -> DayState | None:
        """What the day holds of records ingested on or before `day`; None when a record has no ingestion date."""
        if any(part[0] is None for part in self.by_ingestion):
            return None
        held = _state_of(tuple(part for part in self.by_ingestion if part[0] is not None and part[0] <= day))
        return dataclasses.replace(held, queries=self.queries)


# Decimal digits a sum of (38,18) quantities needs to stay exact in Python (its default context keeps 28).
_EXACT_DIGITS = 80


def _state_of(by_ingestion: tuple[_Part, ...]) -> DayState:
    """The records of a day's (ingestion_date, records, quantity, digest) parts, summed exactly."""
    with localcontext(Context(prec=_EXACT_DIGITS)):
        quantity = sum((q for _, _, q, _ in by_ingestion), Decimal(0))
        digests = [h for _, _, _, h in by_ingestion if h is not None]
        digest = sum(digests, Decimal(0)) if digests and len(digests) == len(by_ingestion) else None
    last = max((d for d, _, _, _ in by_ingestion if d is not None), default=None)
    return DayState(sum(n for _, n, _, _ in by_ingestion), quantity, last, digest, by_ingestion=by_ingestion)


@dataclass(frozen=True)
class _Seen:
    """A day as the last balanced run that covered it saw it (state None: no records)."""

    state: DayState | None
    watermark: dt.date | None
    run_id: str
    fingerprint: str
    linked: bool = False  # held a copy of a record also on another day (`linked_days`)


@dataclass(frozen=True)
class DayPlan:
    usage_date: dt.date
    state: DayState | None  # None: the source holds no records for the day
    recomputed: bool
    since: dt.date | None  # recomputed in part: records ingested on or after this date added to the published lines
    reason: str


@dataclass(frozen=True)
class RunPlan:
    """The days a run recomputes, and what it saw of the source."""

    mode: str
    watermark: dt.date | None
    fingerprint: str
    days: tuple[DayPlan, ...] = field(default=())
    # Read back from `run_plans` (an earlier step of the run logged it), rather than planned by this process.
    is_logged: bool = False
    # A copy's days that hold a copy of a record also on another day (`linked_days`).
    linked: frozenset[dt.date] = frozenset()

    @property
    def recomputed(self) -> DaySet:
        """Days whose gold the run rewrites."""
        return DaySet.of(d.usage_date for d in self.days if d.recomputed)

    @property
    def lines_since(self) -> dict[dt.date, dt.date | None]:
        """Days whose silver lines the run recomputes: the whole day (None), or the records ingested on or after the
        date added to its published lines."""
        return {d.usage_date: d.since for d in self.days if d.recomputed and d.reason != _REBOOKED}

    @property
    def silver_days(self) -> DaySet:
        return DaySet.of(self.lines_since)


_REBOOKED = "a closed day re-allocated: corrections of the closed months are booked again"
_RETAGGED = "a pipeline of its lines was re-tagged since they were attributed"
_LINKED = "holds a copy of a record that a recomputed day holds too (re-exported onto another day)"


def config_fingerprint(config: Config, params: RunParams, list_prices: DataFrame) -> str:
    """What, besides the usage, decides a day's silver and gold: a day computed under another one is recomputed.

    The config, the release, the source tables and the list prices (a hash of every row: a new or changed price
    reprices every day); names of jobs or workspaces renamed since are refreshed by the periodic full run (pipeline
    tags, which attribute, are compared day by day: `retagged_days`). Also the engine's version and session time
    zone: a line's `usage_line_id` (text of its key, timestamps included) must read the same for new records to find
    their published line.
    """
    row_hash = F.xxhash64(*(F.to_json(F.struct(c)) for c in list_prices.columns)).cast("decimal(38,0)")
    prices = list_prices.agg(F.count(F.lit(1)), F.sum(row_hash)).collect()[0]
    spark = list_prices.sparkSession
    engine = (spark.version, spark.conf.get("spark.sql.session.timeZone"))
    parts = (
        chargeback.__version__,
        repr(config),
        repr(params.sources),
        str(params.dedupe_usage),
        repr(tuple(prices)),
        repr(engine),
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def source_days(usage: DataFrame, start: dt.date, end: dt.date, digest: bool = False) -> dict[dt.date, DayState]:
    """One aggregate by day and ingestion date over the window: records, summed quantity, latest ingestion date,
    and with `digest` (a copy) the records' digest (`DayState.digest`)."""
    quantity = F.col("usage_quantity")
    if isinstance(usage.schema["usage_quantity"].dataType, DoubleType | FloatType):
        quantity = F.when(~F.isnan(quantity), quantity)  # a broken copy: check_records names the record next
    guarded = usage.withColumn("usage_quantity", quantity)  # a NaN fails a cast to DECIMAL (and so the run)
    # Of what the pipeline reads of a record (`staged_columns`): a column it ignores (a copy's load time) is no change.
    # Up to 2^63 per record, summed as an exact decimal: 38 digits hold far more records than a window has.
    digests = F.sum(F.xxhash64(*staged_columns(guarded)).cast("decimal(38,0)"))
    rows = (
        guarded.where(F.col("usage_date").between(F.lit(start), F.lit(end)))
        .groupBy("usage_date", "ingestion_date")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("usage_quantity").cast("decimal(38,18)")).alias("q"),
            (digests if digest else F.lit(None).cast("decimal(38,0)")).alias("h"),
        )
        .collect()
    )
    parts: dict[dt.date, list[_Part]] = {}
    for r in rows:
        parts.setdefault(r.usage_date, []).append(
            (r.ingestion_date, r.n, Decimal(r.q or 0), None if r.h is None else Decimal(r.h))
        )
    in_order = {day: sorted(p, key=lambda part: (part[0] is None, part[0] or dt.date.min)) for day, p in parts.items()}
    return {day: _state_of(tuple(p)) for day, p in in_order.items()}


def query_days(statements: DataFrame, start: dt.date, end: dt.date) -> dict[dt.date, Decimal]:
    """Per day of [start, end], the sum of a 64-bit hash of each of `statements` (`jobs.sources.pool_statements`:
    as the consumption split reads them) that overlaps it, from its start to its end (a running one to the end)."""
    # UTC days whatever the session's zone, clamped to the window (a bogus end a century away spans no more).
    first_day = F.greatest(utc_date(F.unix_micros("start_time")), F.lit(start))
    last_day = F.least(F.coalesce(utc_date(F.unix_micros("end_time")), F.lit(end)), F.lit(end))
    statement = F.xxhash64(*statements.columns).cast("decimal(38,0)")
    rows = (
        statements.where(first_day <= last_day)
        .select(F.explode(F.sequence(first_day, last_day)).alias("day"), statement.alias("h"))
        .groupBy("day")
        .agg(F.sum("h").alias("h"))
        .collect()
    )
    return {r.day: Decimal(r.h) for r in rows}


def retagged_days(silver: DataFrame, pipelines: DataFrame, days: DaySet) -> set[dt.date]:
    """Days of `days` with a published pipeline line attributed under tags its pipeline no longer has (its latest
    `system.lakeflow.pipelines` row): pipeline tags attribute lines, and a full run would attribute them anew."""
    current = latest_pipelines(pipelines).select(
        F.col("workspace_id").alias("_ws"),
        F.col("pipeline_id").alias("_pipeline"),
        F.col("pipeline_tags_json").alias("_tags"),
    )
    lines = (
        silver.where(on_days_column(days) & (F.col("workload_type") == "pipeline"))
        .select("usage_date", "workspace_id", "workload_id", "pipeline_tags_json")
        .distinct()
    )
    same_pipeline = (F.col("workspace_id") == F.col("_ws")) & (F.col("workload_id") == F.col("_pipeline"))
    retagged = lines.join(F.broadcast(current), same_pipeline, "left").where(
        ~F.coalesce(F.col("_tags"), F.lit("[]")).eqNullSafe(F.col("pipeline_tags_json"))
    )
    return {r[0] for r in retagged.select("usage_date").distinct().collect()}


def held_records(silver: DataFrame, days: DaySet) -> dict[dt.date, tuple[int, dt.date | None]]:
    """Per day of `days`, the source records its silver lines hold (`source_record_count` summed) and the latest
    ingestion date among them."""
    rows = (
        silver.where(on_days_column(days))
        .groupBy("usage_date")
        .agg(F.sum("source_record_count").alias("n"), F.max("last_ingestion_date").alias("last"))
        .collect()
    )
    return {r.usage_date: (int(r.n or 0), r.last) for r in rows}


def _seen(store: TableStore, params: RunParams) -> tuple[dict[dt.date, _Seen], dict[dt.date, str], str | None]:
    """What earlier runs left of each day of the window, in the order their plans were logged.

    Per day: the latest balanced run that covered it, and the days whose silver a later run that did not balance
    (failed, or still running) may have rewritten; and the fingerprint of the latest balanced run (None: none).
    """
    runs_name, plans_name = params.table(RECONCILIATION_RUNS), params.table(RUN_PLANS)
    if not store.exists(runs_name) or not store.exists(plans_name):
        return {}, {}, None
    balanced = {r.run_id for r in store.read(runs_name).where(F.col("is_balanced")).select("run_id").collect()}
    plans = _with_every_column(store.read(plans_name))
    rows = sorted(
        plans.where(F.col("usage_date").between(F.lit(params.start_date), F.lit(params.end_date)))
        .select(
            "run_id",
            "planned_at",
            "usage_date",
            "source_record_count",
            "source_quantity",
            "last_ingestion_date",
            "source_watermark",
            "is_recomputed",
            "config_fingerprint",
            "source_digest",
            "query_digest",
            "has_copies_elsewhere",
        )
        .collect(),
        key=lambda r: (r.planned_at, r.run_id),
    )
    seen: dict[dt.date, _Seen] = {}
    unsettled: dict[dt.date, str] = {}
    last_fingerprint = None
    for r in rows:  # oldest first: a later row replaces an earlier one
        if r.run_id in balanced:
            state = _logged_state(r)
            seen[r.usage_date] = _Seen(
                state if r.source_record_count else None,
                r.source_watermark,
                r.run_id,
                r.config_fingerprint,
                bool(r.has_copies_elsewhere),
            )
            unsettled.pop(r.usage_date, None)
            last_fingerprint = r.config_fingerprint
        elif r.is_recomputed:
            unsettled[r.usage_date] = r.run_id
    return seen, unsettled, last_fingerprint


def _last_full_at(store: TableStore, params: RunParams) -> dt.datetime | None:
    name = params.table(RECONCILIATION_RUNS)
    if not store.exists(name) or "run_mode" not in store.read(name).columns:
        return None
    row = store.read(name).where(F.col("is_balanced") & (F.col("run_mode") == FULL)).agg(F.max("run_at")).collect()
    return row[0][0]


def _full_reason(store: TableStore, params: RunParams, fingerprint: str, last: str | None) -> str | None:
    if params.full:
        return "a full run was asked for"
    if last is None:
        return "no earlier balanced run"
    if last != fingerprint:
        return "the config, release or sources differ from the last balanced run's"
    if params.full_every_days:
        last_full = _last_full_at(store, params)
        due = dt.timedelta(days=params.full_every_days)
        if last_full is None or params.run_at.replace(tzinfo=None) - last_full >= due:
            return f"no full run in the last {params.full_every_days} days"
    return None


_NOT_HELD = "the published lines do not hold the records of the day (lines that netted to zero, or records read late)"


def _day_plan(
    day: dt.date, now: DayState | None, seen: _Seen | None, fingerprint: str, lines_hold: int | None
) -> DayPlan:
    """The plan of one day; `lines_hold`: the source records its published silver lines hold (None: lines are
    never added to, as for a copy whose re-exported records are resolved by content)."""
    if seen is None:
        return DayPlan(day, now, True, None, "not covered by an earlier balanced run")
    if seen.fingerprint != fingerprint:
        return DayPlan(day, now, True, None, f"run {seen.run_id} computed it with another config, release or sources")
    if now is not None and seen.state is not None and now.queries != seen.state.queries:
        why = f"the statements of the consumption pools' warehouses that overlap it changed since run {seen.run_id}"
        return DayPlan(day, now, True, None, why)
    if now == seen.state:
        return DayPlan(day, now, False, None, f"unchanged since run {seen.run_id}")
    if now is None:
        return DayPlan(day, now, True, None, "the source holds no records for the day any more")
    if lines_hold is None:
        return DayPlan(day, now, True, None, "a copy: its re-exported records are resolved by content over the day")
    if seen.state is None or seen.watermark is None:
        return DayPlan(day, now, True, None, f"run {seen.run_id} saw no records of the day")
    if now.through(seen.watermark) != seen.state:
        return DayPlan(
            day,
            now,
            True,
            None,
            f"records ingested by {seen.watermark} changed since run {seen.run_id} (gone, rewritten, or ingested "
            "on that day after it read them)",
        )
    if lines_hold != seen.state.records:
        return DayPlan(day, now, True, None, _NOT_HELD)
    since = seen.watermark + dt.timedelta(days=1)
    return DayPlan(day, now, True, since, f"records ingested after {seen.watermark} added to the lines they touch")


def linked_days(usage: DataFrame, start: dt.date, end: dt.date) -> list[set[dt.date]]:
    """The days of the window a record's copies are on, for each record a copy re-exported onto another day.

    Such days are recomputed together: each record counts once, as its newest copy, so a day that recomputes a
    copy alone would bill it beside the older one an unchanged day keeps. Records are matched on a 64-bit hash of
    their id: a collision only links two days for nothing.
    """
    record = F.xxhash64("record_id", "record_type")
    rows = (
        usage.where(F.col("usage_date").between(F.lit(start), F.lit(end)) & F.col("record_id").isNotNull())
        .groupBy(record.alias("_record"))
        .agg(F.collect_set("usage_date").alias("_days"))
        .where(F.size("_days") > 1)
        .select(F.array_sort("_days").alias("_days"))
        .distinct()
        .collect()
    )
    return [set(r[0]) for r in rows]


def _recompute_linked(plans: dict[dt.date, DayPlan], links: list[set[dt.date]]) -> None:
    """Recompute whole every day linked (`linked_days`, through any chain of links) to a recomputed day."""
    changed = True
    while changed:
        changed = False
        for days in links:
            if any(plans[d].recomputed for d in days if d in plans):
                for d in days:
                    if d in plans and not plans[d].recomputed:
                        plans[d] = DayPlan(d, plans[d].state, True, None, _LINKED)
                        changed = True


def plan_run(
    store: TableStore,
    config: Config,
    params: RunParams,
    sources: tuple[DataFrame, DataFrame],
    first_open: dt.date | None,
) -> RunPlan:
    """The plan of this run (see the module docstring) from the (usage, list prices) `sources`; `first_open` is the
    window's first day in an open month."""
    usage, list_prices = sources
    fingerprint = config_fingerprint(config, params, list_prices)
    now = source_days(usage, params.start_date, params.end_date, digest=params.dedupe_usage)
    if consumption_pool_ids(config):
        queries = query_days(
            pool_statements(store, config, params, params.start_date), params.start_date, params.end_date
        )
        now = {day: dataclasses.replace(state, queries=queries.get(day, Decimal(0))) for day, state in now.items()}
    watermark = max((s.last_ingestion for s in now.values() if s.last_ingestion), default=None)
    seen, unsettled, last = _seen(store, params)
    links = linked_days(usage, params.start_date, params.end_date) if params.dedupe_usage else []
    linked = frozenset(day for days in links for day in days)
    why_full = _full_reason(store, params, fingerprint, last)
    if why_full is not None:
        window = DaySet.between(params.start_date, params.end_date)
        days = tuple(DayPlan(d, now.get(d), True, None, f"full run: {why_full}") for d in window)
        return RunPlan(FULL, watermark, fingerprint, days, linked=linked)
    # Re-exported records are resolved by content across the day: a copy's days are recomputed whole.
    silver = params.table(USAGE_COSTS)
    window = DaySet.between(params.start_date, params.end_date)
    held, retagged = {}, set()
    if store.exists(silver):
        if not params.dedupe_usage:
            held = held_records(store.read(silver), window)
        retagged = retagged_days(store.read(silver), optional(store, params.sources.pipelines, PIPELINES), window)

    def lines_hold(day: dt.date) -> int | None:
        return None if params.dedupe_usage else held.get(day, (0, None))[0]

    plans = {d: _day_plan(d, now.get(d), seen.get(d), fingerprint, lines_hold(d)) for d in sorted(set(now) | set(seen))}
    for d, run_id in unsettled.items():
        plans[d] = DayPlan(d, now.get(d), True, None, f"run {run_id} may have rewritten it and did not balance")
    for d in retagged:  # whole: the lines a partial day keeps would keep the old tags
        if d in plans and (not plans[d].recomputed or plans[d].since is not None):
            plans[d] = DayPlan(d, plans[d].state, True, None, _RETAGGED)
    plans = {d: p for d, p in plans.items() if p.state is not None or p.recomputed}
    # Days linked when last seen count as linked too: a copy since deleted leaves its record's other copy on a day
    # that did not change, and that day must bill it again.
    _recompute_linked(plans, [*links, {d for d, s in seen.items() if s.linked}])
    # Rewriting the first open day rewrites the corrections booked on it: every closed day is re-booked.
    closed = [d for d in plans if first_open is not None and d < first_open]
    rebook = [*closed, first_open] if first_open is not None else []
    if closed and any(plans[d].recomputed for d in rebook if d in plans):
        for d in rebook:
            if d in plans and not plans[d].recomputed:
                plans[d] = DayPlan(d, plans[d].state, True, None, _REBOOKED)
            elif d not in plans:
                plans[d] = DayPlan(d, None, True, None, _REBOOKED)
    return RunPlan(INCREMENTAL, watermark, fingerprint, tuple(plans[d] for d in sorted(plans)), linked=linked)


def record_plan(store: TableStore, params: RunParams, plan: RunPlan, planned_at: dt.datetime) -> None:
    """Append the plan to `run_plans` (one commit), so every step of the run follows it."""
    rows = [
        (
            params.run_id,
            planned_at.replace(tzinfo=None),
            d.usage_date,
            plan.mode,
            d.state.records if d.state else 0,
            d.state.quantity if d.state else Decimal(0),
            d.state.last_ingestion if d.state else None,
            plan.watermark,
            d.recomputed,
            d.since,
            d.reason,
            plan.fingerprint,
            d.state.digest if d.state else None,
            d.state.queries if d.state else None,
            d.usage_date in plan.linked,
        )
        for d in plan.days
    ]
    schema = ", ".join(f"{c.name} {c.type}" for c in RUN_PLANS.columns)
    store.append(params.table(RUN_PLANS), RUN_PLANS, store.spark.createDataFrame(rows, schema))


def _with_every_column(plans: DataFrame) -> DataFrame:
    """`run_plans` rows with every column of its spec (NULL where rows an earlier release logged lack them)."""
    return with_null_columns(plans, tuple(c for c in RUN_PLANS.columns if c.name not in plans.columns))


def _logged_state(row: Row) -> DayState:
    digest, queries = (None if v is None else Decimal(v) for v in (row.source_digest, row.query_digest))
    return DayState(row.source_record_count, Decimal(row.source_quantity), row.last_ingestion_date, digest, queries)


def logged_plan(store: TableStore, params: RunParams) -> RunPlan | None:
    """The plan an earlier step of this run logged, if any."""
    name = params.table(RUN_PLANS)
    if not store.exists(name):
        return None
    rows = _with_every_column(store.read(name)).where(F.col("run_id") == params.run_id).orderBy("usage_date").collect()
    if not rows:
        return None
    days = tuple(
        DayPlan(
            r.usage_date,
            _logged_state(r) if r.source_record_count else None,
            r.is_recomputed,
            r.recomputed_since,
            r.reason,
        )
        for r in rows
    )
    linked = frozenset(r.usage_date for r in rows if r.has_copies_elsewhere)
    first = rows[0]
    return RunPlan(first.run_mode, first.source_watermark, first.config_fingerprint, days, True, linked)
