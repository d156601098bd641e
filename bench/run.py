"""Benchmark of the chargeback pipeline against the least work any correct pipeline must do.

    .venv/bin/python bench/run.py [--scales 1000000,10000000,30000000] [--repeat 3] [--out bench/results.json]

For each scale (total usage rows) it generates synthetic system tables (`WINDOW_DAYS` days, scale / days rows a
day) into a scratch lakehouse and measures on the local Sail engine:

- `limit`: one scan of usage joined to list prices and summed by day and product (the bare limit);
- `pipeline`: a full run of `chargeback.jobs.daily.run` with `config/chargeback.yml` over the same days, as on the
  system table (no re-export pass), and its ratio to the limit;
- `dashboard`: each dashboard query on gold against the equivalent query on raw usage (up to `DASHBOARD_MAX_ROWS`);
- `jvm_pipeline`: the same pipeline on JVM PySpark (Spark Connect local mode, parquet tables, no Delta) at the
  smallest scale;
- `enterprise`: at the smallest scale, `validate-config` (`load_config`) and the pipeline with an enterprise-sized
  config (`chargeback.local.enterprise_config`: the example config plus 5,000 business units, 20,000 tag aliases
  and 2,000 identity rules) against the example config.

Then a year of history at `--year-scale` rows a day (`phases.phase_year`): a full rebuild over the year; a normal
day arriving (its records and late corrections of `CORRECTION_SHARE` of the 20 days before); then, in a process
of its own as each job run is (`phases.phase_year_daily`), the daily run (window = the config's `lookback_days`)
incrementally, and the same window in full, whose silver and gold must be the same row for row.

Every measurement runs in its own process, so its peak memory (VmHWM: the embedded Sail server is in-process;
the JVM is a child process and is added) is that phase's alone. Times are medians of `--repeat` runs.

This file is the command line and the orchestration; `phases` runs each measurement, `limit` holds the baselines,
`measure` times and memory, `report` the Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# Run as a script (here and in each worker), so this folder is on sys.path and its modules import by plain name.
from measure import machine, ratio
from phases import CONFIG, worker
from report import table

ROOT = Path(__file__).resolve().parents[1]
START_DATE = dt.date(2026, 1, 1)
WINDOW_DAYS = 30
YEAR_DAYS = 365
TARGETS = {"pipeline_vs_limit": 6.0, "incremental_vs_full": 0.05, "dashboard_speedup": 20.0, "peak_gib_at_10m": 4.0}
# Dashboard queries on raw usage take minutes beyond this: they are measured up to it.
DASHBOARD_MAX_ROWS = 10_000_000
# Late corrections on the normal day: this share of the records of the 20 days before.
CORRECTION_SHARE = 0.005


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
    out["pipeline"]["ratio_to_limit"] = ratio(out["pipeline"]["median_s"], out["limit"]["median_s"])
    if total_rows <= DASHBOARD_MAX_ROWS:
        log(f"scale {total_rows:,}: dashboard queries")
        out["dashboard"] = in_worker("dashboard", **window)
    if jvm:
        log(f"scale {total_rows:,}: pipeline on JVM PySpark")
        out["jvm_pipeline"] = in_worker(
            "jvm", parquet_root=str(work / "jvm-parquet"), driver_memory=plan.jvm_driver_memory, **window
        )
        out["jvm_pipeline"]["ratio_to_sail"] = ratio(out["jvm_pipeline"]["median_s"], out["pipeline"]["median_s"])
        shutil.rmtree(work / "jvm-parquet", ignore_errors=True)
    if enterprise:
        # Last: its run overwrites the gold tables the dashboard phase read.
        config = enterprise_config(work)
        log(f"scale {total_rows:,}: enterprise config (validate-config, pipeline)")
        validate = in_worker("validate", configs={"base": str(CONFIG), "enterprise": str(config)}, repeat=plan.repeat)
        validate["enterprise"]["ratio_to_base"] = ratio(
            validate["enterprise"]["median_s"], validate["base"]["median_s"]
        )
        pipeline = in_worker("pipeline", label="enterprise", config=str(config), **window)
        pipeline["ratio_to_base"] = ratio(pipeline["median_s"], out["pipeline"]["median_s"])
        out["enterprise"] = {"validate": validate, "pipeline": pipeline}
    shutil.rmtree(lakehouse, ignore_errors=True)
    return out


def bench_year(plan: Plan, work: Path) -> dict[str, Any]:
    """A year of history and the normal day after it (`phases.phase_year`, `phases.phase_year_daily`)."""
    lakehouse = str(work / "year")
    start, cut = START_DATE, START_DATE + dt.timedelta(days=plan.year_days - 1)
    log(f"year: generating {plan.year_days} + 1 days x {plan.year_rows_per_day:,} rows/day")
    out: dict[str, Any] = {
        "days": plan.year_days,
        "rows_per_day": plan.year_rows_per_day,
        "incremental_days": plan.incremental_days,
        "correction_share": CORRECTION_SHARE,
    }
    out["generate"] = in_worker(
        "generate",
        lakehouse=lakehouse,
        start=start.isoformat(),
        days=plan.year_days + 1,
        rows_per_day=plan.year_rows_per_day,
    )
    out["usage_rows"] = out["generate"]["usage_rows"]
    log("year: full rebuild, then a normal day arrives")
    out.update(
        in_worker(
            "year", lakehouse=lakehouse, start=start.isoformat(), cut=cut.isoformat(), correction_share=CORRECTION_SHARE
        )
    )
    log("year: the normal day's run incrementally, then the same window in full")
    out.update(
        in_worker(
            "year_daily",
            lakehouse=lakehouse,
            cut=cut.isoformat(),
            repeat=plan.repeat,
            incremental_days=plan.incremental_days,
        )
    )
    out["incremental"]["ratio_to_full"] = ratio(out["incremental"]["median_s"], out["full"]["median_s"])
    shutil.rmtree(lakehouse, ignore_errors=True)
    return out


# Where the bench writes: this machine's paths, not part of what was measured.
_LOCATIONS = ("--out", "--work")


def _measured_command(argv: list[str]) -> str:
    """The command line as recorded in the results, without `_LOCATIONS` and their values."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _LOCATIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in _LOCATIONS)):
            kept.append(arg)
    return " ".join(["bench/run.py", *kept])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1000000,10000000,30000000", help="total usage rows, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--year-scale", type=int, default=100_000, help="usage rows a day for the year of history")
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
        "command": _measured_command(argv),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeat": plan.repeat,
        "targets": TARGETS,
        "scales": [],
    }
    try:
        if not args.no_year:
            results["year"] = bench_year(plan, work)
        for i, total in enumerate(plan.scales):
            results["scales"].append(bench_scale(plan, work, total, plan.jvm and i == 0, plan.enterprise and i == 0))
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
