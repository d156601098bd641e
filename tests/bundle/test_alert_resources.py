"""The SQL alerts of the bundle (resources/chargeback.alert.yml): they load into the official model, and on gold
tables built locally they fire exactly when the dry run (`chargeback.insights.alerts`, printed by `chargeback demo`)
would send something, for the same budgets and anomalies.

One lakehouse of 40 days of synthetic usage with a job spike on 2026-09-03 (which also pushes ml-platform's
September budget to critical), published three times: up to the day before the spike (nothing fires), up to
the spike day (both alerts fire) and up to a week later (the budget still fires, the anomaly is not the
latest day's any more).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import operator
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from databricks.bundles.alerts import Alert
from pyspark.sql import functions as F

from chargeback.config import load_config
from chargeback.contracts.insight_tables import BUDGET_STATUS_MONTHLY, COST_ANOMALIES_DAILY
from chargeback.insights.alerts import anomaly_alert, budget_alerts
from chargeback.jobs.params import RunParams
from tests.helpers import inject_job_spike

ROOT = Path(__file__).resolve().parents[2]
ALERTS = yaml.safe_load((ROOT / "resources" / "chargeback.alert.yml").read_text())["resources"]["alerts"]
VARIABLES = yaml.safe_load((ROOT / "databricks.yml").read_text())["variables"]
TARGETS = yaml.safe_load((ROOT / "databricks.yml").read_text())["targets"]
# Alerts have no dataset_catalog/dataset_schema: their tables are qualified through bundle interpolation.
PREFIX = "${var.catalog}.${resources.schemas.chargeback_schema.name}."
CONFIG_FILE = ROOT / "config" / "chargeback.yml"
START, DAYS = dt.date(2026, 8, 1), 40
SPIKE_DAY = dt.date(2026, 9, 3)
RUNS = {"before": SPIKE_DAY - dt.timedelta(days=1), "spike": SPIKE_DAY, "after": START + dt.timedelta(days=DAYS - 1)}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GREATER_THAN": operator.gt,
    "GREATER_THAN_OR_EQUAL": operator.ge,
    "LESS_THAN": operator.lt,
    "LESS_THAN_OR_EQUAL": operator.le,
    "EQUAL": operator.eq,
    "NOT_EQUAL": operator.ne,
}


# --- the resource definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(ALERTS))
def test_alert_loads_into_the_official_model(key: str) -> None:
    Alert.from_dict(ALERTS[key])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.update(custom_sumary="x"),
        lambda a: a["evaluation"].update(notifcation={}),
        lambda a: a["evaluation"].update(comparison_operator="GREATER"),
        lambda a: a["schedule"].update(quartz_cron="0 0 8 * * ?"),
    ],
)
def test_a_misspelled_alert_field_is_rejected(mutate: Callable[[dict[str, Any]], None]) -> None:
    broken = copy.deepcopy(ALERTS["chargeback_budget_critical"])
    mutate(broken)
    with pytest.raises(ValueError):
        Alert.from_dict(broken)


def test_subscription_entries_load_into_the_official_model() -> None:
    """alert_subscriptions items are AlertV2Subscription objects: an email or a notification destination."""
    body = copy.deepcopy(ALERTS["chargeback_budget_critical"])
    subscriptions = [{"user_email": "finops@acme.example"}, {"destination_id": "b1a2c3"}]
    body["evaluation"]["notification"]["subscriptions"] = subscriptions
    loaded: Any = Alert.from_dict(body).as_dict()
    assert loaded["evaluation"]["notification"]["subscriptions"] == subscriptions
    body["evaluation"]["notification"]["subscriptions"] = [{"email": "finops@acme.example"}]
    with pytest.raises(ValueError, match="email"):
        Alert.from_dict(body)
    assert VARIABLES["alert_subscriptions"] == {**VARIABLES["alert_subscriptions"], "type": "complex", "default": []}


@pytest.mark.parametrize("key", sorted(ALERTS))
def test_alert_settings(key: str) -> None:
    alert = ALERTS[key]
    assert alert["warehouse_id"] == "${var.warehouse_id}"
    assert alert["schedule"] == {
        "quartz_cron_schedule": "${var.alert_schedule_cron}",
        "timezone_id": "${var.schedule_timezone}",
    }, "no pause_status: the target's trigger_pause_status preset decides"
    evaluation = alert["evaluation"]
    assert evaluation["empty_result_state"] == "OK", "no row is no alert item"
    notification = evaluation["notification"]
    assert notification["notify_on_ok"] is False
    assert notification["subscriptions"] == "${var.alert_subscriptions}"
    assert 0 < notification["retrigger_seconds"] < 86400, "a daily evaluation may notify again the next day"
    tables = [word for word in alert["query_text"].split() if "_daily" in word or "_monthly" in word]
    assert tables and all(t.startswith(PREFIX) for t in tables), f"{key}: unqualified tables in {tables}"


def _daily_time(cron: str) -> tuple[int, int]:
    second, minute, hour, *rest = cron.split()
    assert second == "0" and rest[:3] == ["*", "*", "?"], f"not a daily quartz cron: {cron!r}"
    return int(hour), int(minute)


def test_alerts_run_after_the_daily_job_and_are_paused_in_dev_only() -> None:
    job = _daily_time(VARIABLES["schedule_cron"]["default"])
    alerts = _daily_time(VARIABLES["alert_schedule_cron"]["default"])
    assert alerts[0] * 60 + alerts[1] >= job[0] * 60 + job[1] + 60, "an hour after the daily job starts at least"
    # The preset pauses every alert schedule that sets no pause_status (databricks/cli apply_presets.go, #4323).
    assert TARGETS["dev"]["presets"]["trigger_pause_status"] == "PAUSED"
    assert "trigger_pause_status" not in TARGETS["prod"].get("presets", {})


# --- the queries on gold tables built locally -------------------------------------------------------------


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from chargeback.jobs.daily import run
    from chargeback.local.engine import local_session
    from chargeback.local.lakehouse import LocalLakehouse
    from chargeback.local.synthetic import generate

    config = load_config(CONFIG_FILE)
    # The demo's data-eng budget is critical from the first days (its share of the shared BI warehouse, split by
    # consumption, passes its 10,000): give it room, so the budget alert also has a state where it stays quiet.
    roomy = [
        dataclasses.replace(b, amount=Decimal(16_000)) if b.business_unit == "data-eng" else b for b in config.budgets
    ]
    config = dataclasses.replace(config, budgets=tuple(roomy))
    with local_session(["system", "main"]) as spark:
        store = LocalLakehouse(spark, tmp_path_factory.mktemp("lakehouse"))
        generate(store, START, DAYS, seed=7)
        inject_job_spike(store, SPIKE_DAY)
        for schema, end in RUNS.items():
            run(store, config, _params(schema, end))
        yield store


def _params(schema: str, end: dt.date) -> RunParams:
    run_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(6), dt.UTC)
    return RunParams("main", schema, START, end, f"test-alerts-{schema}", run_at)


def _query(lakehouse: Any, query_text: str, schema: str) -> list[Any]:
    return lakehouse.sql(query_text.replace(PREFIX, f"main.{schema}.")).collect()


def _fires(alert: dict[str, Any], rows: list[Any]) -> bool:
    """The alert's evaluation of a query result, as the alert service does it (the aggregations used here)."""
    evaluation = alert["evaluation"]
    if not rows:
        return evaluation["empty_result_state"] == "TRIGGERED"
    source = evaluation["source"]
    values = [row[source["name"]] for row in rows]
    aggregation = source.get("aggregation")
    assert aggregation in (None, "COUNT"), f"no local evaluation of {aggregation}"
    value = sum(v is not None for v in values) if aggregation == "COUNT" else values[0]
    return COMPARE[evaluation["comparison_operator"]](value, evaluation["threshold"]["value"]["double_value"])


def _disagreements(lakehouse: Any, alerts: dict[str, dict[str, Any]]) -> list[str]:
    """Where a deployed alert and the dry run differ, over the three published states."""
    config = load_config(CONFIG_FILE)
    found = []
    for schema, end in RUNS.items():
        params = _params(schema, end)
        month = lakehouse.read(params.table(BUDGET_STATUS_MONTHLY)).where(F.col("billing_month") == end.replace(day=1))
        expected = budget_alerts(month.collect(), config)
        rows = _query(lakehouse, alerts["chargeback_budget_critical"]["query_text"], schema)
        if (
            _fires(alerts["chargeback_budget_critical"], rows) != bool(expected)
            or budget_alerts(rows, config) != expected
        ):
            found.append(f"{schema}: budget alert on {[r.business_unit for r in rows]}, dry run {expected}")

        day = lakehouse.read(params.table(COST_ANOMALIES_DAILY)).where(F.col("usage_date") == end)
        digest = anomaly_alert(day.collect(), end)
        rows = _query(lakehouse, alerts["chargeback_cost_anomalies"]["query_text"], schema)
        scored = anomaly_alert([SimpleNamespace(**r.asDict(), is_anomaly=True) for r in rows], end)
        if _fires(alerts["chargeback_cost_anomalies"], rows) != (digest is not None) or scored != digest:
            found.append(f"{schema}: anomaly alert on {[r.scope_key for r in rows]}, dry run {digest}")
    return found


@pytest.mark.slow
def test_the_states_cover_firing_and_quiet(lakehouse: Any) -> None:
    """The comparison below means something: each alert fires in some state and stays quiet in another."""
    fired = {
        (key, schema)
        for key, alert in ALERTS.items()
        for schema in RUNS
        if _fires(alert, _query(lakehouse, alert["query_text"], schema))
    }
    assert fired == {
        ("chargeback_budget_critical", "spike"),
        ("chargeback_budget_critical", "after"),
        ("chargeback_cost_anomalies", "spike"),
    }


@pytest.mark.slow
def test_deployed_alerts_agree_with_the_dry_run(lakehouse: Any) -> None:
    assert _disagreements(lakehouse, ALERTS) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        ("chargeback_cost_anomalies", "AND is_anomaly", ""),  # every scored row, not the anomalies
        ("chargeback_cost_anomalies", "usage_date = (SELECT MAX", "usage_date <= (SELECT MAX"),  # earlier days too
        ("chargeback_budget_critical", "'critical', 'over'", "'critical', 'over', 'warning'"),
    ],
    ids=["no anomaly filter", "all days", "warnings too"],
)
def test_a_query_that_drifts_from_the_dry_run_is_caught(lakehouse: Any, key: str, old: str, new: str) -> None:
    broken = copy.deepcopy(ALERTS)
    assert old in broken[key]["query_text"]
    broken[key]["query_text"] = broken[key]["query_text"].replace(old, new)
    assert _disagreements(lakehouse, broken)
