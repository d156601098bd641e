"""The Lakeview dashboard: its structure, its queries on gold tables built locally, the notebooks, the preview.

One pipeline run on 40 days of synthetic usage, with one injected job spike, builds the gold tables for the whole
module.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chargeback import config as config_module
from chargeback import dashboard
from chargeback.cli import build_parser, main
from chargeback.contracts import cost_tables, insight_tables
from chargeback.contracts.table_spec import TableSpec
from chargeback.dashboard import Selection
from chargeback.errors import InputError
from tests.helpers import inject_job_spike

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "src" / "chargeback" / "resources" / "chargeback.lvdash.json"
START, DAYS = dt.date(2026, 8, 1), 40
END = START + dt.timedelta(days=DAYS - 1)  # 2026-09-09
AS_OF = END + dt.timedelta(days=1)
SPIKE_DAY = dt.date(2026, 9, 3)  # scored: past the anomaly detection's 14 days of minimum history
CHART_TYPES = ("bar", "line", "area", "pie")
CONFIG_FILE = ROOT / "config" / "chargeback.yml"


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from chargeback.config import load_config
    from chargeback.jobs.daily import run
    from chargeback.jobs.params import RunParams
    from chargeback.local.engine import local_session
    from chargeback.local.lakehouse import LocalLakehouse
    from chargeback.local.synthetic import generate

    root = tmp_path_factory.mktemp("lakehouse")
    with local_session(["system", "main"]) as spark:
        store = LocalLakehouse(spark, root)
        generate(store, START, DAYS, seed=7)
        inject_job_spike(store, SPIKE_DAY)
        run_at = dt.datetime.combine(AS_OF, dt.time(6), dt.UTC)
        params = RunParams("main", "chargeback", START, END, "test-dashboard", run_at)
        run(store, load_config(CONFIG_FILE), params)
        yield store


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return dashboard.load(DASHBOARD)


@pytest.fixture(scope="module")
def preview(lakehouse: Any, doc: dict[str, Any]) -> dashboard.Preview:
    return dashboard.run_queries(lakehouse, doc, "main", "chargeback", Selection(AS_OF))


@pytest.fixture(scope="module")
def spike_job_id(lakehouse: Any) -> str:
    (row,) = lakehouse.sql(
        "SELECT DISTINCT usage_metadata.job_id FROM system.billing.usage WHERE record_id LIKE '%-spike'"
    ).collect()
    return str(row[0])


def _widget(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(w for _, w, _ in dashboard.widgets(doc) if w.get("name") == name)


def _value(preview: dashboard.Preview, widget: str, field: str) -> Any:
    result = preview.queries[(widget, "main_query")]
    return result.rows[0][result.columns.index(field)]


def _sql(lakehouse: Any, query: str) -> Any:
    return lakehouse.sql(query).collect()[0][0]


def _page(doc: dict[str, Any], display_name: str) -> dict[str, Any]:
    return next(p for p in doc["pages"] if p["displayName"] == display_name)


def _rows(preview: dashboard.Preview, widget: str) -> list[dict[str, Any]]:
    """A widget query's result as one dict per row, by field name."""
    result = preview.queries[(widget, "main_query")]
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _dataset_rows(lakehouse: Any, doc: dict[str, Any], name: str, selection: Selection) -> list[Any]:
    """A dataset's rows, as the dashboard queries it (before any global filter on its columns)."""
    ds = next(d for d in doc["datasets"] if d["name"] == name)
    lakehouse.set_current_schema("main", "chargeback")
    return lakehouse.sql(dashboard.bind(ds, selection)).collect()


# --- structure ------------------------------------------------------------------------------------------


def test_the_dashboard_file_follows_the_lakeview_structure(doc):
    assert dashboard.check(doc) == []


def test_pages_and_grid(doc):
    canvas = [p["displayName"] for p in doc["pages"] if p["pageType"] == "PAGE_TYPE_CANVAS"]
    assert canvas == [
        "Overview",
        "Chargeback",
        "Serverless and Model Serving",
        "Tag hygiene",
        "Budgets and anomalies",
        "Optimize",
    ]
    assert [p["pageType"] for p in doc["pages"]].count("PAGE_TYPE_GLOBAL_FILTERS") == 1
    assert doc["pages"][-1]["pageType"] == "PAGE_TYPE_GLOBAL_FILTERS"
    assert {p["layoutVersion"] for p in doc["pages"]} == {"GRID_V1"}


def test_datasets_read_only_published_tables_by_unqualified_name(doc):
    contracts = [*vars(cost_tables).values(), *vars(insight_tables).values()]
    published = {v.table for v in contracts if isinstance(v, TableSpec)}
    published |= {spec.table for spec in config_module.CONFIG_TABLES.values()}
    for ds in doc["datasets"]:
        plain, qualified = dashboard.table_names(dashboard.bind(ds, Selection(AS_OF)))
        assert not qualified, f"{ds['name']}: qualified names {qualified} defeat dataset_catalog/dataset_schema"
        assert plain and plain <= published, f"{ds['name']} reads {plain - published}"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d["pages"][0]["layout"][1]["position"].update(x=10), "outside the 12-column grid"),
        (lambda d: d["pages"][0]["layout"][2]["position"].update(x=0), "overlap"),
        (lambda d: d["pages"][0].pop("layoutVersion"), "outside the 6-column grid"),
        (lambda d: d["pages"][0].update(pageType="PAGE_TYPE_REPORT"), "pageType"),
        (lambda d: _widget(d, "kpi_month_to_date")["spec"].update(version=3), "spec version 2"),
        (lambda d: _widget(d, "top_workloads")["queries"][0]["query"].update(datasetName="ds_costs"), "ds_costs"),
        (lambda d: _widget(d, "kpi_month_to_date")["spec"]["encodings"]["value"].update(fieldName="sum(x)"), "sum(x)"),
        (
            lambda d: _widget(d, "filter_period")["queries"][0]["query"]["parameters"][0].update(keyword="dates"),
            "dates",
        ),
        (lambda d: d["datasets"][0]["queryLines"].append("AND x = :unknown\n"), ":unknown"),
        (lambda d: d["datasets"][0]["queryLines"].__setitem__(0, "SELECT"), "end with a newline"),
        (lambda d: d["datasets"][0].update(catalog="${var.catalog}"), "not substituted"),
        (lambda d: _widget(d, "filter_period")["spec"].update(widgetType="table"), "only those"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_structural_checks_catch_broken_files(doc, mutate, problem):
    broken = copy.deepcopy(doc)
    mutate(broken)
    problems = dashboard.check(broken)
    assert any(problem in p for p in problems), problems


# --- queries on the gold tables -------------------------------------------------------------------------


def test_every_dataset_runs_and_every_widget_query_returns_rows(doc, preview):
    assert set(preview.datasets) == {ds["name"] for ds in doc["datasets"]}
    for _, widget, _ in dashboard.widgets(doc):
        for named in widget.get("queries", []):
            result = preview.queries[(widget["name"], named["name"])]
            assert result.rows, f"widget {widget['name']} query {named['name']} returned no rows"


def test_every_field_a_widget_encodes_exists_in_its_dataset_result(doc, preview):
    columns = {name: result.columns for name, result in preview.datasets.items()}
    assert dashboard.field_problems(doc, columns) == []


def test_a_misspelled_dataset_column_fails_on_the_gold_tables(lakehouse, doc):
    broken = copy.deepcopy(doc)
    ds = next(d for d in broken["datasets"] if d["name"] == "ds_serving")
    ds["queryLines"] = [line.replace("launch_cost", "lunch_cost") for line in ds["queryLines"]]
    assert dashboard.check(broken) == []  # the structure is fine: only the data can tell
    with pytest.raises(InputError, match=r"ds_serving.*lunch_cost"):
        dashboard.run_queries(lakehouse, broken, "main", "chargeback", Selection(AS_OF))


def test_a_widget_field_reading_a_missing_column_is_caught(doc, preview):
    broken = copy.deepcopy(doc)
    field = _widget(broken, "top_workloads")["queries"][0]["query"]["fields"][3]
    field["expression"] = "SUM(`efective_cost`)"
    columns = {name: result.columns for name, result in preview.datasets.items()}
    assert dashboard.field_problems(broken, columns) == [
        "page 'overview' widget 'top_workloads': SUM(`efective_cost`) reads 'efective_cost', "
        "not a column of dataset 'ds_cost'"
    ]


def test_global_filters_reach_every_dataset_with_their_column(doc, preview):
    filters = {w["name"]: w for p, w, _ in dashboard.widgets(doc) if p["pageType"] == "PAGE_TYPE_GLOBAL_FILTERS"}
    period = {q["query"]["datasetName"] for q in filters["filter_period"]["queries"]}
    assert period == {ds["name"] for ds in doc["datasets"] if ds.get("parameters")}
    for name, column in (
        ("filter_business_unit", "business_unit"),
        ("filter_workspace", "workspace_id"),
        ("filter_product", "billing_origin_product"),
    ):
        bound = {q["query"]["datasetName"] for q in filters[name]["queries"]}
        having = {ds for ds, result in preview.datasets.items() if column in result.columns}
        assert bound == having, f"{name}: bound to {sorted(bound)}, datasets with {column}: {sorted(having)}"


def test_month_figures_match_the_statement(lakehouse, preview):
    """Month to date is September 1-9, last month is August; the forecast runs September's rate to 30 days."""
    statement = "SELECT SUM(effective_cost) FROM main.chargeback.chargeback_monthly WHERE billing_month = DATE'{}'"
    september, august = _sql(lakehouse, statement.format("2026-09-01")), _sql(lakehouse, statement.format("2026-08-01"))
    assert _value(preview, "kpi_month_to_date", "sum(month_to_date_cost)") == september
    assert _value(preview, "kpi_last_month", "sum(previous_month_cost)") == august
    forecast = _value(preview, "kpi_forecast", "sum(forecast_cost)")
    assert abs(forecast - september * 30 / 9) < Decimal("0.0001")
    unallocated = _sql(lakehouse, statement.format("2026-09-01") + " AND business_unit = 'UNALLOCATED'")
    assert _value(preview, "kpi_unallocated", "sum(unallocated_month_to_date_cost)") == unallocated


def test_the_default_date_range_and_an_explicit_one(lakehouse, doc, preview):
    """Default `now-2M/M`..`now/d` covers all 40 days; an explicit range narrows every dated dataset."""
    total = _sql(lakehouse, "SELECT SUM(effective_cost) FROM main.chargeback.cost_daily")
    pie = preview.queries[("cost_by_unit", "main_query")]
    assert sum(r[0] for r in pie.rows) == total
    august = dashboard.run_queries(
        lakehouse, doc, "main", "chargeback", Selection(AS_OF, (dt.date(2026, 8, 1), dt.date(2026, 8, 31)))
    )
    in_august = _sql(
        lakehouse, "SELECT SUM(effective_cost) FROM main.chargeback.cost_daily WHERE billing_month = DATE'2026-08-01'"
    )
    assert sum(r[0] for r in august.queries[("cost_by_unit", "main_query")].rows) == in_august
    months = august.queries[("statement", "main_query")]
    assert {r[months.columns.index("billing_month")] for r in months.rows} == {dt.date(2026, 8, 1)}


def test_tag_coverage_is_tagged_over_total(lakehouse, preview):
    tagged, total = lakehouse.sql(
        "SELECT SUM(tagged_cost), SUM(total_cost) FROM main.chargeback.tag_coverage_daily"
    ).collect()[0]
    assert abs(_value(preview, "kpi_tag_coverage", "tag_coverage") - tagged / total) < Decimal("1e-9")


def test_budgets_and_anomalies_page(doc):
    page = next(p for p in doc["pages"] if p["displayName"] == "Budgets and anomalies")
    kinds = {item["widget"]["name"]: item["widget"].get("spec", {}).get("widgetType") for item in page["layout"]}
    assert kinds == {
        "budgets_title": None,
        "kpi_budgets_at_risk": "counter",
        "kpi_budgets_over": "counter",
        "kpi_anomalies": "counter",
        "forecast_vs_budget": "bar",
        "budgets_by_status": "pie",
        "budget_status": "table",
        "latest_anomalies": "table",
    }
    datasets = {
        q["query"]["datasetName"] for _, w, _ in dashboard.widgets({"pages": [page]}) for q in w.get("queries", [])
    }
    assert datasets == {"ds_budgets", "ds_anomalies"}


def test_budgets_are_the_latest_month_one_row_per_budget(lakehouse, doc, preview):
    """September's budgets in force: one unit-wide budget per unit, plus ml-platform's model-serving budget."""
    rows = _dataset_rows(lakehouse, doc, "ds_budgets", Selection(AS_OF))
    september = dt.date(2026, 9, 1)
    assert {r.billing_month for r in rows} == {september}
    keys = [(r.business_unit, r.workspace_scope, r.product_scope) for r in rows]
    assert len(keys) == len(set(keys))
    in_force = [
        b
        for b in config_module.load_config(CONFIG_FILE).budgets
        if b.valid_from <= september and (b.valid_to is None or september < b.valid_to)
    ]
    unit_wide = sorted(r.business_unit for r in rows if (r.workspace_scope, r.product_scope) == ("*", "*"))
    assert unit_wide == sorted(b.business_unit for b in in_force if not (b.workspace_id or b.billing_origin_product))
    assert len(rows) == len(in_force) == 4
    assert len({r.budget_name for r in rows}) == len(rows)  # the bar's categories do not merge budgets
    assert {r.status for r in rows} <= {"ok", "warning", "critical", "over"}
    assert all(r.as_of_date == END and r.budget_amount > 0 for r in rows)
    gold_rows = lakehouse.sql(
        "SELECT business_unit, workspace_scope, product_scope, status, forecast_month_end "
        "FROM main.chargeback.budget_status_monthly WHERE billing_month = DATE'2026-09-01'"
    ).collect()
    assert {(r.business_unit, r.workspace_scope, r.product_scope, r.status, r.forecast_month_end) for r in rows} == {
        tuple(r) for r in gold_rows
    }
    at_risk = sum(1 for r in rows if r.status != "ok")
    assert _value(preview, "kpi_budgets_at_risk", "sum(at_risk_count)") == at_risk > 0
    by_status = preview.queries[("budgets_by_status", "main_query")]
    assert sum(r[1] for r in by_status.rows) == len(rows)


def test_anomalies_are_the_flagged_days_above_the_floor(lakehouse, doc, spike_job_id):
    """The injected spike is flagged for its job and its unit; high scores below the floor stay out."""
    rows = _dataset_rows(lakehouse, doc, "ds_anomalies", Selection(AS_OF))
    flagged = lakehouse.sql(
        "SELECT usage_date, scope, business_unit, workload_type, workload_id, reason "
        "FROM main.chargeback.cost_anomalies_daily WHERE is_anomaly"
    ).collect()
    assert len(rows) == len(flagged) > 0
    assert {r.reason for r in rows} == {r.reason for r in flagged} == {"spike"}  # what 40 days + one spike produce
    for r in rows:  # a spike clears the floor by its cost over the baseline
        assert r.deviation_cost == r.effective_cost - r.baseline_median >= r.floor_cost > 0
    spike_unit, spike_job = (
        next(f for f in flagged if f.scope == scope and f.usage_date == SPIKE_DAY)
        for scope in ("business_unit", "workload")
    )
    assert spike_job.workload_id == spike_job_id and spike_unit.business_unit == spike_job.business_unit
    assert {(r.usage_date, r.scope, r.business_unit) for r in rows} == {
        (SPIKE_DAY, "workload", spike_job.business_unit),
        (SPIKE_DAY, "business unit", spike_unit.business_unit),
    }
    below_floor = _sql(
        lakehouse, "SELECT COUNT(*) FROM main.chargeback.cost_anomalies_daily WHERE score >= 3.5 AND NOT is_anomaly"
    )
    assert below_floor > 0  # scored high, yet under the floor: the dataset must not list them
    august = _dataset_rows(lakehouse, doc, "ds_anomalies", Selection(AS_OF, (START, dt.date(2026, 8, 31))))
    assert august == []


def test_policy_coverage_lists_serverless_cost_without_a_known_policy(lakehouse, doc, preview):
    direct = (
        "SELECT SUM(effective_cost) FROM main.chargeback.policy_coverage_daily "
        "WHERE policy_status IN ('none', 'unknown')"
    )
    rows = _dataset_rows(lakehouse, doc, "ds_policy_coverage", Selection(AS_OF))
    assert {r.policy_status for r in rows} == {"none", "unknown"}
    assert sum(r.uncovered_cost for r in rows) == _sql(lakehouse, direct)
    table = preview.queries[("policy_coverage", "main_query")]
    assert sum(r[table.columns.index("sum(uncovered_cost)")] for r in table.rows) == _sql(lakehouse, direct)
    others = "SELECT COUNT(*) FROM main.chargeback.policy_coverage_daily WHERE policy_status IN ('mapped', 'tagged')"
    assert _sql(lakehouse, others) > 0  # covered usage exists: the dataset leaves it out
    in_august = _dataset_rows(lakehouse, doc, "ds_policy_coverage", Selection(AS_OF, (START, dt.date(2026, 8, 31))))
    assert sum(r.uncovered_cost for r in in_august) == _sql(
        lakehouse, direct + " AND usage_date BETWEEN DATE'2026-08-01' AND DATE'2026-08-31'"
    )


# --- the Optimize page ----------------------------------------------------------------------------------

OPTIMIZE_DATASETS = {
    "ds_job_runs",
    "ds_wasted_runs",
    "ds_warehouse_daily",
    "ds_warehouse_consumers",
    "ds_serverless_users",
}
# Every table of the page names what it lists, then whom to ask (owner) and who pays (business unit).
OPTIMIZE_TABLES = {
    "costliest_jobs": ("job_name", "owner", "business_unit"),
    "wasted_runs": ("job_name", "owner", "business_unit"),
    "warehouse_idle": ("warehouse_name", "warehouse_owner", "idle_business_units"),
    "warehouse_consumers": ("warehouse_name", "identity", "business_unit"),
    "serverless_users": ("owner", "owner", "business_unit"),
}


def test_optimize_page(doc):
    page = _page(doc, "Optimize")
    kinds = {item["widget"]["name"]: item["widget"].get("spec", {}).get("widgetType") for item in page["layout"]}
    assert kinds == {
        "optimize_title": None,
        "kpi_wasted_job_cost": "counter",
        "kpi_waste_share": "counter",
        "kpi_warehouse_idle_cost": "counter",
        "kpi_warehouse_idle_share": "counter",
        "costliest_jobs": "table",
        "top_jobs_daily": "bar",
        "wasted_runs": "table",
        "warehouse_idle": "table",
        "warehouse_idle_daily": "bar",
        "warehouse_consumers": "table",
        "serverless_users": "table",
    }
    datasets = {
        q["query"]["datasetName"] for _, w, _ in dashboard.widgets({"pages": [page]}) for q in w.get("queries", [])
    }
    assert datasets == OPTIMIZE_DATASETS
    read = set().union(
        *(
            dashboard.table_names(dashboard.bind(ds, Selection(AS_OF)))[0]
            for ds in doc["datasets"]
            if ds["name"] in datasets
        )
    )
    assert read == {"job_run_costs", "compute_consumption_hourly", "usage_costs"}


def test_optimize_datasets_return_rows(lakehouse, doc):
    for name in sorted(OPTIMIZE_DATASETS):
        assert _dataset_rows(lakehouse, doc, name, Selection(AS_OF)), name


@pytest.mark.parametrize("widget", sorted(OPTIMIZE_TABLES))
def test_optimize_tables_show_names_owners_and_business_units(doc, preview, widget):
    name, owner, unit = OPTIMIZE_TABLES[widget]
    shown = [c["fieldName"] for c in _widget(doc, widget)["spec"]["encodings"]["columns"]]
    assert shown[0] == name and owner in shown and unit in shown, shown
    rows = _rows(preview, widget)
    assert rows and all(r[name] and r[owner] and r[unit] for r in rows)


def test_optimize_names_are_names_not_ids(lakehouse, preview):
    job_ids = {r[0] for r in lakehouse.sql("SELECT DISTINCT job_id FROM main.chargeback.job_run_costs").collect()}
    warehouse_ids = {
        r[0]
        for r in lakehouse.sql("SELECT DISTINCT warehouse_id FROM main.chargeback.compute_consumption_hourly").collect()
    }
    for widget in ("costliest_jobs", "wasted_runs"):
        assert not {r["job_name"] for r in _rows(preview, widget)} & job_ids
    for widget in ("warehouse_idle", "warehouse_consumers"):
        assert not {r["warehouse_name"] for r in _rows(preview, widget)} & warehouse_ids


def test_job_cost_and_waste_match_job_run_costs(lakehouse, doc, preview):
    runs, total, wasted_runs, waste = lakehouse.sql(
        "SELECT COUNT(*), SUM(effective_cost), SUM(CASE WHEN is_waste THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN is_waste THEN effective_cost ELSE 0 END) FROM main.chargeback.job_run_costs"
    ).collect()[0]
    assert _value(preview, "kpi_wasted_job_cost", "sum(wasted_cost)") == waste > 0
    assert abs(_value(preview, "kpi_waste_share", "waste_share") - waste / total) < Decimal("1e-6")
    jobs = _rows(preview, "costliest_jobs")
    assert sum(r["sum(effective_cost)"] for r in jobs) == total  # exact: decimals all the way
    assert sum(r["count(job_run_id)"] for r in jobs) == runs
    assert sum(r["sum(wasted_cost)"] for r in jobs) == waste and sum(r["sum(wasted_runs)"] for r in jobs) == wasted_runs
    costs = [r["sum(effective_cost)"] for r in jobs]
    assert costs == sorted(costs, reverse=True)
    for r in jobs:
        assert abs(r["avg(effective_cost)"] * r["count(job_run_id)"] - r["sum(effective_cost)"]) < Decimal("1e-6")
    wasted = _rows(preview, "wasted_runs")
    assert len(wasted) == wasted_runs and sum(r["effective_cost"] for r in wasted) == waste
    assert {r["result_state"] for r in wasted} <= {
        "FAILED",
        "ERROR",
        "TIMED_OUT",
        "CANCELLED",
        "SUCCEEDED after repair",
    }
    assert all(r["attempt_count"] > 1 for r in wasted if r["result_state"] == "SUCCEEDED after repair")
    daily = _rows(preview, "top_jobs_daily")
    assert sum(r["sum(effective_cost)"] for r in daily) == total
    top8 = lakehouse.sql(
        "SELECT job_name, SUM(effective_cost) AS cost FROM main.chargeback.job_run_costs "
        "GROUP BY workspace_id, job_id, job_name ORDER BY cost DESC LIMIT 8"
    ).collect()
    assert {r["top_job"] for r in daily} == {r.job_name for r in top8} | {"other jobs"}  # 8 lines, the rest as one
    in_august = _dataset_rows(lakehouse, doc, "ds_job_runs", Selection(AS_OF, (START, dt.date(2026, 8, 31))))
    assert in_august and {r.run_date.month for r in in_august} == {8}


def test_a_renamed_job_is_one_job_under_its_latest_name(lakehouse, doc):
    """Runs keep the job name of the day they were written: a job renamed between two runs is still one job."""
    from chargeback.names import TableName
    from tests.helpers import spec_frame

    def run_row(run: str, name: str, day: int, cost: str) -> dict[str, Any]:
        start = dt.datetime(2026, 8, day, 1)
        return {"job_run_id": run, "workspace_id": "1", "job_id": "j1", "job_name": name, "run_date": start.date(),
                "run_start_at": start, "is_waste": False, "business_unit": "finance", "effective_cost": Decimal(cost),
                "currency_code": "USD"}  # fmt: skip

    spec = cost_tables.JOB_RUN_COSTS
    runs = [run_row("r1", "old name", 3, "10"), run_row("r2", "new name", 4, "5")]
    lakehouse.write(TableName("main", "renamed", spec.table), spec, spec_frame(lakehouse.spark, spec, runs))
    ds = next(d for d in doc["datasets"] if d["name"] == "ds_job_runs")
    lakehouse.set_current_schema("main", "renamed")
    rows = lakehouse.sql(dashboard.bind(ds, Selection(AS_OF, (START, END)))).collect()
    assert sorted((r.job_run_id, r.job_name, r.top_job, r.effective_cost) for r in rows) == [
        ("r1", "new name", "new name", Decimal(10)),
        ("r2", "new name", "new name", Decimal(5)),
    ]


def test_warehouse_idle_and_consumers_match_compute_consumption_hourly(lakehouse, preview):
    idle, total = lakehouse.sql(
        "SELECT SUM(CASE WHEN is_idle THEN effective_cost ELSE 0 END), SUM(effective_cost) "
        "FROM main.chargeback.compute_consumption_hourly"
    ).collect()[0]
    assert _value(preview, "kpi_warehouse_idle_cost", "sum(idle_cost)") == idle > 0
    assert abs(_value(preview, "kpi_warehouse_idle_share", "idle_share") - idle / total) < Decimal("1e-6")
    warehouses = _rows(preview, "warehouse_idle")
    assert sum(r["sum(idle_cost)"] for r in warehouses) == idle
    assert sum(r["sum(idle_cost)"] + r["sum(busy_cost)"] for r in warehouses) == total
    consumers = _rows(preview, "warehouse_consumers")
    assert sum(r["effective_cost"] for r in consumers) == total
    for warehouse in {r["warehouse_name"] for r in consumers}:
        shares = [r["share_of_warehouse"] for r in consumers if r["warehouse_name"] == warehouse]
        assert abs(sum(shares) - 1) < Decimal("1e-5"), warehouse
    statements = _sql(lakehouse, "SELECT SUM(query_count) FROM main.chargeback.compute_consumption_hourly")
    assert sum(r["query_count"] for r in consumers) == statements > 0
    assert any(r["business_unit"] != "UNALLOCATED" for r in consumers)  # consumers are charged to their units


def test_serverless_users_are_serverless_usage_by_owner(lakehouse, preview):
    serverless = lakehouse.sql(
        "SELECT COALESCE(owner_identity, 'unknown') AS owner, business_unit, billing_origin_product, effective_cost "
        "FROM main.chargeback.usage_costs WHERE is_serverless"
    ).collect()
    users = _rows(preview, "serverless_users")
    assert sum(r["sum(effective_cost)"] for r in users) == sum(r.effective_cost for r in serverless)
    for r in users:
        products = {
            s.billing_origin_product
            for s in serverless
            if (s.owner, s.business_unit) == (r["owner"], r["business_unit"])
        }
        assert r["products"] == ", ".join(sorted(products))


# --- parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("now/d", "2026-09-10"),
        ("now-2M/M", "2026-07-01"),
        ("now-30d/d", "2026-08-11"),
        ("now-1w/w", "2026-08-31"),
        ("now-1y/y", "2025-01-01"),
        ("now+1M", "2026-10-10"),
        ("2026-01-15", "2026-01-15"),
        ("2026-01-15T00:00:00.000", "2026-01-15"),
    ],
)
def test_relative_dates(value, expected):
    assert dashboard.resolve_date(value, dt.date(2026, 9, 10)) == dt.date.fromisoformat(expected)


def test_relative_months_clamp_to_the_month_end():
    assert dashboard.resolve_date("now-1M", dt.date(2026, 3, 31)) == dt.date(2026, 2, 28)
    with pytest.raises(InputError, match="yesterday"):
        dashboard.resolve_date("yesterday", dt.date(2026, 3, 31))


def test_binding_replaces_only_parameter_markers():
    ds = {
        "queryLines": [
            "SELECT ':period.min' AS s, x::date AS d\n",
            "FROM t WHERE d BETWEEN :period.min AND :period.max\n",
        ],
        "parameters": [{"keyword": "period", "dataType": "DATE", "complexType": "RANGE"}],
    }
    bound = dashboard.bind(ds, Selection(AS_OF, (dt.date(2026, 8, 1), dt.date(2026, 8, 31))))
    assert bound == (
        "SELECT ':period.min' AS s, x::date AS d\nFROM t WHERE d BETWEEN DATE'2026-08-01' AND DATE'2026-08-31'\n"
    )


def test_widget_queries_group_by_their_dimensions():
    query = {
        "fields": [
            {"name": "daily(usage_date)", "expression": 'DATE_TRUNC("DAY", `usage_date`)'},
            {"name": "sum(effective_cost)", "expression": "SUM(`effective_cost`)"},
        ],
        "disaggregated": False,
        "orders": [{"direction": "DESC", "expression": "SUM(`effective_cost`)"}],
    }
    assert dashboard.widget_sql(query, "SELECT 1\n-- a trailing comment") == (
        'SELECT DATE_TRUNC("DAY", `usage_date`) AS `daily(usage_date)`, SUM(`effective_cost`) AS `sum(effective_cost)`'
        '\nFROM (\nSELECT 1\n-- a trailing comment\n) AS dataset\nGROUP BY DATE_TRUNC("DAY", `usage_date`)'
        "\nORDER BY SUM(`effective_cost`) DESC"
    )


# --- notebooks ------------------------------------------------------------------------------------------


class _Widgets:
    def __init__(self, values: dict[str, str]):
        self.values, self.defined = values, {}

    def text(self, name: str, default: str, label: str = "") -> None:
        self.defined[name] = default

    def get(self, name: str) -> str:
        assert name in self.defined, f"widget {name} read before it is defined"
        return self.values.get(name, self.defined[name])


class _Dbutils:
    """`dbutils` as a notebook at `NOTEBOOK_PATH` sees it: widgets, and its own path through the context."""

    def __init__(self, values: dict[str, str]):
        self.widgets = _Widgets(values)
        path = SimpleNamespace(get=lambda: NOTEBOOK_PATH)
        context = SimpleNamespace(notebookPath=lambda: path)
        inner = SimpleNamespace(notebook=lambda: SimpleNamespace(getContext=lambda: context))
        self.notebook = SimpleNamespace(entry_point=SimpleNamespace(getDbutils=lambda: inner))


# Where `bundle deploy` syncs a notebook for a user (workspace.file_path/notebooks/<name>), as the context reports it.
NOTEBOOK_PATH = "/Users/someone@example.com/.bundle/chargeback/dev/files/notebooks/a_notebook"


def _run_notebook(name: str, spark: Any, values: dict[str, str]) -> list[Any]:
    """Execute a Databricks source-format notebook with stand-ins for dbutils and display."""
    shown: list[Any] = []
    source = (ROOT / "notebooks" / f"{name}.py").read_text()
    namespace = {"spark": spark, "dbutils": _Dbutils(values), "display": shown.append}
    exec(compile(source, name, "exec"), namespace)  # MAGIC lines are comments to Python
    assert namespace["bundle_files"] == "/Workspace/Users/someone@example.com/.bundle/chargeback/dev/files"
    return shown


def test_statement_explorer_shows_the_statement_and_drills_into_a_unit(lakehouse):
    (statement,) = _run_notebook("statement_explorer", lakehouse.spark, {})
    rows = {r["business_unit"]: r["effective_cost"] for r in statement.collect()}
    assert rows and set(rows) == {
        r[0]
        for r in lakehouse.sql(
            "SELECT business_unit FROM main.chargeback.chargeback_monthly WHERE billing_month = DATE'2026-09-01'"
        ).collect()
    }
    (drill,) = _run_notebook(
        "statement_explorer", lakehouse.spark, {"billing_month": "2026-09", "business_unit": "finance"}
    )
    lines = drill.collect()
    assert {r["cost_kind"] for r in lines} <= {"direct", "shared", "correction"}
    assert sum(r["effective_cost"] for r in lines) == rows["finance"]


def test_statement_explorer_rejects_a_bad_month(lakehouse):
    with pytest.raises(InputError, match="2026/09"):
        _run_notebook("statement_explorer", lakehouse.spark, {"billing_month": "2026/09"})


def test_backfill_notebook_runs_every_job_step_for_its_dates(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr("chargeback.cli.main", lambda argv: calls.append(argv) or 0)
    _run_notebook("backfill", None, {"start_date": "2026-01-01", "end_date": "2026-01-31"})
    (argv,) = calls
    args = build_parser().parse_args(argv)
    assert (args.command, args.step, args.start_date, args.end_date) == (
        "job-step",
        "all",
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 31),
    )
    assert (args.catalog, args.schema, args.config) == ("main", "chargeback", None), "the package's config"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.name)
def test_notebooks_do_not_depend_on_the_working_directory(path):
    # `%pip install ..` and `../config/...` resolve against a working directory serverless does not promise.
    assert not re.search(r"(^|[\s\"'])\.\.?/", path.read_text(), re.MULTILINE)


# --- the HTML preview -----------------------------------------------------------------------------------


def test_html_preview_renders_every_page_and_widget_offline(lakehouse, doc, tmp_path):
    out = tmp_path / "preview.html"
    pages, count = dashboard.write_preview(lakehouse, DASHBOARD, out, "main", "chargeback", Selection(AS_OF))
    text = out.read_text()
    assert (pages, count) == (len(doc["pages"]), sum(1 for _ in dashboard.widgets(doc)))
    for page in doc["pages"]:
        if page["pageType"] == "PAGE_TYPE_CANVAS":
            assert f">{page['displayName']}</h2>" in text
    for _, widget, _ in dashboard.widgets(doc):
        if "spec" in widget:
            assert f">{widget['spec']['frame']['title']}</h3>" in text, widget["name"]
    charts = [w for _, w, _ in dashboard.widgets(doc) if w.get("spec", {}).get("widgetType") in CHART_TYPES]
    assert text.count("<svg ") == len(charts)
    assert "<script" not in text and not re.search(r"(src|href)=['\"]?(https?:)?//", text)


def test_dashboard_command(lakehouse, tmp_path, capsys):
    out = tmp_path / "dash.html"
    assert main(["dashboard", "--lakehouse", str(lakehouse.root), "--out", str(out)]) == 0
    assert "7 pages, 53 widgets" in capsys.readouterr().out
    assert "today taken as 2026-09-10" in out.read_text()


def test_dashboard_command_on_a_lakehouse_without_gold_tables(tmp_path, capsys):
    assert main(["dashboard", "--lakehouse", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert "main.chargeback.cost_daily is not in the lakehouse (run `chargeback run` first)" in capsys.readouterr().err
