"""The publish step's output declarations: each table once, written after every table it reads."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from chargeback.contracts import cost_tables
from chargeback.contracts.cost_tables import COST_DAILY, POLICY_COVERAGE_DAILY, USAGE_COSTS
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY, FOCUS_COSTS
from chargeback.jobs import outputs


def test_every_gold_table_is_declared_once() -> None:
    tables = [output.spec.table for output in outputs.OUTPUTS]
    expected = {
        *(spec.table for spec in cost_tables.GOLD_TABLES),
        POLICY_COVERAGE_DAILY.table,
        FOCUS_COSTS.table,
        COST_ANOMALIES_DAILY.table,
        BUDGET_STATUS_MONTHLY.table,
        cost_tables.COMPUTE_CONSUMPTION_HOURLY.table,
        cost_tables.JOB_RUN_COSTS.table,
        cost_tables.PIPELINE_UPDATE_COSTS.table,
    }
    assert len(tables) == len(set(tables))
    assert set(tables) == expected


def test_every_output_replaces_its_partition_column() -> None:
    for output in outputs.OUTPUTS:
        assert output.window_column in output.spec.column_names, output.spec.table


def test_an_output_reading_a_table_written_after_it_is_refused() -> None:
    first, *rest = outputs.OUTPUTS
    assert first.spec == COST_DAILY
    reads_cost_daily = next(o for o in rest if COST_DAILY in o.reads)
    with pytest.raises(AssertionError, match=f"{reads_cost_daily.spec.table} reads cost_daily"):
        outputs._check_order((reads_cost_daily, first))
    outputs._check_order((dataclasses.replace(first, reads=(USAGE_COSTS,)),))  # written by an earlier step


def test_an_undeclared_read_is_refused() -> None:
    written = outputs.Written(cast(Any, None), cast(Any, None), declared=(USAGE_COSTS,))
    with pytest.raises(KeyError, match="does not declare"):
        written[COST_DAILY]
