"""The measured phases: each runs in its own worker process (`bench/run.py --worker`) and returns a JSON-able dict.

Every phase is its own process so that its peak memory is its own (see `measure.peak_memory_mib`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
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


def _params(start: dt.date, end: dt.date, run_id: str) -> Any:
    from chargeback.jobs.params import RunParams

    return RunParams("main", "chargeback", start, end, run_id, RUN_AT)


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


def worker(phase: str, spec_json: str) -> None:
    """Run one phase in this process; its JSON result is the last stdout line (what `run.in_worker` reads)."""
    print(json.dumps(PHASES[phase](json.loads(spec_json))))
