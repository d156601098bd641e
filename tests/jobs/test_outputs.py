"""The publish step's output declarations: each table once, written after every table it reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest

from chargeback.contracts import cost_tables
from chargeback.contracts.cost_tables import COST_DAILY, POLICY_COVERAGE_DAILY, SERVING_COSTS_DAILY, USAGE_COSTS
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY, FOCUS_COSTS
from chargeback.contracts.table_spec import TableSpec
from chargeback.dates import DaySet
from chargeback.errors import PublishError
from chargeback.jobs import outputs
from chargeback.jobs.params import RunParams, RunSummary


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


class _RecordingStore:
    """A store that records the order in which writes start and end (no engine: publish's scheduling alone)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.ensured: list[str] = []
        self.versions: dict[str, int] = {}
        self.lock = threading.Lock()

    def ensure(self, name: object, spec: object) -> None:
        self.ensured.append(str(name))

    def write(self, name: object, spec: Any, df: object, replace_days: object) -> None:
        with self.lock:
            self.events.append(("written", spec.table))
            self.versions[spec.table] = self.versions.get(spec.table, 0) + 1

    def version(self, name: Any) -> int:
        return self.versions.get(name.table, 0)

    def restore(self, name: Any, spec: Any, version: int, replace_days: object) -> None:
        self.events.append(("put back", f"{spec.table} as of {version}"))

    def rows_written(self, name: object) -> int:
        return 1


def _publish(store: _RecordingStore, declared: list[outputs.Output], monkeypatch: pytest.MonkeyPatch) -> RunSummary:
    monkeypatch.setattr(outputs, "OUTPUTS", tuple(declared))
    params = RunParams("main", "chargeback", DAY, DAY, "r", dt.datetime(2026, 9, 2, tzinfo=dt.UTC))
    inputs = cast(Any, SimpleNamespace(store=store, params=params))
    summary = RunSummary("r", DAY, DAY, "USD")
    outputs.publish(inputs, summary)
    return summary


DAY = dt.date(2026, 9, 1)


def _output(spec: TableSpec, build: Any, reads: tuple[TableSpec, ...] = ()) -> outputs.Output:
    return outputs.Output(spec, build, lambda _: DaySet.of([DAY]), reads)


def _builds(inputs: object, written: object) -> str:
    return "df"


def _fails(table: str) -> Any:
    def build(inputs: object, written: object) -> str:
        raise RuntimeError(f"{table} failed")

    return build


def test_publish_writes_independent_outputs_at_once_and_each_after_what_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two outputs that read nothing meet at a barrier while building: written one after another, the first would
    wait for the second forever (the barrier times out). The third reads the first and starts after it is written."""
    store = _RecordingStore()
    both_building = threading.Barrier(2, timeout=10)

    def meets(table: str) -> Any:
        def build(inputs: object, written: object) -> str:
            both_building.wait()
            return table

        return build

    def after_cost_daily(inputs: object, written: object) -> str:
        with store.lock:
            store.events.append(("built", FOCUS_COSTS.table))
        return FOCUS_COSTS.table

    declared = [
        _output(COST_DAILY, meets(COST_DAILY.table)),
        _output(POLICY_COVERAGE_DAILY, meets(POLICY_COVERAGE_DAILY.table)),
        _output(FOCUS_COSTS, after_cost_daily, reads=(COST_DAILY,)),
    ]
    summary = _publish(store, declared, monkeypatch)
    assert store.events.index(("written", COST_DAILY.table)) < store.events.index(("built", FOCUS_COSTS.table))
    assert list(summary.rows_written) == [COST_DAILY.table, POLICY_COVERAGE_DAILY.table, FOCUS_COSTS.table]
    assert len(store.ensured) == 3


def test_a_failing_output_is_raised_and_what_reads_it_is_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _RecordingStore()

    declared = [
        _output(COST_DAILY, _fails("cost_daily")),
        _output(FOCUS_COSTS, _builds, reads=(COST_DAILY,)),
        _output(BUDGET_STATUS_MONTHLY, _builds, reads=(COST_DAILY,)),
    ]
    with pytest.raises(RuntimeError, match="cost_daily failed"):
        _publish(store, declared, monkeypatch)
    assert store.events == []


def test_no_write_starts_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """One write at a time, so the independent output after the failing one starts after it failed: it is not
    written, and the failure raised is the original one."""
    monkeypatch.setattr(outputs, "CONCURRENT_WRITES", 1)
    store = _RecordingStore()

    declared = [
        _output(COST_DAILY, _builds),
        _output(SERVING_COSTS_DAILY, _fails("serving_costs_daily")),
        _output(POLICY_COVERAGE_DAILY, _builds),
        _output(FOCUS_COSTS, _builds, reads=(COST_DAILY,)),
    ]
    with pytest.raises(RuntimeError, match="serving_costs_daily failed"):
        _publish(store, declared, monkeypatch)
    assert store.events == [("written", COST_DAILY.table), ("put back", f"{COST_DAILY.table} as of 0")]


def test_a_table_that_cannot_be_put_back_fails_the_run_in_one_line_naming_both_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outputs, "CONCURRENT_WRITES", 1)
    store = _RecordingStore()

    def restore_fails(name: object, spec: object, version: int, replace_days: object) -> None:
        raise OSError("storage unreachable\nmore detail")

    monkeypatch.setattr(store, "restore", restore_fails)
    declared = [
        _output(COST_DAILY, _builds),
        _output(POLICY_COVERAGE_DAILY, _builds),
        _output(SERVING_COSTS_DAILY, _fails("serving_costs_daily")),
    ]
    with pytest.raises(PublishError) as raised:
        _publish(store, declared, monkeypatch)
    message = str(raised.value)
    assert "\n" not in message
    assert "serving_costs_daily failed" in message and "storage unreachable" in message
    # Both tables were tried: the first failing to be put back does not stop the second.
    assert "main.chargeback.cost_daily (storage unreachable), main.chargeback.policy_coverage_daily" in message
