"""Benchmark of the chargeback pipeline against the least work any correct pipeline must do.

    .venv/bin/python bench/run.py [--scales 1000000,10000000] [--repeat 3] [--out bench/results.json]

For each scale (total usage rows) it generates synthetic system tables (`WINDOW_DAYS` days, scale / days rows a
day) into a scratch lakehouse and measures on the local Sail engine:

- `limit`: one scan of usage joined to list prices and summed by day and product (the bare limit);
- `pipeline`: `chargeback.jobs.daily.run` with `config/chargeback.yml` over the same days, and its ratio to the limit;
- `dashboard`: each dashboard query on gold against the equivalent query on raw usage;
- `jvm_pipeline`: the same pipeline on JVM PySpark (Spark Connect local mode, parquet tables, no Delta) at the
  smallest scale;
- `enterprise`: at the smallest scale, `validate-config` (`load_config`) and the pipeline with an enterprise-sized
  config (`chargeback.enterprise`: the example config plus 5,000 business units, 20,000 tag aliases and 2,000
  identity rules) against the example config.

Then a year of history at `--year-scale` rows a day: a full rebuild over the year against the daily incremental
run (window = the config's `lookback_days`) once the history is built.

Every measurement runs in its own process, so its peak memory (VmHWM: the embedded Sail server is in-process;
the JVM is a child process and is added) is that phase's alone. Times are medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from chargeback.contracts.table_spec import TableSpec, with_null_columns
from chargeback.names import TableName
from chargeback.storage.store import TableStore

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "chargeback.yml"
START_DATE = dt.date(2026, 1, 1)
RUN_AT = dt.datetime(2027, 1, 15, 6, 0, tzinfo=dt.UTC)
SEED = 7
WINDOW_DAYS = 30
YEAR_DAYS = 365
TARGETS = {"pipeline_vs_limit": 3.0, "incremental_vs_full": 0.10, "dashboard_speedup": 20.0}
GIB = 1024**3


# ---------------------------------------------------------------------------------------------------------
# Dashboard datasets (src/chargeback/resources/chargeback.lvdash.json, on gold) and their equivalents on raw usage
# ---------------------------------------------------------------------------------------------------------

# Raw usage of the period priced as the pipeline prices it (half-open interval, the casts of chargeback.money),
# with the business unit read from the first unit tag: what one would query without the pipeline.
_PRICED = """WITH prices AS (
  SELECT sku_name, cloud, usage_unit, price_start_time,
         LEAST(price_end_time, LEAD(price_start_time) OVER (
           PARTITION BY sku_name, cloud, usage_unit, currency_code ORDER BY price_start_time)) AS price_end_time,
         COALESCE(pricing.effective_list.default, pricing.default) AS unit_price,
         pricing.default AS list_price
  FROM system.billing.list_prices WHERE currency_code = 'USD'
), priced AS (
  SELECT u.*,
    CAST(CAST(u.usage_quantity AS DECIMAL(24,12)) * CAST(p.unit_price AS DECIMAL(13,10)) AS DECIMAL(38,10)) AS cost,
    CAST(CAST(u.usage_quantity AS DECIMAL(24,12)) * CAST(p.list_price AS DECIMAL(13,10)) AS DECIMAL(38,10))
      AS list_cost,
    COALESCE(u.custom_tags['business_unit'], u.custom_tags['BusinessUnit'], u.custom_tags['cost_center'],
             u.custom_tags['team']) AS unit_tag,
    COALESCE(u.usage_metadata.endpoint_id, u.usage_metadata.job_id, u.usage_metadata.dlt_pipeline_id,
             u.usage_metadata.warehouse_id, u.usage_metadata.app_id, u.usage_metadata.notebook_id,
             u.usage_metadata.cluster_id, u.billing_origin_product) AS workload_id
  FROM system.billing.usage u LEFT JOIN prices p
    ON u.sku_name = p.sku_name AND u.cloud = p.cloud AND u.usage_unit = p.usage_unit
   AND u.usage_end_time >= p.price_start_time AND (p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)
"""
_ALL = ")\n"
_IN_PERIOD = "WHERE u.usage_date BETWEEN :period.min AND :period.max)\n"

_PERIOD = {"keyword": "period", "dataType": "DATE", "complexType": "RANGE"}
# Dataset name -> (period filter of the priced CTE, query over it).
RAW_EQUIVALENTS = {
    "ds_cost": (
        _IN_PERIOD,
        """SELECT usage_date, trunc(usage_date, 'MM') AS billing_month,
  COALESCE(unit_tag, 'UNALLOCATED') AS business_unit, workspace_id, billing_origin_product, sku_name,
  CASE WHEN sku_name LIKE '%SERVERLESS%' THEN 'serverless' WHEN sku_name LIKE '%COMPUTE%' THEN 'classic'
       ELSE 'other (storage, networking)' END AS compute_type,
  workload_id, SUM(list_cost) AS list_cost, SUM(cost) AS effective_cost
FROM priced GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    ),
    "ds_month": (
        _ALL,
        """SELECT COALESCE(unit_tag, 'UNALLOCATED') AS business_unit, workspace_id, billing_origin_product,
  SUM(CASE WHEN trunc(usage_date, 'MM') = m.current_month THEN cost ELSE 0 END) AS month_to_date_cost,
  SUM(CASE WHEN trunc(usage_date, 'MM') = add_months(m.current_month, -1) THEN cost ELSE 0 END)
    AS previous_month_cost
FROM priced CROSS JOIN (SELECT trunc(MAX(usage_date), 'MM') AS current_month FROM priced) AS m
WHERE usage_date >= add_months(m.current_month, -1)
GROUP BY 1, 2, 3""",
    ),
    "ds_statement": (
        _IN_PERIOD,
        """SELECT trunc(usage_date, 'MM') AS billing_month, COALESCE(unit_tag, 'UNALLOCATED') AS business_unit,
  SUM(list_cost) AS list_cost, SUM(cost) AS total_cost
FROM priced GROUP BY 1, 2""",
    ),
    "ds_serving": (
        _IN_PERIOD,
        """SELECT usage_date, workspace_id, usage_metadata.endpoint_name AS endpoint_name,
  COALESCE(unit_tag, 'UNALLOCATED') AS business_unit,
  SUM(CASE WHEN sku_name LIKE '%_REAL_TIME_INFERENCE_LAUNCH%' THEN cost ELSE 0 END) AS launch_cost,
  SUM(CASE WHEN sku_name LIKE '%_REAL_TIME_INFERENCE_LAUNCH%' THEN 0 ELSE cost END) AS inference_cost,
  SUM(cost) AS effective_cost
FROM priced WHERE billing_origin_product = 'MODEL_SERVING' GROUP BY 1, 2, 3, 4""",
    ),
    "ds_tags": (
        _IN_PERIOD,
        """SELECT usage_date, workspace_id, billing_origin_product, SUM(cost) AS total_cost,
  SUM(CASE WHEN unit_tag IS NOT NULL THEN cost ELSE 0 END) AS tagged_cost,
  SUM(CASE WHEN unit_tag IS NULL THEN cost ELSE 0 END) AS unallocated_cost
FROM priced GROUP BY 1, 2, 3""",
    ),
    "ds_untagged": (
        _IN_PERIOD,
        """SELECT workspace_id, billing_origin_product, workload_id,
  COALESCE(identity_metadata.run_as, identity_metadata.owned_by, identity_metadata.created_by) AS owner,
  SUM(cost) AS untagged_cost
FROM priced WHERE unit_tag IS NULL GROUP BY 1, 2, 3, 4""",
    ),
    "ds_reconciliation": (_IN_PERIOD, "SELECT SUM(cost) AS billed_cost FROM priced"),
    "ds_policy_coverage": (
        _IN_PERIOD,
        """SELECT COALESCE(identity_metadata.run_as, identity_metadata.owned_by, identity_metadata.created_by) AS owner,
  workspace_id, SUM(cost) AS uncovered_cost
FROM priced
WHERE product_features.is_serverless AND usage_metadata.warehouse_id IS NULL  -- warehouses take no policy
  AND COALESCE(usage_metadata.usage_policy_id, usage_metadata.budget_policy_id) IS NULL
GROUP BY 1, 2""",
    ),
}


def dashboard_datasets(start: dt.date, end: dt.date) -> list[tuple[str, str, str | None]]:
    """(dataset name, its SQL on gold, the raw-usage equivalent or None), period = the bench window."""
    from chargeback.dashboard import DEFAULT_FILE, Selection, bind, load

    selection = Selection(as_of=end + dt.timedelta(days=1), period=(start, end))
    out = []
    for ds in load(DEFAULT_FILE)["datasets"]:
        raw = RAW_EQUIVALENTS.get(ds["name"])
        raw_ds = {"queryLines": [_PRICED, *raw], "parameters": [_PERIOD]} if raw else None
        out.append((ds["name"], bind(ds, selection), bind(raw_ds, selection) if raw_ds else None))
    return out


# ---------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------


def _status_kib(pid: int | str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def reset_peak_memory() -> None:
    """Start a new peak-RSS measurement for this process (Linux; elsewhere the process peak is kept)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mib() -> dict[str, float]:
    """Peak RSS since the last reset: this process (with the in-process Sail server) and its child processes."""
    own = _status_kib("self", "VmHWM")
    if not own:  # no /proc: the process lifetime peak (KiB on Linux, bytes on macOS)
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    children = sum(_status_kib(pid, "VmHWM") for pid in _descendants(os.getpid()))
    return {"process_mib": round(own / 1024, 1), "children_mib": round(children / 1024, 1)}


def timed(action: Callable[[], object], repeat: int) -> dict[str, Any]:
    """Median wall time of `repeat` runs of `action`, with every run."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(round(time.perf_counter() - started, 3))
    return {"median_s": statistics.median(runs), "runs_s": runs}


# ---------------------------------------------------------------------------------------------------------
# Phases: each runs in its own worker process and returns a JSON-able dict
# ---------------------------------------------------------------------------------------------------------


@contextmanager
def _lakehouse(path: str, catalogs: tuple[str, ...] = ("system", "main")) -> Iterator[Any]:
    from chargeback.local.engine import local_session
    from chargeback.local.lakehouse import LocalLakehouse

    with local_session(catalogs) as spark:
        yield LocalLakehouse(spark, Path(path))


def _params(start: dt.date, end: dt.date, run_id: str) -> Any:
    from chargeback.jobs.daily import RunParams

    return RunParams("main", "chargeback", start, end, run_id, RUN_AT)


def phase_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from chargeback.local.synthetic import USAGE_TABLE, generate

    with _lakehouse(spec["lakehouse"], ("system",)) as store:
        started = time.perf_counter()
        counts = generate(store, dt.date.fromisoformat(spec["start"]), spec["days"], SEED, spec["rows_per_day"])
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "usage_rows": counts[USAGE_TABLE], "peak": peak_memory_mib()}


def limit_frame(store: Any, start: dt.date, end: dt.date) -> Any:
    """The bare limit: usage of the window priced (the pipeline's own join and casts), summed by day and product."""
    from pyspark.sql import functions as F

    from chargeback.jobs.daily import SourceTables
    from chargeback.money import MONEY, QUANTITY
    from chargeback.steps.pricing import price_intervals, price_usage
    from chargeback.steps.usage import usage_window

    src = SourceTables()
    usage = usage_window(store.read(src.usage), start, end).select(
        "usage_date",
        "billing_origin_product",
        "sku_name",
        "cloud",
        "usage_unit",
        "usage_end_time",
        F.col("usage_quantity").cast(QUANTITY).alias("usage_quantity"),
    )
    priced = price_usage(usage, price_intervals(store.read(src.list_prices), "USD"))
    return priced.groupBy("usage_date", "billing_origin_product").agg(F.sum("list_cost").cast(MONEY).alias("cost"))


def phase_limit(spec: dict[str, Any]) -> dict[str, Any]:
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    with _lakehouse(spec["lakehouse"]) as store:
        reset_peak_memory()
        result = timed(lambda: limit_frame(store, start, end).collect(), spec["repeat"])
        total = limit_frame(store, start, end).agg({"cost": "sum"}).collect()[0][0]
    return {**result, "list_cost": str(total), "peak": peak_memory_mib()}


def _run_pipeline(
    store: Any, start: dt.date, end: dt.date, repeat: int, label: str, config_file: Path = CONFIG
) -> dict[str, Any]:
    from chargeback.config import load_config
    from chargeback.jobs.daily import run

    config = load_config(config_file)
    summaries = []

    def once() -> None:
        summaries.append(run(store, config, _params(start, end, f"bench-{label}-{len(summaries)}")))

    result = timed(once, repeat)
    last = summaries[-1]
    return {
        **result,
        "steps_s": [s.step_seconds for s in summaries],
        "usage_lines": last.usage_line_count,
        "billed_cost": str(last.billed_cost),
        "is_balanced": last.is_balanced,
        "peak": peak_memory_mib(),
    }


def phase_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    with _lakehouse(spec["lakehouse"]) as store:
        reset_peak_memory()
        return _run_pipeline(store, start, end, spec["repeat"], spec["label"], Path(spec.get("config", CONFIG)))


def phase_validate(spec: dict[str, Any]) -> dict[str, Any]:
    """`load_config` (what `chargeback validate-config` runs) of each config file, with the config's size."""
    from chargeback.config import load_config

    out: dict[str, Any] = {}
    reset_peak_memory()
    for label, path in spec["configs"].items():
        config = load_config(path)
        a = config.attribution
        rules = (a.tag_values, a.budget_policies, a.workloads, a.identities, a.workspaces)
        out[label] = {
            **timed(lambda p=path: load_config(p), spec["repeat"]),
            "units": len(config.business_units),
            "tag_values": len(a.tag_values),
            "identities": len(a.identities),
            "rules": sum(map(len, rules)),
            "bytes": Path(path).stat().st_size,
        }
    out["peak"] = peak_memory_mib()
    return out


def phase_dashboard(spec: dict[str, Any]) -> dict[str, Any]:
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    out: dict[str, Any] = {}
    with _lakehouse(spec["lakehouse"]) as store:
        store.set_current_schema("main", "chargeback")
        reset_peak_memory()
        for name, gold_sql, raw_sql in dashboard_datasets(start, end):
            gold = timed(lambda q=gold_sql: store.sql(q).collect(), spec["repeat"])
            raw = timed(lambda q=raw_sql: store.sql(q).collect(), spec["repeat"]) if raw_sql else None
            out[name] = {
                "gold": gold,
                "raw": raw,
                "speedup": _ratio(raw["median_s"], gold["median_s"]) if raw else None,
            }
        out["peak"] = peak_memory_mib()
    return out


def phase_jvm(spec: dict[str, Any]) -> dict[str, Any]:
    """The pipeline on JVM PySpark, reading parquet copies of the system tables (exported with Sail, untimed)."""
    from pyspark.sql import SparkSession

    from chargeback.local.synthetic import (
        JOBS_TABLE,
        LIST_PRICES_TABLE,
        PIPELINES_TABLE,
        SERVED_ENTITIES_TABLE,
        USAGE_TABLE,
        WORKSPACES_TABLE,
    )

    sources = (USAGE_TABLE, LIST_PRICES_TABLE, WORKSPACES_TABLE, JOBS_TABLE, PIPELINES_TABLE, SERVED_ENTITIES_TABLE)
    root = Path(spec["parquet_root"])
    shutil.rmtree(root, ignore_errors=True)
    with _lakehouse(spec["lakehouse"], ("system",)) as sail:
        for name in sources:
            sail.read(name).write.parquet(str(ParquetStore.version_path(root, name, 0)))
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    # SPARK_TESTING gives the local server an ephemeral port (no collision with a test run on 15002); the plan
    # validation it also turns on is turned off again, so it does not slow the measured runs.
    os.environ["SPARK_TESTING"] = "1"
    spark = (
        SparkSession.builder.remote("local[2]")
        .config("spark.sql.planChangeValidation", "false")
        .config("spark.driver.memory", spec["driver_memory"])
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        reset_peak_memory()
        result = _run_pipeline(ParquetStore(spark, root, sources), start, end, spec["repeat"], "jvm")
    finally:
        spark.stop()
    return result


def phase_year(spec: dict[str, Any]) -> dict[str, Any]:
    """A full rebuild over the whole history, then the daily incremental run (window = lookback) on top of it."""
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    window_start = end - dt.timedelta(days=spec["incremental_days"] - 1)
    with _lakehouse(spec["lakehouse"]) as store:
        reset_peak_memory()
        if spec["kind"] == "full":
            return _run_pipeline(store, start, end, spec["repeat"], "full")
        return _run_pipeline(store, window_start, end, spec["repeat"], "incremental")


PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": phase_generate,
    "limit": phase_limit,
    "pipeline": phase_pipeline,
    "validate": phase_validate,
    "dashboard": phase_dashboard,
    "jvm": phase_jvm,
    "year": phase_year,
}


class ParquetStore(TableStore):
    """Tables as parquet folders for an engine without Delta: every write makes a new version folder.

    A windowed write keeps the previous version's rows outside the window, as Delta replaceWhere does.
    """

    def __init__(self, spark: Any, root: Path, sources: tuple[TableName, ...] = ()):
        super().__init__(spark)
        self.root = root
        self.versions = dict.fromkeys(sources, 0)

    @staticmethod
    def version_path(root: Path, name: TableName, version: int) -> Path:
        return root / name.catalog / name.schema / name.table / f"v{version}"

    def exists(self, name: TableName) -> bool:
        return name in self.versions

    def read(self, name: TableName) -> Any:
        return self.spark.read.parquet(str(self.version_path(self.root, name, self.versions[name])))

    def _create(self, name: TableName, spec: TableSpec) -> None:
        self._save(name, self.spark.createDataFrame([], spec.ddl_schema(with_comments=False)))

    def _add_columns(self, name: TableName, spec: TableSpec, columns: tuple[Any, ...]) -> None:
        self._save(name, with_null_columns(self.read(name), columns))

    def _save(self, name: TableName, df: Any) -> None:
        version = self.versions.get(name, -1) + 1
        df.write.parquet(str(self.version_path(self.root, name, version)))
        self.versions[name] = version

    def _overwrite(self, name: TableName, df: Any, replace_where: str | None) -> None:
        if replace_where is not None:
            df = self.read(name).where(f"NOT COALESCE({replace_where}, false)").unionByName(df)
        self._save(name, df)

    def _append(self, name: TableName, df: Any) -> None:
        self._save(name, self.read(name).unionByName(df))

    def sql(self, query: str) -> Any:
        return self.spark.sql(query)


def worker(phase: str, spec_json: str) -> None:
    print(json.dumps(PHASES[phase](json.loads(spec_json))))


# ---------------------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------------------


def in_worker(phase: str, **spec: Any) -> dict[str, Any]:
    """Run `phase` in a fresh Python process; its last stdout line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", phase, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench: phase {phase} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def machine() -> dict[str, Any]:
    import pysail
    import pyspark

    cpu = ""
    if Path("/proc/cpuinfo").exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(_status_kib_meminfo() / 1024**2, 1),
        "python": platform.python_version(),
        "pysail": getattr(pysail, "__version__", "?"),
        "pyspark": pyspark.__version__,
        "java": java[0] if java else "",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _status_kib_meminfo() -> int:
    try:
        return int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return 0


@dataclass(frozen=True)
class Plan:
    scales: tuple[int, ...]
    window_days: int
    year_days: int
    year_rows_per_day: int
    incremental_days: int
    repeat: int
    jvm: bool
    jvm_driver_memory: str
    enterprise: bool = True


def enterprise_config(work: Path) -> Path:
    """The example config with thousands of units, aliases and identity rules added, written to `work`."""
    from chargeback.local.enterprise_config import enterprise_config_text

    path = work / "enterprise.yml"
    path.write_text(enterprise_config_text(CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def bench_scale(plan: Plan, work: Path, total_rows: int, jvm: bool, enterprise: bool = False) -> dict[str, Any]:
    lakehouse = str(work / f"scale-{total_rows}")
    # The generator lands about 1% under its nominal rate (Poisson activity); aim a little over the target.
    rows_per_day = math.ceil(total_rows * 1.015 / plan.window_days)
    start, end = START_DATE, START_DATE + dt.timedelta(days=plan.window_days - 1)
    window = {"lakehouse": lakehouse, "start": start.isoformat(), "end": end.isoformat(), "repeat": plan.repeat}
    log(f"scale {total_rows:,}: generating {plan.window_days} days x {rows_per_day:,} rows/day")
    out: dict[str, Any] = {"target_rows": total_rows, "days": plan.window_days, "rows_per_day": rows_per_day}
    out["generate"] = in_worker(
        "generate", lakehouse=lakehouse, start=start.isoformat(), days=plan.window_days, rows_per_day=rows_per_day
    )
    out["usage_rows"] = out["generate"]["usage_rows"]
    log(f"scale {total_rows:,}: bare limit")
    out["limit"] = in_worker("limit", **window)
    log(f"scale {total_rows:,}: pipeline")
    out["pipeline"] = in_worker("pipeline", label="sail", **window)
    out["pipeline"]["ratio_to_limit"] = _ratio(out["pipeline"]["median_s"], out["limit"]["median_s"])
    log(f"scale {total_rows:,}: dashboard queries")
    out["dashboard"] = in_worker("dashboard", **window)
    if jvm:
        log(f"scale {total_rows:,}: pipeline on JVM PySpark")
        out["jvm_pipeline"] = in_worker(
            "jvm", parquet_root=str(work / "jvm-parquet"), driver_memory=plan.jvm_driver_memory, **window
        )
        out["jvm_pipeline"]["ratio_to_sail"] = _ratio(out["jvm_pipeline"]["median_s"], out["pipeline"]["median_s"])
        shutil.rmtree(work / "jvm-parquet", ignore_errors=True)
    if enterprise:
        # Last: its run overwrites the gold tables the dashboard phase read.
        config = enterprise_config(work)
        log(f"scale {total_rows:,}: enterprise config (validate-config, pipeline)")
        validate = in_worker("validate", configs={"base": str(CONFIG), "enterprise": str(config)}, repeat=plan.repeat)
        validate["enterprise"]["ratio_to_base"] = _ratio(
            validate["enterprise"]["median_s"], validate["base"]["median_s"]
        )
        pipeline = in_worker("pipeline", label="enterprise", config=str(config), **window)
        pipeline["ratio_to_base"] = _ratio(pipeline["median_s"], out["pipeline"]["median_s"])
        out["enterprise"] = {"validate": validate, "pipeline": pipeline}
    shutil.rmtree(lakehouse, ignore_errors=True)
    return out


def bench_year(plan: Plan, work: Path) -> dict[str, Any]:
    lakehouse = str(work / "year")
    start, end = START_DATE, START_DATE + dt.timedelta(days=plan.year_days - 1)
    log(f"year: generating {plan.year_days} days x {plan.year_rows_per_day:,} rows/day")
    out: dict[str, Any] = {
        "days": plan.year_days,
        "rows_per_day": plan.year_rows_per_day,
        "incremental_days": plan.incremental_days,
    }
    out["generate"] = in_worker(
        "generate",
        lakehouse=lakehouse,
        start=start.isoformat(),
        days=plan.year_days,
        rows_per_day=plan.year_rows_per_day,
    )
    out["usage_rows"] = out["generate"]["usage_rows"]
    spec = {
        "lakehouse": lakehouse,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "repeat": plan.repeat,
        "incremental_days": plan.incremental_days,
    }
    log("year: full rebuild")
    out["full"] = in_worker("year", kind="full", **spec)
    log("year: incremental daily run")
    out["incremental"] = in_worker("year", kind="incremental", **spec)
    out["incremental"]["ratio_to_full"] = _ratio(out["incremental"]["median_s"], out["full"]["median_s"])
    shutil.rmtree(lakehouse, ignore_errors=True)
    return out


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------


def _mib(peak: dict[str, float]) -> str:
    total = peak["process_mib"] + peak["children_mib"]
    return f"{total / 1024:.2f} GiB" if total >= 1024 else f"{total:.0f} MiB"


def _verdict(value: float | None, target: float, higher_is_better: bool = False) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "meets" if ok else "MISSES"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table (the README shows this)."""
    t = results["targets"]
    rows = [
        _row("measurement", "usage rows", "median s", "ratio", "target", "peak RSS"),
        "|---|---:|---:|---:|---|---:|",
    ]
    for s in results["scales"]:
        n = f"{s['usage_rows']:,}"
        gen = s["generate"]
        rows.append(
            _row(
                f"generate ({s['days']} d x {s['rows_per_day']:,}/d)",
                n,
                f"{gen['seconds']:.2f}",
                "",
                "",
                _mib(gen["peak"]),
            )
        )
        lim = s["limit"]
        rows.append(
            _row(
                "bare limit (scan + price + sum by day, product)",
                n,
                f"{lim['median_s']:.2f}",
                "1",
                "",
                _mib(lim["peak"]),
            )
        )
        p = s["pipeline"]
        r, target = p["ratio_to_limit"], t["pipeline_vs_limit"]
        rows.append(
            _row(
                "full pipeline, Sail",
                n,
                f"{p['median_s']:.2f}",
                f"{r:.2f}x limit",
                f"<= {target:g}x: {_verdict(r, target)}",
                _mib(p["peak"]),
            )
        )
        if "jvm_pipeline" in s:
            j = s["jvm_pipeline"]
            rows.append(
                _row(
                    "full pipeline, JVM PySpark (parquet)",
                    n,
                    f"{j['median_s']:.2f}",
                    f"{j['ratio_to_sail']:.2f}x Sail",
                    "",
                    _mib(j["peak"]),
                )
            )
        if "enterprise" in s:
            rows += _enterprise_rows(s["enterprise"], n)
        target = t["dashboard_speedup"]
        for name, q in s["dashboard"].items():
            if name == "peak":
                continue
            sp = q["speedup"]
            raw = f"{q['raw']['median_s']:.3f}" if q["raw"] else "-"
            rows.append(
                _row(
                    f"dashboard `{name}`: gold / raw usage",
                    n,
                    f"{q['gold']['median_s']:.3f} / {raw}",
                    f"{sp:.3g}x faster" if sp is not None else "no raw equivalent",
                    f">= {target:g}x: {_verdict(sp, target, True)}" if sp else "",
                    _mib(s["dashboard"]["peak"]),
                )
            )
    if "year" in results:
        y = results["year"]
        n = f"{y['usage_rows']:,}"
        gen, full, inc = y["generate"], y["full"], y["incremental"]
        rows.append(
            _row(
                f"generate year ({y['days']} d x {y['rows_per_day']:,}/d)",
                n,
                f"{gen['seconds']:.2f}",
                "",
                "",
                _mib(gen["peak"]),
            )
        )
        rows.append(
            _row(f"full rebuild over {y['days']} days", n, f"{full['median_s']:.2f}", "1", "", _mib(full["peak"]))
        )
        r, target = inc["ratio_to_full"], t["incremental_vs_full"]
        rows.append(
            _row(
                f"incremental daily run ({y['incremental_days']}-day window)",
                n,
                f"{inc['median_s']:.2f}",
                f"{r * 100:.1f}% of rebuild",
                f"<= {target * 100:g}%: {_verdict(r, target)}",
                _mib(inc["peak"]),
            )
        )
    return "\n".join(rows)


def _enterprise_rows(e: dict[str, Any], n: str) -> list[str]:
    validate, base, big = e["validate"], e["validate"]["base"], e["validate"]["enterprise"]
    size = f"{big['units']:,} units, {big['tag_values']:,} aliases, {big['rules']:,} rules"
    p = e["pipeline"]
    return [
        _row(f"validate-config, example config ({base['units']} units)", "-", f"{base['median_s']:.3f}", "1", "", ""),
        _row(
            f"validate-config, enterprise config ({size})",
            "-",
            f"{big['median_s']:.3f}",
            f"{big['ratio_to_base']:.0f}x example",
            "",
            _mib(validate["peak"]),
        ),
        _row(
            f"full pipeline, Sail, enterprise config ({big['units']:,} units)",
            n,
            f"{p['median_s']:.2f}",
            f"{p['ratio_to_base']:.2f}x example config",
            "",
            _mib(p["peak"]),
        ),
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1000000,10000000", help="total usage rows, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--year-scale", type=int, default=10_000, help="usage rows a day for the year of history")
    parser.add_argument("--no-jvm", action="store_true", help="skip the JVM PySpark comparison")
    parser.add_argument("--no-year", action="store_true", help="skip the year of history")
    parser.add_argument("--no-enterprise", action="store_true", help="skip the enterprise-sized config")
    parser.add_argument("--jvm-driver-memory", default="4g")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temporary folder, removed after)")
    parser.add_argument("--smoke", action="store_true", help="tiny scales, one repeat: checks the bench runs")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--worker":
        worker(argv[1], argv[2])
        return 0
    args = parse_args(argv)
    from chargeback.config import load_config

    lookback = load_config(CONFIG).lookback_days
    if args.smoke:
        plan = Plan((3_000,), 3, 8, 200, 2, 1, not args.no_jvm, "1g", not args.no_enterprise)
    else:
        scales = tuple(int(s) for s in args.scales.split(","))
        plan = Plan(
            scales,
            WINDOW_DAYS,
            YEAR_DAYS,
            args.year_scale,
            lookback,
            args.repeat,
            not args.no_jvm,
            args.jvm_driver_memory,
            not args.no_enterprise,
        )
    work = args.work or Path(tempfile.mkdtemp(prefix="chargeback-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {
        "command": " ".join(["bench/run.py", *argv]),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeat": plan.repeat,
        "targets": TARGETS,
        "scales": [],
    }
    try:
        for i, total in enumerate(plan.scales):
            results["scales"].append(bench_scale(plan, work, total, plan.jvm and i == 0, plan.enterprise and i == 0))
        if not args.no_year:
            results["year"] = bench_year(plan, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_s"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    print(table(results))
    return 0


def _json_default(value: object) -> str:
    if isinstance(value, Decimal | dt.date):
        return str(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
