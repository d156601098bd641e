"""The measured phases: each runs in its own worker process (`bench/run.py --worker`) and returns a JSON-able dict.

Every phase is its own process so that its peak memory is its own (see `measure.peak_memory_mib`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from limit import dashboard_datasets, limit_frame
from measure import peak_memory_mib, ratio, reset_peak_memory, timed

CONFIG = Path(__file__).resolve().parents[1] / "config" / "chargeback.yml"
RUN_AT = dt.datetime(2027, 1, 15, 6, 0, tzinfo=dt.UTC)
SEED = 7


@contextmanager
def _lakehouse(path: str, catalogs: tuple[str, ...] = ("system", "main")) -> Iterator[Any]:
    from chargeback.local.lakehouse import open_lakehouse

    with open_lakehouse(Path(path), catalogs) as store:
        yield store


def _params(start: dt.date, end: dt.date, run_id: str, *, full: bool = True) -> Any:
    """A run as the daily job makes it on the system table (which needs no dedup); the pipeline phases are full."""
    from chargeback.jobs.params import RunParams

    return RunParams("main", "chargeback", start, end, run_id, RUN_AT, full=full, dedupe_usage=False)


def phase_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from chargeback.local.synthetic import USAGE_TABLE, generate

    with _lakehouse(spec["lakehouse"], ("system",)) as store:
        started = time.perf_counter()
        counts = generate(store, dt.date.fromisoformat(spec["start"]), spec["days"], SEED, spec["rows_per_day"])
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "usage_rows": counts[USAGE_TABLE], "peak": peak_memory_mib()}


def phase_limit(spec: dict[str, Any]) -> dict[str, Any]:
    start, end = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["end"])
    with _lakehouse(spec["lakehouse"]) as store:
        reset_peak_memory()
        result = timed(lambda: limit_frame(store, start, end).collect(), spec["repeat"])
        total = limit_frame(store, start, end).agg({"cost": "sum"}).collect()[0][0]
    return {**result, "list_cost": str(total), "peak": peak_memory_mib()}


def _run_pipeline(
    store: Any,
    start: dt.date,
    end: dt.date,
    repeat: int,
    label: str,
    config_file: Path = CONFIG,
    *,
    full: bool = True,
    before_each: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """`repeat` runs of the pipeline over start..end, each after `before_each` (untimed)."""
    from chargeback.config import load_config
    from chargeback.jobs.daily import run

    config = load_config(config_file)
    summaries = []
    runs = []
    for _ in range(repeat):
        before_each()
        params = _params(start, end, f"bench-{label}-{len(summaries)}", full=full)
        runs.append(timed(lambda p=params: summaries.append(run(store, config, p)), 1)["median_s"])
    last = summaries[-1]
    return {
        "median_s": statistics.median(runs),
        "runs_s": runs,
        "steps_s": [s.step_seconds for s in summaries],
        "usage_lines": last.usage_line_count,
        "billed_cost": str(last.billed_cost),
        "is_balanced": last.is_balanced,
        "recomputed_days": len(last.plan.recomputed) if last.plan else None,
        "mode": last.plan.mode if last.plan else None,
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
                "speedup": ratio(raw["median_s"], gold["median_s"]) if raw else None,
            }
        out["peak"] = peak_memory_mib()
    return out


def phase_jvm(spec: dict[str, Any]) -> dict[str, Any]:
    """The pipeline on JVM PySpark, reading parquet copies of the system tables (exported with Sail, untimed)."""
    from pyspark.sql import SparkSession

    from chargeback.contracts.system_tables import SYSTEM_TABLES
    from chargeback.local.parquet_store import ParquetStore
    from chargeback.names import TableName

    # Every system table the generator writes: the pipeline reads what its config needs of them.
    sources = tuple(TableName.parse(name) for name in SYSTEM_TABLES)
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


def _gold_differences(store: Any, copy: Path) -> dict[str, int]:
    """Per silver and gold table: rows in one of the lakehouse's `main` and its copy at `copy` but not the other
    (run ids aside)."""
    from chargeback.contracts.cost_tables import USAGE_COSTS
    from chargeback.jobs.outputs import OUTPUTS
    from chargeback.names import TableName

    out = {}
    for spec in (USAGE_COSTS, *(o.spec for o in OUTPUTS)):
        name = TableName("main", "chargeback", spec.table)
        ours = store.read(name).drop("run_id", "x_RunId")
        theirs = store.spark.read.format("delta").load(str(copy / spec.table)).drop("run_id", "x_RunId")
        out[spec.table] = ours.exceptAll(theirs).count() + theirs.exceptAll(ours).count()
    return out


def _year_folders(spec: dict[str, Any]) -> tuple[Path, Path, Path]:
    """The published schema of the year's lakehouse, its copy before the normal day's run, and after it."""
    main = Path(spec["lakehouse"]) / "main" / "chargeback"
    return main, main.with_name("chargeback.before"), main.with_name("chargeback.incremental")


def phase_year(spec: dict[str, Any]) -> dict[str, Any]:
    """A year of history, then a normal day arriving.

    The generated table is held back to the end of the year's last day and rebuilt in full over the whole year.
    Then a normal day arrives (the records ingested that day: yesterday's usage and the generator's own
    corrections, plus late corrections of `correction_share` of the records of the 20 days before); the published
    tables are copied aside for `phase_year_daily`.
    """
    from chargeback.local.synthetic.arrivals import arrive, hold_back

    start, cut = dt.date.fromisoformat(spec["start"]), dt.date.fromisoformat(spec["cut"])
    main, before, _ = _year_folders(spec)
    out: dict[str, Any] = {}
    with _lakehouse(spec["lakehouse"]) as store:
        hold_back(store, cut)
        reset_peak_memory()
        out["full"] = _run_pipeline(store, start, cut, 1, "year")
        out["arrived_rows"] = arrive(store, cut + dt.timedelta(days=1), spec["correction_share"], 20)
        shutil.copytree(main, before)
    return out


def phase_year_daily(spec: dict[str, Any]) -> dict[str, Any]:
    """The daily run (window = lookback) after `phase_year`, in a process of its own as each job run is: first
    incrementally, each repeat from the same state; then the same window in full, whose silver and gold must
    equal the incremental run's row for row."""
    day = dt.date.fromisoformat(spec["cut"]) + dt.timedelta(days=1)
    window_start = day - dt.timedelta(days=spec["incremental_days"] - 1)
    main, before, after_incremental = _year_folders(spec)

    def restore() -> None:
        shutil.rmtree(main)
        shutil.copytree(before, main)

    out: dict[str, Any] = {}
    with _lakehouse(spec["lakehouse"]) as store:
        reset_peak_memory()
        out["incremental"] = _run_pipeline(
            store, window_start, day, spec["repeat"], "incremental", full=False, before_each=restore
        )
        shutil.copytree(main, after_incremental)
        reset_peak_memory()
        out["window_full"] = _run_pipeline(store, window_start, day, 1, "window-full", before_each=restore)
        out["differences"] = _gold_differences(store, after_incremental)
    return out


PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": phase_generate,
    "limit": phase_limit,
    "pipeline": phase_pipeline,
    "validate": phase_validate,
    "dashboard": phase_dashboard,
    "jvm": phase_jvm,
    "year": phase_year,
    "year_daily": phase_year_daily,
}


def worker(phase: str, spec_json: str) -> None:
    """Run one phase in this process; its JSON result is the last stdout line (what `run.in_worker` reads)."""
    print(json.dumps(PHASES[phase](json.loads(spec_json))))
