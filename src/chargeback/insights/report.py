"""The demo's printed report: the latest complete month's statement, tag hygiene, top workloads, the consumers of
shared warehouses, the costliest failed runs, the current month's budget status, the top anomalies and the alerts a
run would send (dry run)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, Config
from chargeback.contracts import cost_tables
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY
from chargeback.dates import month_end
from chargeback.insights.alerts import anomaly_alert, budget_alerts, dry_run
from chargeback.jobs.params import RunParams
from chargeback.storage.store import TableStore


def latest_complete_month(end_date: dt.date) -> dt.date:
    """First day of the last month that ends on or before `end_date`."""
    next_day = end_date + dt.timedelta(days=1)
    this_month = next_day.replace(day=1)
    return (this_month - dt.timedelta(days=1)).replace(day=1)


def _fmt(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):>14,.2f}"


def print_demo_report(store: TableStore, config: Config, params: RunParams) -> None:
    month = latest_complete_month(params.end_date)
    currency = config.currency
    statement = (
        store.read(params.table(cost_tables.CHARGEBACK_MONTHLY))
        .where(F.col("billing_month") == F.lit(month))
        .orderBy(F.col("effective_cost").desc(), "business_unit")
        .collect()
    )
    print(f"\nChargeback statement {month:%B %Y} ({currency})")
    print(f"  {'business unit':<28}{'direct':>14}{'shared':>14}{'correction':>14}{'total':>14}{'share':>8}")
    for row in statement:
        share = f"{row.share_of_total * 100:7.1f}%"
        print(
            f"  {row.business_unit_name or row.business_unit:<28}{_fmt(row.direct_cost)}{_fmt(row.shared_cost)}"
            f"{_fmt(row.correction_cost)}{_fmt(row.effective_cost)} {share}"
        )
    total = sum((r.effective_cost for r in statement), Decimal(0))
    print(f"  {'total':<28}{'':>42}{_fmt(total)}")

    last_day = month_end(month)
    coverage = (
        store.read(params.table(cost_tables.TAG_COVERAGE_DAILY))
        .where((F.col("usage_date") >= F.lit(month)) & (F.col("usage_date") <= F.lit(last_day)))
        .agg(
            F.sum("total_cost").alias("total"),
            F.sum("tagged_cost").alias("tagged"),
            F.sum("unallocated_cost").alias("unallocated"),
        )
        .collect()[0]
    )
    tagged_pct = (coverage.tagged / coverage.total * 100) if coverage.total else Decimal(0)
    print(
        f"\nTag coverage {month:%B %Y}: {tagged_pct:.1f}% of cost carries a business-unit tag; "
        f"unattributed before shared-cost rules: {coverage.unallocated or 0:,.2f} {currency}"
    )
    remaining = [r for r in statement if r.business_unit == UNALLOCATED]
    left = remaining[0].effective_cost if remaining else Decimal(0)
    print(f"Unallocated after shared-cost rules: {left:,.2f} {currency}")

    top = (
        store.read(params.table(cost_tables.COST_DAILY))
        .where((F.col("billing_month") == F.lit(month)) & (F.col("cost_kind") == "direct"))
        .groupBy("workload_type", "workload_name", "business_unit")
        .agg(F.sum("effective_cost").alias("cost"))
        .orderBy(F.col("cost").desc(), "workload_name")
        .limit(5)
        .collect()
    )
    print(f"\nTop 5 workloads {month:%B %Y}")
    for row in top:
        print(f"  {row.workload_type:<18}{row.workload_name[:40]:<42}{row.business_unit:<20}{_fmt(row.cost)}")

    print_shared_warehouses(store, params, month)
    print_failed_runs(store, params, month)
    print_budgets_and_anomalies(store, config, params)


def print_shared_warehouses(store: TableStore, params: RunParams, month: dt.date, top: int = 5) -> None:
    """The largest consumers of each warehouse split by consumption in `month`, and its idle cost."""
    rows = store.read(params.table(cost_tables.COMPUTE_CONSUMPTION_HOURLY)).where(
        F.col("usage_date").between(F.lit(month), F.lit(month_end(month)))
    )
    by_user = (
        rows.groupBy("warehouse_name", "identity", "business_unit")
        .agg(
            F.sum("effective_cost").alias("cost"),
            F.sum("task_duration_ms").alias("task_ms"),
            F.sum(F.when(F.col("is_idle"), F.col("effective_cost"))).alias("idle"),
        )
        .collect()
    )
    warehouses = sorted({r.warehouse_name for r in by_user})
    if not warehouses:
        print(f"\nShared warehouses {month:%B %Y}: none is split by consumption")
    for warehouse in warehouses:
        users = sorted((r for r in by_user if r.warehouse_name == warehouse), key=lambda r: (-r.cost, r.identity or ""))
        total = sum((r.cost for r in users), Decimal(0))
        idle = sum((r.idle or Decimal(0) for r in users), Decimal(0))
        print(f"\nShared warehouse {warehouse} {month:%B %Y}: {total:,.2f}, of which idle {idle:,.2f}; top consumers")
        print(f"  {'identity':<40}{'business unit':<20}{'task hours':>12}{'cost':>14}{'share':>8}")
        for r in users[:top]:
            share = r.cost / total * 100 if total else Decimal(0)
            hours = r.task_ms / 3_600_000
            who = (r.identity or "(idle, no user)")[:39]
            print(f"  {who:<40}{r.business_unit:<20}{hours:>12,.1f}{_fmt(r.cost)}{share:7.1f}%")


def print_failed_runs(store: TableStore, params: RunParams, month: dt.date, top: int = 5) -> None:
    """The costliest job runs of `month` whose cost was waste: failed, or repaired."""
    runs = (
        store.read(params.table(cost_tables.JOB_RUN_COSTS))
        .where(F.col("run_date").between(F.lit(month), F.lit(month_end(month))) & F.col("is_waste"))
        .orderBy(F.col("effective_cost").desc(), "job_run_id")
    )
    waste = runs.agg(F.sum("effective_cost"), F.count(F.lit(1))).collect()[0]
    print(f"\nCostliest failed runs {month:%B %Y}: {waste[1]:,} runs wasted {waste[0] or 0:,.2f}")
    print(f"  {'job':<30}{'run':<17}{'outcome':<27}{'started':<18}{'business unit':<16}{'cost':>10}")
    for r in runs.limit(top).collect():
        state = r.result_state or "no outcome yet"
        if r.attempt_count and r.attempt_count > 1:
            state = f"{state} after {r.attempt_count - 1} repair{'s' if r.attempt_count > 2 else ''}"
        started = f"{r.run_start_at:%Y-%m-%d %H:%M}"
        where = f"{r.job_name[:29]:<30}{r.job_run_id:<17}{state[:26]:<27}{started:<18}"
        print(f"  {where}{r.business_unit[:15]:<16}{r.effective_cost:>10,.2f}")


def print_budgets_and_anomalies(store: TableStore, config: Config, params: RunParams, top: int = 5) -> None:
    """Budget status of the run's last month and the largest anomalies of its last two weeks."""
    month = params.end_date.replace(day=1)
    budgets = (
        store.read(params.table(BUDGET_STATUS_MONTHLY))
        .where(F.col("billing_month") == F.lit(month))
        .orderBy(F.col("forecast_ratio").desc(), "business_unit")
        .collect()
    )
    print(f"\nBudgets {month:%B %Y} as of {params.end_date} ({config.currency})")
    print(f"  {'budget':<40}{'amount':>14}{'to date':>14}{'forecast':>14}{'ratio':>8}  status")
    for row in budgets:
        scope = "".join(f" {s}" for s in (row.workspace_scope, row.product_scope) if s != "*")
        print(
            f"  {(row.business_unit + scope)[:39]:<40}{_fmt(row.budget_amount)}{_fmt(row.actual_to_date)}"
            f"{_fmt(row.forecast_month_end)}{row.forecast_ratio * 100:7.1f}%  {row.status}"
        )
    if not budgets:
        print("  no budget in force")

    since = params.end_date - dt.timedelta(days=13)
    anomalies = (
        store.read(params.table(COST_ANOMALIES_DAILY))
        .where((F.col("usage_date") >= F.lit(since)) & F.col("is_anomaly"))
        .orderBy(F.col("score").desc(), "usage_date", "scope_key")
        .limit(top)
        .collect()
    )
    print(f"\nTop anomalies {since}..{params.end_date}")
    for row in anomalies:
        print(
            f"  {row.usage_date}  {row.reason:<20}{row.scope_key[:34]:<36}{_fmt(row.effective_cost)}"
            f" (baseline {row.baseline_median:,.2f}, score {row.score:.1f})"
        )
    if not anomalies:
        print("  none: no business unit or large workload left its baseline by more than the floor")

    latest = (
        store.read(params.table(COST_ANOMALIES_DAILY))
        .where((F.col("usage_date") == F.lit(params.end_date)) & F.col("is_anomaly"))
        .collect()
    )
    digest = anomaly_alert(latest, params.end_date)
    print("\nAlerts this run would send (dry run)")
    print(dry_run([*budget_alerts(budgets, config), *([digest] if digest else [])]), end="")
