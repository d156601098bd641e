"""The hostile lakehouse (issue 15): bad source data, bad prices and rates, and broken steps never publish a wrong bill.

Each case runs the real pipeline on a tiny local lakehouse and ends either in a one-line `ChargebackError` with every
published table unchanged (compared row by row before and after), or in totals equal to an independent computation
from the raw rows in Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback import cli
from chargeback.config import Config
from chargeback.contracts.system_tables import LIST_PRICES, USAGE
from chargeback.errors import ChargebackError, ConfigError, ReconciliationError
from chargeback.jobs import daily
from chargeback.jobs.daily import run
from chargeback.jobs.params import RunParams
from chargeback.local.engine import local_session
from chargeback.local.lakehouse import LocalLakehouse, discover_tables
from chargeback.local.synthetic import LIST_PRICES_TABLE, USAGE_TABLE
from chargeback.names import TableName
from tests.helpers import BASE_CONFIG, config, price_row, usage_row

pytestmark = pytest.mark.slow

JOBS_SKU = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"
SQL_SKU = "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"
START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 7)
EPOCH = dt.datetime(2020, 1, 1)
PRICES = {JOBS_SKU: Decimal("0.5"), SQL_SKU: Decimal("0.7")}


def eur_config(fx_from: str = "2026-01-01") -> Config:
    """Statements in EUR from USD prices, at 0.92 from `fx_from` on."""
    base = config(f"fx_rates:\n  - {{from_currency: USD, to_currency: EUR, rate: '0.92', valid_from: {fx_from}}}\n")
    return dataclasses.replace(base, currency="EUR")


def params(run_id: str, start: dt.date = START, end: dt.date = END, **extra: Any) -> RunParams:
    """A full run: a broken step or input must fail it whether or not the source changed since the last run."""
    return RunParams("main", "chargeback", start, end, run_id, dt.datetime(2026, 10, 8, 6), **{"full": True, **extra})


@contextmanager
def lakehouse(root: Path) -> Iterator[LocalLakehouse]:
    with local_session(["system", "main"]) as spark:
        yield LocalLakehouse(spark, root)


def week_rows(days: range = range(7), first: dt.date = START) -> list[tuple]:
    """Two SKUs a day, one tagged to a unit, one not; distinct records."""
    rows = []
    for i in days:
        day = first + dt.timedelta(days=i)
        rows.append(usage_row(f"{100 + i}.25", day=day, record_id=f"j{day}", tags={"team": "finance"}))
        rows.append(usage_row(f"{40 + i}", day=day, sku=SQL_SKU, product="SQL", record_id=f"s{day}", hour=14))
    return rows


def price_rows(prices: dict[str, Decimal] = PRICES) -> list[tuple]:
    return [price_row(sku, str(price), EPOCH, None) for sku, price in prices.items()]


def put(store: LocalLakehouse, usage: list[tuple] | DataFrame | None = None, prices: list[tuple] | None = None) -> None:
    """Replace the lakehouse's usage and/or list prices."""
    spark = store.spark
    if usage is not None:
        frame = usage if isinstance(usage, DataFrame) else spark.createDataFrame(usage, USAGE)
        store.write_raw(USAGE_TABLE, frame, "overwrite")
    if prices is not None:
        store.write_raw(LIST_PRICES_TABLE, spark.createDataFrame(prices, LIST_PRICES), "overwrite")


def snapshot(store: LocalLakehouse) -> dict[str, list[str]]:
    """Every row of every table the pipeline publishes (catalog main), run ids included: not its run log
    `run_plans` nor the publish step's scratch tables."""
    out = {}
    for name in discover_tables(store.root):
        if name.catalog == "main" and name.table != "run_plans" and not name.table.startswith("staging_"):
            df = store.spark.read.format("delta").load(str(store.path_of(name)))
            out[name.table] = sorted(repr(tuple(r)) for r in df.collect())
    return out


def expected_cost(rows: list[tuple], prices: dict[str, Decimal] = PRICES, rate: Decimal = Decimal(1)) -> Decimal:
    """The bill computed in Python from the raw rows: latest copy of each record, quantity x price x rate."""
    fields = USAGE.fieldNames()
    latest: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        record = dict(zip(fields, row, strict=True))
        key = (record["record_id"], record["record_type"])
        if key not in latest or record["ingestion_date"] > latest[key]["ingestion_date"]:
            latest[key] = record
    total = Decimal(0)
    with localcontext() as exact:
        exact.prec = 60
        for record in latest.values():
            if START <= record["usage_date"] <= END:
                cost = record["usage_quantity"] * prices[record["sku_name"]] * rate
                total += cost.quantize(Decimal("1e-10"))
    return total


def billed(store: LocalLakehouse, table: str = "cost_daily") -> Decimal:
    df = store.read(TableName("main", "chargeback", table))
    return Decimal(df.agg(F.sum("effective_cost")).collect()[0][0])


def published(tmp_path: Path, usage: list[tuple], prices: list[tuple] | None = None, cfg: Config | None = None) -> Path:
    """A lakehouse where one clean run has published the week."""
    root = tmp_path / "lakehouse"
    with lakehouse(root) as store:
        put(store, usage, prices or price_rows())
        run(store, cfg or config(), params("clean"))
    return root


def refused(
    root: Path, cfg: Config, run_params: RunParams, match: str, change: Callable[[LocalLakehouse], None] | None = None
) -> ChargebackError:
    """Apply `change` to the sources, run, and check the run fails with one line and writes nothing."""
    with lakehouse(root) as store:
        if change is not None:
            change(store)
        before = snapshot(store)
        with pytest.raises(ChargebackError, match=match) as caught:
            run(store, cfg, run_params)
        assert snapshot(store) == before
    message = str(caught.value)
    assert "\n" not in message
    return caught.value


# --- finding 1: an FX series that starts inside the window ----------------------------------------------------


def test_an_fx_series_starting_inside_the_window_is_refused_before_any_write(tmp_path: Path) -> None:
    root = tmp_path / "lakehouse"
    with lakehouse(root) as store:
        put(store, week_rows(), price_rows())
    # Nothing at all is written on a fresh lakehouse, config tables included.
    refused(root, eur_config("2026-10-04"), params("bad-fx"), "2026-10-01")
    with lakehouse(root) as store:
        assert snapshot(store) == {}
        run(store, eur_config(), params("good-fx"))
        assert billed(store) == expected_cost(week_rows(), rate=Decimal("0.92"))
    refused(root, eur_config("2026-10-04"), params("bad-fx-again"), "2026-10-01")


# --- finding 2: a price row whose pricing is NULL --------------------------------------------------------------


def test_a_null_price_in_force_is_refused_naming_the_sku_and_interval(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    null_price = list(price_row(SQL_SKU, "0.7", EPOCH, None))
    null_price[LIST_PRICES.fieldNames().index("pricing")] = None
    prices = [price_row(JOBS_SKU, "0.5", EPOCH, None), tuple(null_price)]
    error = refused(root, config(), params("null-price"), SQL_SKU, lambda s: put(s, prices=prices))
    assert "NULL" in str(error) and "2020-01-01" in str(error)


# --- finding 3: two prices in force at once ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "conflict",
    [
        # Same start, other price.
        [price_row(SQL_SKU, "0.9", EPOCH, None)],
        # A nested row inside the open-ended one, in force during the window.
        [price_row(SQL_SKU, "0.9", dt.datetime(2026, 10, 3), dt.datetime(2026, 10, 4))],
    ],
    ids=["same-start", "nested"],
)
def test_two_list_prices_in_force_at_once_are_refused(tmp_path: Path, conflict: list[tuple]) -> None:
    root = published(tmp_path, week_rows())
    prices = price_rows() + conflict
    error = refused(root, config(), params("overlap"), SQL_SKU, lambda s: put(s, prices=prices))
    assert "2020-01-01" in str(error)


def test_a_nested_price_row_outside_the_usage_does_not_cut_off_the_open_ended_one(tmp_path: Path) -> None:
    # Same price rows twice (an exported table appended twice) and a nested row in 2025: the open-ended price
    # still prices October.
    nested = price_row(SQL_SKU, "0.9", dt.datetime(2025, 3, 1), dt.datetime(2025, 4, 1))
    root = published(tmp_path, week_rows(), price_rows() + price_rows() + [nested])
    with lakehouse(root) as store:
        assert billed(store) == expected_cost(week_rows())
        silver = store.read(TableName("main", "chargeback", "usage_costs"))
        assert silver.where(~F.col("is_priced")).count() == 0


# --- finding 4: the usage table emptied or truncated after publication -----------------------------------------


def _empty_usage(store: LocalLakehouse) -> None:
    put(store, store.spark.createDataFrame([], USAGE))


def test_an_emptied_usage_table_does_not_wipe_published_days(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    refused(root, config(), params("emptied"), "allow-shrink", _empty_usage)


def test_a_truncated_day_is_refused_unless_shrinking_is_allowed(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    truncated = week_rows(range(6))  # 2026-10-07 lost
    refused(root, config(), params("truncated"), "2026-10-07", lambda s: put(s, truncated))
    with lakehouse(root) as store:
        summary = run(store, config(), params("allowed", allow_shrink=True))
        assert summary.is_balanced
        assert billed(store) == expected_cost(truncated)


def test_a_small_late_retraction_is_published_without_the_flag(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    day = START + dt.timedelta(days=2)
    retraction = usage_row("-1", day=day, record_id="late", record_type="RETRACTION", tags={"team": "finance"})
    with lakehouse(root) as store:
        put(store, [*week_rows(), retraction])
        run(store, config(), params("late"))
        assert billed(store) == expected_cost([*week_rows(), retraction])


def test_a_closed_month_is_never_debited_for_missing_source_rows(tmp_path: Path) -> None:
    first = dt.date(2026, 9, 27)
    rows = week_rows(range(8), first)  # 2026-09-27 .. 2026-10-04
    window = params("clean", first, dt.date(2026, 10, 4))
    root = tmp_path / "lakehouse"
    closed = dataclasses.replace(config(), closed_months=(dt.date(2026, 9, 1),))
    with lakehouse(root) as store:
        put(store, rows, price_rows())
        run(store, config(), window)
        run(store, closed, dataclasses.replace(window, run_id="close"))  # September is now closed
    october_only = [r for r in rows if r[USAGE.fieldNames().index("usage_date")] >= dt.date(2026, 10, 1)]
    again = dataclasses.replace(window, run_id="lost-september", allow_shrink=True)
    refused(root, closed, again, "closed month 2026-09", lambda s: put(s, october_only))


# --- finding 6: a record exported again with other content --------------------------------------------------------


def test_a_record_exported_again_with_other_content_is_billed_once_and_counted(tmp_path: Path) -> None:
    day = START + dt.timedelta(days=1)
    later = day + dt.timedelta(days=2)
    copies = [
        # Same id and type, other tags and quantity, ingested later: the later one is the record.
        usage_row("10", day=day, record_id="again", tags={"team": "finance"}),
        usage_row("12", day=day, record_id="again", tags={"team": "marketing"}, ingestion_date=later),
        # Same ingestion date, other end time and quantity: one of them, the same on every run.
        usage_row("5", day=day, record_id="twin", hour=3),
        usage_row("6", day=day, record_id="twin", hour=4),
    ]
    rows = [*week_rows(), *copies]
    root = tmp_path / "lakehouse"
    with lakehouse(root) as store:
        put(store, rows, price_rows())
        summary = run(store, config(), params("copies"))
        total = billed(store)
        runs = store.read(TableName("main", "chargeback", "reconciliation_runs")).collect()
    base = expected_cost(week_rows())
    # 12 x 0.5 for "again"; 2.5 or 3 for "twin", never both.
    assert total - base - Decimal(6) in (Decimal("2.5"), Decimal(3))
    assert (summary.duplicate_record_count, summary.conflicting_record_count) == (2, 2)
    assert "again" in summary.duplicate_record_examples and "twin" in summary.duplicate_record_examples
    assert (runs[0].duplicate_record_count, runs[0].conflicting_record_count) == (2, 2)


# --- finding 11: price_currency with no prices -------------------------------------------------------------------


def test_a_price_currency_with_no_prices_is_refused(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    euro_prices = dataclasses.replace(config(), currency="EUR", price_currency="EUR")
    refused(root, euro_prices, params("no-eur-prices"), "price_currency EUR")


# --- finding 12: the documented range, and one line beyond it --------------------------------------------------


def test_quantities_to_1e15_and_prices_to_1e6_are_billed_exactly(tmp_path: Path) -> None:
    # Round values: Sail 0.7.2 reads a one-row Delta file's decimals from its JSON statistics, through a float, so
    # values past 15 significant digits would come back altered (the exact digits are checked on both engines in
    # test_hostile_input, without Delta). Every amount here, sums included, has at most 15.
    big = {JOBS_SKU: Decimal("999999"), SQL_SKU: Decimal("2500.5")}
    rows = [
        usage_row("900000000000000", day=START, record_id="huge"),  # 9e14 x 999,999 = 8.99999e20
        usage_row("5000000000000", day=START, sku=SQL_SKU, product="SQL", record_id="large", hour=2),
    ]
    root = tmp_path / "lakehouse"
    with lakehouse(root) as store:
        put(store, rows, [price_row(sku, str(p), EPOCH, None) for sku, p in big.items()])
        summary = run(store, config(), params("big"))
        assert summary.is_balanced
        assert billed(store) == billed(store, "chargeback_monthly") == expected_cost(rows, big)
        assert expected_cost(rows, big) == Decimal("900011602500000000000")


def _cli_run(root: Path, tmp_path: Path, *extra: str) -> list[str]:
    cfg = tmp_path / "chargeback.yml"
    cfg.write_text(BASE_CONFIG, encoding="utf-8")
    return [
        "run",
        "--lakehouse",
        str(root),
        "--config",
        str(cfg),
        "--start-date",
        str(START),
        "--end-date",
        str(END),
        "--as-of",
        "2026-10-08T06:00:00Z",
        *extra,
    ]


def _with_value(store: LocalLakehouse, record: str, value: Any, dtype: str, column: str = "usage_quantity") -> None:
    usage = store.spark.createDataFrame(week_rows(), USAGE)
    changed = usage.withColumn(
        column, F.when(F.col("record_id") == record, F.lit(value).cast(dtype)).otherwise(F.col(column).cast(dtype))
    )
    put(store, changed)


@pytest.mark.parametrize(
    "change, fragments",
    [
        (lambda s: _with_value(s, "j2026-10-03", float("nan"), "double"), ("j2026-10-03", "NaN")),
        (lambda s: _with_value(s, "j2026-10-03", None, "decimal(38,18)"), ("j2026-10-03", "NULL")),
        (lambda s: _with_value(s, "s2026-10-04", Decimal("1e15"), "decimal(38,18)"), ("s2026-10-04", "1e15")),
        # No day holds it: every count by day passed it over, and the run published without its cost.
        (lambda s: _with_value(s, "j2026-10-03", None, "date", "usage_date"), ("j2026-10-03", "no usage_date")),
        (lambda s: put(s, prices=price_rows({JOBS_SKU: Decimal("1000000"), SQL_SKU: Decimal("1")})), (JOBS_SKU,)),
        (lambda s: put(s, s.spark.createDataFrame(week_rows(), USAGE).drop("cloud")), ("lacks column", "cloud")),
    ],
    ids=["nan", "null", "1e15", "null-usage-date", "price-1e6", "missing-column"],
)
def test_out_of_range_and_broken_source_rows_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Callable[[LocalLakehouse], None], fragments: tuple
) -> None:
    root = published(tmp_path, week_rows())
    with lakehouse(root) as store:
        change(store)
        before = snapshot(store)
    capsys.readouterr()
    status = cli.main(_cli_run(root, tmp_path))
    _, err = capsys.readouterr()
    with lakehouse(root) as store:
        after = snapshot(store)
    assert status != 0
    assert err.startswith("chargeback: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err
    assert after == before


# --- the gate: a step that loses, doubles or blanks money fails the run and publishes nothing -------------------


def _drop_one_line(real: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
    def broken(*args: Any, **kwargs: Any) -> DataFrame:
        lines = real(*args, **kwargs)
        return lines.where(~((F.col("sku_name") == SQL_SKU) & (F.col("usage_date") == F.lit(START))))

    return broken


def _double_one_line(real: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
    def broken(*args: Any, **kwargs: Any) -> DataFrame:
        lines = real(*args, **kwargs)
        return lines.unionByName(lines.where(F.col("usage_date") == F.lit(END)))

    return broken


def _null_one_cost(real: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
    def broken(*args: Any, **kwargs: Any) -> DataFrame:
        lines = real(*args, **kwargs)
        hit = (F.col("sku_name") == JOBS_SKU) & (F.col("usage_date") == F.lit(START))
        return lines.withColumn("effective_cost", F.when(hit, F.lit(None)).otherwise(F.col("effective_cost")))

    return broken


def _unpriced_without_reason(real: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
    def broken(*args: Any, **kwargs: Any) -> DataFrame:
        lines = real(*args, **kwargs)
        hit = F.col("usage_date") == F.lit(START + dt.timedelta(days=3))
        return lines.withColumn("is_priced", F.when(hit, F.lit(False)).otherwise(F.col("is_priced")))

    return broken


@pytest.mark.parametrize(
    "step, breakage",
    [
        ("net_usage", _drop_one_line),
        ("net_usage", _double_one_line),
        ("price_usage", _double_one_line),
        ("apply_discounts_and_fx", _null_one_cost),
        ("price_usage", _unpriced_without_reason),
        ("attribute", _drop_one_line),
        ("allocate", _drop_one_line),
        ("allocate", _double_one_line),
    ],
)
def test_a_step_that_loses_doubles_or_blanks_money_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, breakage: Callable
) -> None:
    root = published(tmp_path, week_rows())
    with lakehouse(root) as store:
        before = snapshot(store)
        monkeypatch.setattr(daily, step, breakage(getattr(daily, step)))
        with pytest.raises(ReconciliationError) as caught:
            run(store, config(), params("broken"))
        monkeypatch.undo()
        gold_after = {k: v for k, v in snapshot(store).items() if k != "usage_costs"}
    assert "\n" not in str(caught.value)
    assert gold_after == {k: v for k, v in before.items() if k != "usage_costs"}


def test_an_unpriced_sku_shrinks_the_bill_only_with_the_flag_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = published(tmp_path, week_rows())
    with lakehouse(root) as store:
        put(store, prices=[price_row(SQL_SKU, "0.7", EPOCH, None)])  # the jobs SKU lost its price
        before = snapshot(store)
    capsys.readouterr()
    status = cli.main(_cli_run(root, tmp_path))
    _, err = capsys.readouterr()
    with lakehouse(root) as store:
        gold_after = {k: v for k, v in snapshot(store).items() if k != "usage_costs"}
    assert status != 0 and err.count("\n") == 1 and "--allow-shrink" in err, err
    assert gold_after == {k: v for k, v in before.items() if k != "usage_costs"}
    status = cli.main(_cli_run(root, tmp_path, "--allow-shrink"))
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "unpriced lines: 7" in out and f"{JOBS_SKU} (" in out and "no list price" in out


def test_a_larger_configured_share_lets_a_run_shrink_without_the_flag(tmp_path: Path) -> None:
    root = published(tmp_path, week_rows())
    lenient = config("max_shrink_percent: 100\n")
    assert lenient.max_shrink_percent == Decimal(100) and config().max_shrink_percent == Decimal(5)
    with lakehouse(root) as store:
        put(store, week_rows(range(6)))
        run(store, lenient, params("lenient"))
        assert billed(store) == expected_cost(week_rows(range(6)))


def test_max_shrink_percent_and_fx_coverage_of_a_window() -> None:
    with pytest.raises(ConfigError, match="max_shrink_percent"):
        config("max_shrink_percent: 150\n")
    rates = config(
        "fx_rates:\n"
        "  - {from_currency: USD, to_currency: EUR, rate: '0.9', valid_from: 2026-10-03, valid_to: 2026-10-05}\n"
        "  - {from_currency: USD, to_currency: EUR, rate: '0.8', valid_from: 2026-10-05}\n"
    )
    euro = dataclasses.replace(rates, currency="EUR")
    assert euro.first_day_without_fx(START, END) == START
    assert euro.first_day_without_fx(dt.date(2026, 10, 3), END) is None
    assert euro.first_day_without_fx(dt.date(2026, 10, 4), dt.date(2026, 10, 4)) is None
    assert rates.first_day_without_fx(START, END) is None  # USD statements from USD prices need no rate
