"""Gold policy_coverage_daily: which serverless usage budget policies leave unattributed, by whom and where."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from chargeback.contracts.cost_tables import POLICY_COVERAGE_DAILY
from chargeback.marts.policy_coverage import policy_coverage_daily
from tests.helpers import config

OCT5, SEP30 = dt.date(2026, 10, 5), dt.date(2026, 9, 30)
LINES = (
    "usage_date date, workspace_id string, workspace_name string, owner_identity string, policy_id string, "
    "is_serverless boolean, workload_type string, attribution_method string, business_unit string, "
    "effective_cost decimal(38,10)"
)
CONFIG = config(
    attribution="""attribution:
  tag_keys: [business_unit]
  budget_policies:
    - {policy_id: p-mapped, business_unit: marketing, valid_from: 2026-10-01}
"""
)


@pytest.mark.transform
def test_policy_coverage_daily(spark) -> None:  # type: ignore[no-untyped-def]
    def line(day, ws, who, policy, serverless, kind, method, unit, cost):  # type: ignore[no-untyped-def]
        return (day, ws, f"ws-{ws}", who, policy, serverless, kind, method, unit, Decimal(cost))

    lines = spark.createDataFrame(
        [
            # No policy: two lines of one user, workspace and day become one row.
            line(OCT5, "1", "alice@x.com", None, True, "job", "unallocated", "UNALLOCATED", "1.5"),
            line(OCT5, "1", "alice@x.com", None, True, "job", "unallocated", "UNALLOCATED", "2.5"),
            # Endpoints are always serverless, even when is_serverless is NULL.
            line(OCT5, "1", "bob@x.com", None, None, "serving_endpoint", "identity", "finance", "3"),
            # A policy id the config maps, on a day the mapping is in force...
            line(OCT5, "2", "carol@x.com", "p-mapped", True, "notebook", "budget_policy", "marketing", "4"),
            # ...and the day before it is: not known to the config then, and no business-unit tag.
            line(SEP30, "2", "carol@x.com", "p-mapped", True, "notebook", "workload", "data-eng", "5"),
            # An id the config does not know whose tags attribute the usage (a managed policy).
            line(OCT5, "2", "dave@x.com", "p-managed", True, "pipeline", "tag", "data-eng", "6"),
            # A deleted policy: its id stays on the usage, its tags are gone.
            line(OCT5, "2", "erin@x.com", "p-deleted", True, "job", "identity", "finance", "7"),
            # Any line with a policy id counts, whatever its workload.
            line(OCT5, "3", None, "p-managed", None, "database_instance", "tag", "data-eng", "8"),
            # Not attributable by a policy: a serverless SQL warehouse and classic compute.
            line(OCT5, "1", "alice@x.com", None, True, "warehouse", "unallocated", "UNALLOCATED", "100"),
            line(OCT5, "1", "alice@x.com", None, False, "job", "unallocated", "UNALLOCATED", "100"),
        ],
        LINES,
    )
    actual = policy_coverage_daily(lines, CONFIG, "run-1")

    def row(day, ws, who, policy, status, unit, count, cost):  # type: ignore[no-untyped-def]
        return (day, ws, f"ws-{ws}", who, policy, status, unit, count, Decimal(cost), "USD", "run-1")

    expected = spark.createDataFrame(
        [
            row(OCT5, "1", "alice@x.com", None, "none", "UNALLOCATED", 2, "4"),
            row(OCT5, "1", "bob@x.com", None, "none", "finance", 1, "3"),
            row(OCT5, "2", "carol@x.com", "p-mapped", "mapped", "marketing", 1, "4"),
            row(SEP30, "2", "carol@x.com", "p-mapped", "unknown", "data-eng", 1, "5"),
            row(OCT5, "2", "dave@x.com", "p-managed", "tagged", "data-eng", 1, "6"),
            row(OCT5, "2", "erin@x.com", "p-deleted", "unknown", "finance", 1, "7"),
            row(OCT5, "3", None, "p-managed", "tagged", "data-eng", 1, "8"),
        ],
        ", ".join(f"{c.name} {c.type}" for c in POLICY_COVERAGE_DAILY.columns),
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert actual.columns == POLICY_COVERAGE_DAILY.column_names
