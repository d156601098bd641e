"""The demo's printed report: the latest complete month's statement, tag hygiene and top workloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pyspark.sql import functions as F

from chargeback import gold
from chargeback.config import UNALLOCATED, Config
from chargeback.pipeline import RunParams
from chargeback.tables import TableStore


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
        store.read(params.table(gold.CHARGEBACK_MONTHLY))
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

    month_end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    coverage = (
        store.read(params.table(gold.TAG_COVERAGE_DAILY))
        .where((F.col("usage_date") >= F.lit(month)) & (F.col("usage_date") <= F.lit(month_end)))
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
        store.read(params.table(gold.COST_DAILY))
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
