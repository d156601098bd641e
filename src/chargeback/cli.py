"""Command line: `chargeback generate | run | sql | validate-config | demo | job-step | policies | budgets`.

Parameters are parsed and validated here once, then passed on as typed values. Every failure prints one
line `chargeback: error: <reason>` and exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from chargeback.contracts.system_table_names import LIST_PRICES_TABLE, USAGE_TABLE
from chargeback.dates import run_window
from chargeback.errors import ChargebackError, ConfigError, InputError
from chargeback.jobs.params import STEPS

DEFAULT_LAKEHOUSE = ".lakehouse"
DEMO_DAYS = 60
# Set to print the traceback of an unexpected error after its one-line reason (for bug reports).
DEBUG_VARIABLE = "CHARGEBACK_DEBUG"


def bundled_config() -> Path:
    """The config built into the package: `config/chargeback.yml` of the bundle it was built from.

    The default everywhere, so a job reads exactly the config that was deployed (whatever its working
    directory) and `chargeback demo` works wherever the package is installed.
    """
    from importlib.resources import files

    return Path(str(files("chargeback.bundled_config") / "chargeback.yml"))


# Dates the product accepts: billing data starts long after the first, and windows, months and forecasts
# computed from the last stay far inside what Python's dates can hold.
FIRST_DATE, LAST_DATE = dt.date(1970, 1, 1), dt.date(2999, 12, 31)


def _date(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise argparse.ArgumentTypeError(f"{value} is outside {FIRST_DATE}..{LAST_DATE}")
    return day


def _timestamp(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a timestamp (YYYY-MM-DDTHH:MM:SSZ)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _output_catalog(value: str) -> str:
    if value.lower() == "system":  # the sources: output written there would overwrite what it is computed from
        raise argparse.ArgumentTypeError("the system catalog holds the sources; write the output elsewhere")
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message)


def _lakehouse_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lakehouse", type=Path, default=Path(DEFAULT_LAKEHOUSE), help="local lakehouse folder")


def _target_options(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument("--catalog", type=_output_catalog, default="main", help="catalog of the output tables")
    p.add_argument("--schema", default="chargeback", help="schema of the output tables (default chargeback)")
    if config:
        p.add_argument("--config", type=Path, help="config file (default: the config built into the package)")


def _local_commands(sub: Any) -> None:
    """generate, run, sql, validate-config and demo: the commands that work on a local lakehouse."""
    gen = sub.add_parser("generate", help="write synthetic system tables into a local lakehouse")
    _lakehouse_option(gen)
    first_or_last = gen.add_mutually_exclusive_group()
    first_or_last.add_argument("--start-date", type=_date, help="first usage day")
    first_or_last.add_argument("--end-date", type=_date, help="last usage day (default: yesterday, UTC)")
    gen.add_argument("--days", type=_positive, required=True)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--scale", type=_positive, default=None, help="ORIGINAL usage rows per day")

    run = sub.add_parser("run", help="run the whole pipeline on the local engine")
    _lakehouse_option(run)
    _target_options(run)
    run.add_argument("--start-date", type=_date)
    run.add_argument("--end-date", type=_date)
    run.add_argument("--as-of", type=_timestamp, help="the run's clock (UTC); default now")
    run.add_argument("--allow-shrink", action="store_true", help="publish even if published cost shrinks (see README)")
    run.add_argument("--full", action="store_true", help="recompute every day of the window (default: changed days)")

    sql = sub.add_parser("sql", help="run SQL over the lakehouse tables by three-part name")
    _lakehouse_option(sql)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("query")

    check = sub.add_parser("validate-config", help="check a config file and print every problem")
    check.add_argument("file", type=Path)

    demo = sub.add_parser("demo", help="generate 60 days, run the pipeline, print the latest month's statement")
    _lakehouse_option(demo)
    _target_options(demo)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--as-of", type=_timestamp, help="the demo's clock (UTC); default now")


def _databricks_commands(sub: Any) -> None:
    """job-step (inside a Databricks job), policies and budgets (the account API)."""
    step = sub.add_parser("job-step", help="run one pipeline step inside a Databricks job")
    _target_options(step)
    step.add_argument("--step", choices=("all", *STEPS))
    step.add_argument("--start-date", type=_date)
    step.add_argument("--end-date", type=_date)
    step.add_argument("--lookback-days", type=_positive)
    step.add_argument("--run-id", required=True)
    step.add_argument("--usage-table", default=str(USAGE_TABLE))
    step.add_argument("--list-prices-table", default=str(LIST_PRICES_TABLE))
    step.add_argument("--allow-shrink", action="store_true", help="publish even if published cost shrinks (see README)")
    step.add_argument("--full", action="store_true", help="recompute every day of the window (default: changed days)")
    step.add_argument(
        "--full-every-days",
        type=_positive,
        help="run in full when the last full run is this many days old (1: every run)",
    )
    step.add_argument(
        "--dedupe-usage",
        choices=("auto", "true", "false"),
        default="auto",
        help="resolve re-exported usage records (auto: only when --usage-table is a copy)",
    )
    step.add_argument(
        "--scratch-key",
        default="",
        help="suffix of the run's scratch tables; the bundle passes the job's id so two jobs never share them",
    )

    for resource, what in (("policies", "serverless budget policies"), ("budgets", "account budgets")):
        gov = sub.add_parser(resource, help=f"plan or apply the config's {what} in the Databricks account")
        gov.add_argument("action", choices=("plan", "apply"))
        gov.add_argument("--config", type=Path, help="config file (default: the config built into the package)")
        gov.add_argument("--profile", help="Databricks config profile with account-level auth")
        gov.add_argument("--date", type=_date, help="the day whose budgets are in force (default today, UTC)")
        if resource == "budgets":
            gov.add_argument(
                "--recreate-on-filter-change",
                action="store_true",
                help="replace a budget whose filter differs (create the new one, then delete the old)",
            )


def _dashboard_command(sub: Any) -> None:
    dash = sub.add_parser("dashboard", help="preview the Lakeview dashboard on local gold tables as one HTML file")
    _lakehouse_option(dash)
    _target_options(dash, config=False)
    dash.add_argument("--out", type=Path, required=True, help="HTML file to write")
    dash.add_argument("--file", type=Path, help="dashboard file (default: the bundle's chargeback.lvdash.json)")
    dash.add_argument("--as-of", type=_timestamp, help="the day relative dates count from (default: after the data)")
    dash.add_argument("--start-date", type=_date, help="date range filter start (default: the dashboard's default)")
    dash.add_argument("--end-date", type=_date, help="date range filter end")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chargeback", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _local_commands(sub)
    _databricks_commands(sub)
    _dashboard_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command in this process and return its exit code; every failure is one line on stderr."""
    try:
        args = build_parser().parse_args(argv)
        if hasattr(args, "config") and args.config is None:
            args.config = bundled_config()
        return int(COMMANDS[args.command](args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"chargeback: config: {problem}", file=sys.stderr)
        print(f"chargeback: error: invalid config ({len(exc.problems)} problem(s))", file=sys.stderr)
    except ChargebackError as exc:
        print(f"chargeback: error: {exc}", file=sys.stderr)
    except Exception as exc:  # an engine or library error nobody anticipated: still one line, still a failure
        print(f"chargeback: error: unexpected {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        if os.environ.get(DEBUG_VARIABLE):
            traceback.print_exc()
        return 3
    return 2


def entry_point() -> None:
    """The `chargeback` console script, and what a Databricks `python_wheel_task` calls.

    The jobs runtime loads this entry point from the wheel's metadata, sets `sys.argv` and calls it, ignoring
    what it returns: only an exception or a non-zero `SystemExit` fails the task. So every failure exits
    non-zero here, and success returns normally.
    """
    code = main()
    if code:
        raise SystemExit(code)


# --- commands -------------------------------------------------------------------------------------------


@contextmanager
def _open_lakehouse(path: Path, catalogs: Sequence[str] = (), *, writable: bool = True) -> Iterator[Any]:
    """Start the local engine over `path` and yield a LocalLakehouse.

    A lakehouse to write must be held with `_exclusive` first; one only read (by `chargeback sql` and the
    dashboard preview) must exist, and may be read-only.
    """
    from chargeback.local.engine import LOCAL_SYSTEM_CATALOG
    from chargeback.local.lakehouse import open_lakehouse

    if LOCAL_SYSTEM_CATALOG in catalogs:
        raise InputError(f"catalog {LOCAL_SYSTEM_CATALOG!r} is the local name of the system catalog; use another")
    if not writable and not path.is_dir():
        raise InputError(f"lakehouse {path} does not exist or is not a directory")
    with open_lakehouse(path, catalogs) as store:
        yield store


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Create the lakehouse if missing, check it is writable, and hold it for this command alone."""
    from chargeback.local.lakehouse import exclusive_use

    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"lakehouse {path} is not writable: {exc.strerror or exc}") from None
    with exclusive_use(path):
        yield


def _generate(args: argparse.Namespace, start: dt.date, days: int, scale: int | None) -> dict[Any, int]:
    """Synthetic system tables into a lakehouse held by `_exclusive`, never over tables a user put there."""
    from chargeback.local.lakehouse import mark_synthetic, refuse_foreign_source_tables
    from chargeback.local.synthetic import generate

    refuse_foreign_source_tables(args.lakehouse)
    mark_synthetic(args.lakehouse, {"start_date": start, "days": days, "seed": args.seed, "scale": scale})
    with _open_lakehouse(args.lakehouse, ["system"]) as store:
        return generate(store, start, days, args.seed, scale)


def cmd_generate(args: argparse.Namespace) -> int:
    from chargeback.local.synthetic import validate_arguments

    start = args.start_date
    if start is None:
        today = dt.datetime.now(dt.UTC).date()
        try:
            start, _ = run_window(today, args.days, end=args.end_date)
        except OverflowError:
            end = args.end_date or today - dt.timedelta(days=1)
            raise InputError(f"--days {args.days} before --end-date {end} is before year 1") from None
    validate_arguments(start, args.days, args.seed, args.scale)  # before anything is created
    started = time.monotonic()
    with _exclusive(args.lakehouse):
        written = _generate(args, start, args.days, args.scale)
    for name, rows in written.items():
        print(f"{name}: {rows:,} rows")
    print(f"generated {args.days} days from {start} (seed {args.seed}) in {time.monotonic() - started:.1f}s")
    return 0


def _params(
    args: argparse.Namespace, config: Any, as_of: dt.datetime, start: dt.date | None, end: dt.date | None
) -> Any:
    from chargeback.jobs.params import RunParams

    start_date, end_date = run_window(as_of.date(), config.lookback_days, start, end)
    return RunParams(
        catalog=args.catalog,
        schema=args.schema,
        start_date=start_date,
        end_date=end_date,
        # Unique even when --as-of repeats: a run id names one run and its plan (`run_plans`).
        run_id=f"local-{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        run_at=as_of,
        allow_shrink=getattr(args, "allow_shrink", False),
        full=getattr(args, "full", False),
    )


@contextmanager
def _run_local(args: argparse.Namespace, start: dt.date | None, end: dt.date | None) -> Iterator[tuple[Any, ...]]:
    """Run the pipeline on the local engine; yields (store, config, params, summary) while the engine runs."""
    from chargeback.config import load_config
    from chargeback.jobs.daily import run

    config = load_config(args.config)
    as_of = args.as_of or dt.datetime.now(dt.UTC)
    params = _params(args, config, as_of, start, end)
    with _open_lakehouse(args.lakehouse, [params.catalog]) as store:
        yield store, config, params, run(store, config, params)


def _print_run(summary: Any) -> None:
    print(f"run {summary.run_id}: usage {summary.start_date}..{summary.end_date}")
    for table, rows in summary.rows_written.items():
        print(f"  {table:<24}{rows:>10,} rows")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in summary.step_seconds.items())
    print(f"  steps: {steps}")
    print(
        f"  usage lines: {summary.usage_line_count:,}; unpriced lines: {summary.unpriced_line_count:,}"
        + (f" ({summary.unpriced_skus})" if summary.unpriced_skus else "")
    )
    print(f"  summary: {summary.as_json()}")
    status = "BALANCED" if summary.is_balanced else "NOT BALANCED"
    print(
        f"  reconciliation: billed {_money(summary.billed_cost)} = allocated {_money(summary.allocated_cost)} "
        f"{summary.currency}, difference {_money(summary.difference)}: {status}"
    )


def cmd_run(args: argparse.Namespace) -> int:
    with _exclusive(args.lakehouse), _run_local(args, args.start_date, args.end_date) as (_, _, _, summary):
        _print_run(summary)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from chargeback.local.lakehouse import require_query
    from chargeback.local.sql_output import format_rows, plain

    require_query(args.query)
    with _open_lakehouse(args.lakehouse, writable=False) as store, _local_time_is_utc():
        try:
            df = store.sql(args.query)
            columns, rows = df.columns, [tuple(plain(v) for v in r) for r in df.collect()]
        except Exception as exc:  # the engine's own error, shortened to its first line
            raise ChargebackError(f"query failed: {_first_line(exc)}") from None
    print(format_rows(columns, rows, args.format))
    return 0


@contextmanager
def _local_time_is_utc() -> Iterator[None]:
    """Collect timestamps as UTC times, the engine session's zone: PySpark converts them to local time."""
    if not hasattr(time, "tzset"):  # pragma: no cover - Windows cannot switch the zone of a running process
        yield
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def cmd_validate_config(args: argparse.Namespace) -> int:
    from chargeback.config import validate_config_file

    problems = validate_config_file(args.file)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s)")
        return 1
    print(f"{args.file}: valid")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from chargeback.insights.report import print_demo_report

    as_of = args.as_of or dt.datetime.now(dt.UTC)
    start, end = run_window(as_of.date(), DEMO_DAYS)
    with _exclusive(args.lakehouse):
        _generate(args, start, DEMO_DAYS, None)
        with _run_local(args, start, end) as (store, config, params, summary):
            _print_run(summary)
            print_demo_report(store, config, params)
    return 0


def cmd_job_step(args: argparse.Namespace) -> int:
    from chargeback.config import load_config
    from chargeback.jobs.daily import run
    from chargeback.jobs.params import STEPS, RunParams, SourceTables
    from chargeback.names import TableName
    from chargeback.storage.sessions import ambient_session
    from chargeback.storage.store import UnityCatalog

    config = load_config(args.config)
    run_at = dt.datetime.now(dt.UTC)
    start, end = run_window(run_at.date(), args.lookback_days or config.lookback_days, args.start_date, args.end_date)
    sources = SourceTables(
        usage=TableName.parse(args.usage_table, "--usage-table"),
        list_prices=TableName.parse(args.list_prices_table, "--list-prices-table"),
    )
    dedupe = args.dedupe_usage == "true" or (args.dedupe_usage == "auto" and sources.usage != USAGE_TABLE)
    params = RunParams(
        args.catalog,
        args.schema,
        start,
        end,
        args.run_id,
        run_at,
        sources,
        args.allow_shrink,
        full=args.full,
        full_every_days=args.full_every_days,
        dedupe_usage=dedupe,
        scratch_key=args.scratch_key,
    )
    steps = STEPS if args.step == "all" else (args.step,)
    summary = run(UnityCatalog(ambient_session()), config, params, steps)
    _print_run(summary)
    return 0


def cmd_governance(args: argparse.Namespace) -> int:
    from chargeback.governance import run

    day = args.date or dt.datetime.now(dt.UTC).date()
    replace = getattr(args, "recreate_on_filter_change", False)
    return run(args.command, args.action, args.config, args.profile, day, recreate_on_filter_change=replace)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from chargeback.dashboard import DEFAULT_FILE, Selection, default_as_of, write_preview

    if (args.start_date is None) != (args.end_date is None):
        raise InputError("give --start-date and --end-date together")
    if args.start_date and args.end_date < args.start_date:
        raise InputError(f"--end-date {args.end_date} is before --start-date {args.start_date}")
    with _open_lakehouse(args.lakehouse, writable=False) as store:
        as_of = args.as_of.date() if args.as_of else default_as_of(store, args.catalog, args.schema)
        period = (args.start_date, args.end_date) if args.start_date else None
        file = args.file or DEFAULT_FILE
        pages, count = write_preview(store, file, args.out, args.catalog, args.schema, Selection(as_of, period))
    print(f"wrote {args.out}: {pages} pages, {count} widgets from {file.name} (today taken as {as_of})")
    return 0


COMMANDS = {
    "generate": cmd_generate,
    "run": cmd_run,
    "sql": cmd_sql,
    "validate-config": cmd_validate_config,
    "demo": cmd_demo,
    "job-step": cmd_job_step,
    "policies": cmd_governance,
    "budgets": cmd_governance,
    "dashboard": cmd_dashboard,
}


# --- output ---------------------------------------------------------------------------------------------


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"
